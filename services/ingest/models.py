"""Tables of the ingest service, all in its own `ingest` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "ingest"

metadata = MetaData(schema=SCHEMA)
outbox_table, inbox_table = backbone_tables(metadata)
parked_events_table = parked_table(metadata)

ID = 64  # longest dispute, seller, notice, order or buyer id we keep

sellers = Table(
    "sellers",
    metadata,
    Column("seller_id", String(ID), primary_key=True),  # the Coupang vendor id
    Column("name", Text, nullable=False),
    Column("contact", Text, nullable=False),
    Column("rules", JSONB, nullable=False, server_default="{}"),
    Column("plan", JSONB, nullable=True),  # the fee plan, set by operators (0004)
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The month's exchange rates (operator-set): one unit of `currency` is `rate` of `plan_currency`.
exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("month", String(7), nullable=False),
    Column("plan_currency", String(3), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("rate", Numeric(24, 10), nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("month", "plan_currency", "currency"),
)

# Webhook secrets, encrypted (Fernet) with the service's key: a dump alone cannot forge signatures.
# `expires_at` is NULL for the current secret and set at rotation for the previous one.
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("seller_id", String(ID), ForeignKey("sellers.seller_id"), nullable=False),
    Column("secret_encrypted", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhook_secrets_seller", "seller_id", "id"),
)

# One row per accepted `webhook-id` of a seller: a repeat is acknowledged with the first answer.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("seller_id", String(ID), nullable=False),
    Column("webhook_id", String(256), nullable=False),
    Column("notice_id", String(ID), nullable=True),
    Column("answer", JSONB, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("seller_id", "webhook_id"),
)

# The case read model: one row per dispute, kept by ingest's own writes and every consumed topic.
cases = Table(
    "cases",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("notice_id", String(ID), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("order_id", String(ID), nullable=False),
    Column("amount_value", Numeric(19, 4), nullable=False),
    Column("amount_currency", String(3), nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("raw_reason_code", String(32), nullable=True),
    Column("reason_text", Text, nullable=True),
    Column("buyer_id", String(ID), nullable=True),
    Column("notified_at", DateTime(timezone=True), nullable=False),
    Column("respond_by", String(40), nullable=True),  # ISO date or datetime, as the notice gave it
    Column("source", String(16), nullable=False),  # webhook | import | event
    Column("status", String(32), nullable=False),
    Column("status_changed_at", DateTime(timezone=True), nullable=False),
    # Ordering of the dashboard: open cases first (0), then by deadline (9999-12-31 when unknown).
    Column("urgency", SmallInteger, nullable=False),
    Column("due_key", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("business_days", Integer, nullable=True),
    Column("deadline_rule", String(16), nullable=True),
    Column("deadline_event_at", DateTime(timezone=True), nullable=True),
    Column("report", JSONB, nullable=True),  # latest diagnostic summary
    Column("report_at", DateTime(timezone=True), nullable=True),
    Column("receipt_id", String(128), nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("verdict", JSONB, nullable=True),
    Column("flagged", Boolean, nullable=False, server_default="false"),
    Column("carrier", String(32), nullable=True),  # from the latest evidence.uploaded naming one
    # {evidence_id: carrier} of the case's tracking items still there: the fee statement's per-case logistics.
    Column("tracking_carriers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_cases_seller_urgency", "seller_id", "urgency", "due_key", "dispute_id"),
    Index("ix_cases_urgency", "urgency", "due_key", "dispute_id"),
    Index("ix_cases_seller_buyer", "seller_id", "buyer_id"),
)

# Every event that touched a case, applied or stale; `event_id` makes a redelivery a no-op.
case_events = Table(
    "case_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("dispute_id", String(ID), nullable=False),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("status_before", String(32), nullable=True),
    Column("status_after", String(32), nullable=True),
    Column("applied", Boolean, nullable=False),  # False: stale, kept in the timeline only
    Column("summary", JSONB, nullable=False, server_default="{}"),
    Index("ix_case_events_dispute", "dispute_id", "id"),
)

__all__ = [
    "SCHEMA",
    "case_events",
    "cases",
    "exchange_rates",
    "inbox_table",
    "metadata",
    "outbox_table",
    "parked_events_table",
    "sellers",
    "webhook_receipts",
]
