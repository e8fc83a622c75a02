"""Tables of the submit service, all in its own `submit` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "submit"

metadata = MetaData(schema=SCHEMA)
outbox_table, inbox_table = backbone_tables(metadata)
parked_events_table = parked_table(metadata)

ID = 64

# One row per case: what dispute.received/updated said, the latest evidence.validated report
# (its status and the exact set it checked) and the deadline. `closed` is `accepted` or `closed`.
cases = Table(
    "cases",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("order_id", String(ID), nullable=False),
    Column("amount_value", String(32), nullable=False),
    Column("amount_currency", String(3), nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("language", String(2), nullable=True),
    Column("notified_at", DateTime(timezone=True), nullable=False),
    Column("closed", String(16), nullable=True),
    Column("report_id", Uuid, nullable=True),
    Column("report_status", String(16), nullable=True),
    Column("report_at", DateTime(timezone=True), nullable=True),  # the event's time: only a newer one replaces it
    Column("evidence_set", JSONB, nullable=False, server_default="[]"),
    Column("findings", JSONB, nullable=False, server_default="[]"),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("deadline_event_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("closed IN ('accepted', 'closed')", name="cases_closed_known"),
)
# The open cases by due time: the at-risk gauge's range (services/submit/metrics.py), at every scrape.
Index("cases_due_open", cases.c.due_at, postgresql_where=cases.c.closed.is_(None))

# How a seller submits: `http` (the CEA portal client; `endpoint` and `vendor_id` default to the
# settings' portal and the seller id) or `manual` (upload in WING, record the receipt number).
seller_portals = Table(
    "seller_portals",
    metadata,
    Column("seller_id", String(ID), primary_key=True),
    Column("adapter", String(16), nullable=False),
    Column("endpoint", Text, nullable=True),
    Column("vendor_id", String(ID), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("adapter IN ('http', 'manual')", name="seller_portals_adapter_known"),
)

# One submission per case (the primary key is the dispute id), written BEFORE the portal call with
# the idempotency key the portal honours. `pending`: the http call's outcome is not recorded yet
# (the reconciler completes it); `sent`: manual, the package waits for the seller's WING upload;
# `receipted`: the receipt is stored and case.submitted emitted.
submissions = Table(
    "submissions",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("seller_id", String(ID), nullable=False),
    Column("adapter", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("portal_key", String(80), nullable=False, unique=True),
    Column("report_id", Uuid, nullable=False),
    Column("evidence_set", JSONB, nullable=False),
    Column("package_sha256", String(64), nullable=False),
    Column("package_size", BigInteger, nullable=False),
    Column("manifest", JSONB, nullable=False),
    Column("receipt_id", String(128), nullable=True),
    Column("portal_received_at", DateTime(timezone=True), nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # When the reconciler (pending) or the verdict poller (receipted, no verdict) looks next.
    Column("next_check_at", DateTime(timezone=True), nullable=True),
    Column("checks", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    CheckConstraint("state IN ('pending', 'sent', 'receipted')", name="submissions_state_known"),
    CheckConstraint("adapter IN ('http', 'manual')", name="submissions_adapter_known"),
)
Index("submissions_due", submissions.c.next_check_at, postgresql_where=submissions.c.next_check_at.isnot(None))
Index("submissions_receipt", submissions.c.receipt_id, unique=True)

# One verdict per case, however many callbacks and polls report it.
verdicts = Table(
    "verdicts",
    metadata,
    Column("dispute_id", String(ID), primary_key=True),
    Column("receipt_id", String(128), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("amount_value", String(32), nullable=True),
    Column("amount_currency", String(3), nullable=True),
    Column("policy_clause", Text, nullable=True),
    Column("summary_zh", Text, nullable=False),
    Column("suggestions", JSONB, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("source", String(16), nullable=False),  # callback | poll
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# The submit route's Idempotency-Key: per caller (`scope`: the seller id, or "operator"), the
# request's hash and, once known, the answer given.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(ID), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("dispute_id", String(ID), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("answer", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("scope", "key"),
)

# The per-seller token bucket of portal calls, shared by every replica (one UPDATE per call).
portal_buckets = Table(
    "portal_buckets",
    metadata,
    Column("seller_id", String(ID), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
