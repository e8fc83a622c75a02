"""Tables of the deadline service, all in its own `deadline` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "deadline"

metadata = MetaData(schema=SCHEMA)
outbox_table, inbox_table = backbone_tables(metadata)
parked_events_table = parked_table(metadata)

ID = 64

# Deadline states: `open` (reminders and the missed alert ahead), `missed` (its due_at passed while
# open: `deadline.alerted` missed was emitted), and the ends `submitted`, `accepted`, `closed`, `decided`.
DEADLINE_STATES = ("open", "missed", "submitted", "accepted", "closed", "decided")
REMINDER_STATES = ("pending", "fired", "cancelled", "skipped")

# One row per dispute. `version` grows with every reschedule; the reminders of older versions
# are cancelled, so a reschedule supersedes what was pending.
deadlines = Table(
    "deadlines",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("notified_at", DateTime(timezone=True), nullable=False),
    Column("respond_by", Text, nullable=True),  # as the notice gave it (a date or a datetime), ISO
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("rule", String(16), nullable=False),  # computed | explicit
    Column("business_days", Integer, nullable=False),
    Column("skipped", JSONB, nullable=False, server_default="[]"),  # [{date, reason, names_ko, names_zh, note}]
    Column("state", String(16), nullable=False, server_default="open"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("missed_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN ('open','missed','submitted','accepted','closed','decided')", name="deadline_state"),
    Index("ix_deadlines_open_due", "due_at", postgresql_where=text("state = 'open'")),
    Index("ix_deadlines_seller_due", "seller_id", "due_at"),
)

reminders = Table(
    "reminders",
    metadata,
    Column("dispute_id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),  # the deadline version it was scheduled for
    Column("offset_minutes", Integer, nullable=False),
    Column("fire_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("dispute_id", "version", "offset_minutes"),
    CheckConstraint("state IN ('pending','fired','cancelled','skipped')", name="reminder_state"),
    Index("ix_reminders_pending_fire_at", "fire_at", postgresql_where=text("state = 'pending'")),
)

# Operators' corrections of the KR calendar: a date closed (a late temporary holiday) or opened.
calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    Column("day", Date, primary_key=True),
    Column("state", String(8), nullable=False),  # closed | open
    Column("name_ko", Text, nullable=False, server_default=""),
    Column("name_zh", Text, nullable=False, server_default=""),
    Column("note", Text, nullable=False, server_default=""),
    Column("updated_by", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN ('closed','open')", name="override_state"),
)

# One row: bumped by every change of the overrides, so each process knows when to reload them.
calendar_generation = Table(
    "calendar_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)
