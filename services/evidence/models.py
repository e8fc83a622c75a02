"""Tables of the evidence service, all in its own `evidence` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "evidence"

metadata = MetaData(schema=SCHEMA)
outbox_table, inbox_table = backbone_tables(metadata)
parked_events_table = parked_table(metadata)

ID = 64  # longest dispute, seller or order id we keep

# What the checker needs of a dispute, from `dispute.received` (and its deadline from `deadline.scheduled`).
# The row is also the lock that keeps one dispute's events in order: uploads, deletes and runs take it
# FOR UPDATE before they write their event to the outbox.
cases = Table(
    "cases",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("order_id", String(ID), nullable=False),
    Column("amount_value", Numeric(19, 4), nullable=False),
    Column("amount_currency", String(3), nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("notified_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("deadline_event_at", DateTime(timezone=True), nullable=True),  # time of the deadline event kept
    # When the debounced check of this case is due (NULL: nothing to check); set by uploads and deletes.
    Column("check_due_at", DateTime(timezone=True), nullable=True),
    # The first change not yet checked: caps the debounce, so a seller who keeps uploading still gets runs.
    Column("check_pending_since", DateTime(timezone=True), nullable=True),
    # Bumped by every upload and delete: the evidence set's version (reports pin the set itself).
    Column("set_version", BigInteger, nullable=False, server_default="0"),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # From `case.submitted`: after it, an item can no longer be deleted (SPEC section 5).
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    # The seller's default language when the dispute arrived (`dispute.received`): zh | ko | en.
    Column("language", String(2), nullable=True),
    # From `dispute.updated` of change `accepted` | `closed`: no uploads or deletes after it.
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("closed_as", String(16), nullable=True),
    # Bumped by every amended amount, reason code or order id (`dispute.updated`); reports pin it.
    Column("facts_version", BigInteger, nullable=False, server_default="0"),
    Index("ix_cases_check_due", "check_due_at", postgresql_where=text("check_due_at IS NOT NULL")),
    Index("ix_cases_seller_received", "seller_id", "received_at"),
)

# One uploaded item: its declared meta, the provenance of its file and the facts extracted from it once.
evidence_items = Table(
    "evidence_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("dispute_id", String(ID), ForeignKey("cases.dispute_id"), nullable=False),
    Column("seller_id", String(ID), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("source", String(ID), nullable=True),  # declared source (meta `source`)
    Column("meta", JSONB, nullable=False),
    Column("sha256", String(64), nullable=True),  # NULL: a structured item without a file
    Column("size", BigInteger, nullable=True),
    Column("media_type", String(100), nullable=True),  # sniffed, never the declared one
    Column("filename", Text, nullable=True),  # sanitised
    Column("uploader", String(100), nullable=False),  # seller:<id> | operator
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
    Column("captured_at", DateTime(timezone=True), nullable=True),  # meta captured_at, else an EXIF time with offset
    Column("facts", JSONB, nullable=True),  # ExtractedFacts of the file
    Column("deleted_at", DateTime(timezone=True), nullable=True),  # soft delete: provenance and bytes stay
    Column("deleted_by", String(100), nullable=True),
    Index("ix_evidence_items_dispute", "dispute_id", "uploaded_at", "id"),
)

# One checker run, pinned to the exact evidence set it read (ids + sha256).
reports = Table(
    "reports",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("dispute_id", String(ID), ForeignKey("cases.dispute_id"), nullable=False),
    Column("set_version", BigInteger, nullable=False),
    Column("evidence_set", JSONB, nullable=False),  # [{evidence_id, kind, sha256}]
    Column("ruleset_version", String(100), nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # ready | needs_fix
    Column("findings", JSONB, nullable=False),  # [{rule, severity, evidence_id, fields, params}]
    Column("legal_basis", JSONB, nullable=False, server_default="[]"),
    Column("trigger", String(16), nullable=False),  # debounce | request
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("facts_version", BigInteger, nullable=False, server_default="0"),  # the case facts it read
    Index("ix_reports_dispute", "dispute_id", "checked_at"),
)

# Carrier + tracking number of every live tracking item, per seller: finds a number backing two orders.
tracking_index = Table(
    "tracking_index",
    metadata,
    Column("evidence_id", Uuid, ForeignKey("evidence_items.id"), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("carrier_key", String(100), nullable=False),  # canonical carrier id (tracking_key)
    Column("number_key", String(100), nullable=False),  # number without spaces and dashes
    Column("carrier", Text, nullable=False),  # as the seller wrote them
    Column("tracking_number", Text, nullable=False),
    Column("dispute_id", String(ID), nullable=False),
    Column("order_id", String(ID), nullable=False),
    Index("ix_tracking_index_seller_number", "seller_id", "number_key"),
)

__all__ = [
    "SCHEMA",
    "cases",
    "evidence_items",
    "inbox_table",
    "metadata",
    "outbox_table",
    "parked_events_table",
    "reports",
    "tracking_index",
]
