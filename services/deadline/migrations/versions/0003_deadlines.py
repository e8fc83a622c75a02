"""Deadlines, their reminders, and the operators' calendar overrides.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
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

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The tables as they are at this revision (a copy, not an import of models.py).
metadata = MetaData(schema="deadline")
ID = 64

Table(
    "deadlines",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("notified_at", DateTime(timezone=True), nullable=False),
    Column("respond_by", Text, nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("rule", String(16), nullable=False),
    Column("business_days", Integer, nullable=False),
    Column("skipped", JSONB, nullable=False, server_default="[]"),
    Column("state", String(16), nullable=False, server_default="open"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("missed_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN ('open','missed','submitted','accepted','closed','decided')", name="deadline_state"),
    Index("ix_deadlines_open_due", "due_at", postgresql_where=text("state = 'open'")),
    Index("ix_deadlines_seller_due", "seller_id", "due_at"),
)
Table(
    "reminders",
    metadata,
    Column("dispute_id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("offset_minutes", Integer, nullable=False),
    Column("fire_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("dispute_id", "version", "offset_minutes"),
    CheckConstraint("state IN ('pending','fired','cancelled','skipped')", name="reminder_state"),
    Index("ix_reminders_pending_fire_at", "fire_at", postgresql_where=text("state = 'pending'")),
)
Table(
    "calendar_overrides",
    metadata,
    Column("day", Date, primary_key=True),
    Column("state", String(8), nullable=False),
    Column("name_ko", Text, nullable=False, server_default=""),
    Column("name_zh", Text, nullable=False, server_default=""),
    Column("note", Text, nullable=False, server_default=""),
    Column("updated_by", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN ('closed','open')", name="override_state"),
)
Table(
    "calendar_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)


def upgrade() -> None:
    metadata.create_all(op.get_bind())
    op.execute("INSERT INTO deadline.calendar_generation (id, generation) VALUES (1, 0)")


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
