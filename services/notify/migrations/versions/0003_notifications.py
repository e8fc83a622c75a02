"""Preferences, case facts, notifications (one per event and channel), their attempts, digest items.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The tables as they are at this revision (a copy, not an import of models.py).
metadata = MetaData(schema="notify")
ID = 64

Table(
    "preferences",
    metadata,
    Column("seller_id", String(ID), primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

Table(
    "cases",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("order_id", String(ID), nullable=True),
    Column("amount_value", String(32), nullable=True),
    Column("amount_currency", String(3), nullable=True),
    Column("reason_code", String(64), nullable=True),
    Column("reason_text", Text, nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("received", Boolean, nullable=False, server_default=text("false")),  # dispute.received seen
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),  # the webhook-id of every attempt
    Column("event_id", UUID(as_uuid=True), nullable=False),  # the event's id, or the digest's own
    Column("channel_key", String(600), nullable=False),  # which of the seller's channels (type + target)
    Column("channel_type", String(16), nullable=False),
    Column("seller_id", String(ID), nullable=False),
    Column("dispute_id", String(ID), nullable=True),  # null for a digest
    Column("event_type", String(32), nullable=False),  # the event's type, `digest` or `channel.disabled`
    Column("occurred_at", DateTime(timezone=True), nullable=False),  # the event's time
    Column("data", JSONB, nullable=False),  # the event's data (a digest: its day)
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("awaiting_deadline", Boolean, nullable=False, server_default=text("false")),
    Column("lease_id", UUID(as_uuid=True), nullable=True),  # the dispatcher claim holding it
    Column("attempts", Integer, nullable=False, server_default="0"),
    # attempts since the schedule last started (a manual retry starts it again); `attempts` counts all
    Column("round_attempts", Integer, nullable=False, server_default="0"),
    Column("first_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", "channel_key", name="uq_notifications_event_channel"),
    CheckConstraint("status IN ('pending','retrying','delivered','dead','disabled')", name="notification_status"),
    Index("ix_notifications_due", "due_at", postgresql_where=text("status IN ('pending','retrying')")),
    Index("ix_notifications_seller_created", "seller_id", "created_at", "id"),
    Index("ix_notifications_dispute", "dispute_id", postgresql_where=text("awaiting_deadline")),
)

Table(
    "attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("notification_id", UUID(as_uuid=True), ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("error", Text, nullable=True),
    Column("outcome", String(16), nullable=False),  # delivered | retry | gone | dead
    Index("ix_attempts_notification", "notification_id", "attempt"),
)

Table(
    "digest_items",
    metadata,
    Column("seller_id", String(ID), nullable=False),
    Column("day", Date, nullable=False),  # in the seller's zone
    Column("dispute_id", String(ID), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("seller_id", "day", "dispute_id"),
)


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
