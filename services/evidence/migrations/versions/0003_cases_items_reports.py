"""Cases (what the checker needs of a dispute), evidence items, reports and the tracking index.

Revision ID: 0003
Revises: 0002
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "evidence"
ID = 64


def _at(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("dispute_id", sa.String(ID), primary_key=True),
        sa.Column("seller_id", sa.String(ID), nullable=False),
        sa.Column("order_id", sa.String(ID), nullable=False),
        sa.Column("amount_value", sa.Numeric(19, 4), nullable=False),
        sa.Column("amount_currency", sa.String(3), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        _at("notified_at", nullable=False),
        _at("due_at"),
        _at("deadline_event_at"),
        _at("check_due_at"),
        _at("check_pending_since"),
        sa.Column("set_version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_index(
        "ix_cases_check_due", "cases", ["check_due_at"], schema=S, postgresql_where=sa.text("check_due_at IS NOT NULL")
    )
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("dispute_id", sa.String(ID), sa.ForeignKey(f"{S}.cases.dispute_id"), nullable=False),
        sa.Column("seller_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(ID), nullable=True),
        sa.Column("meta", JSONB, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("media_type", sa.String(100), nullable=True),
        sa.Column("filename", sa.Text, nullable=True),
        sa.Column("uploader", sa.String(100), nullable=False),
        _at("uploaded_at", nullable=False),
        _at("captured_at"),
        sa.Column("facts", JSONB, nullable=True),
        _at("deleted_at"),
        sa.Column("deleted_by", sa.String(100), nullable=True),
        schema=S,
    )
    op.create_index("ix_evidence_items_dispute", "evidence_items", ["dispute_id", "uploaded_at", "id"], schema=S)
    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("dispute_id", sa.String(ID), sa.ForeignKey(f"{S}.cases.dispute_id"), nullable=False),
        sa.Column("set_version", sa.BigInteger, nullable=False),
        sa.Column("evidence_set", JSONB, nullable=False),
        sa.Column("ruleset_version", sa.String(100), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("findings", JSONB, nullable=False),
        sa.Column("legal_basis", JSONB, nullable=False, server_default="[]"),
        sa.Column("trigger", sa.String(16), nullable=False),
        _at("checked_at", nullable=False),
        schema=S,
    )
    op.create_index("ix_reports_dispute", "reports", ["dispute_id", "checked_at"], schema=S)
    op.create_table(
        "tracking_index",
        sa.Column("evidence_id", sa.Uuid, sa.ForeignKey(f"{S}.evidence_items.id"), primary_key=True),
        sa.Column("seller_id", sa.String(ID), nullable=False),
        sa.Column("carrier_key", sa.String(100), nullable=False),
        sa.Column("number_key", sa.String(100), nullable=False),
        sa.Column("carrier", sa.Text, nullable=False),
        sa.Column("tracking_number", sa.Text, nullable=False),
        sa.Column("dispute_id", sa.String(ID), nullable=False),
        sa.Column("order_id", sa.String(ID), nullable=False),
        schema=S,
    )
    op.create_index("ix_tracking_index_seller_number", "tracking_index", ["seller_id", "number_key"], schema=S)


def downgrade() -> None:
    op.drop_table("tracking_index", schema=S)
    op.drop_table("reports", schema=S)
    op.drop_table("evidence_items", schema=S)
    op.drop_table("cases", schema=S)
