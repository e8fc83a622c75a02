"""Fee plans of sellers and the month's exchange rates, both set by operators.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sellers", sa.Column("plan", JSONB, nullable=True), schema="ingest")
    op.create_table(
        "exchange_rates",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("plan_currency", sa.String(3), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("rate", sa.Numeric(24, 10), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("month", "plan_currency", "currency"),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("exchange_rates", schema="ingest")
    op.drop_column("sellers", "plan", schema="ingest")
