"""The carrier of each tracking item of a case (evidence id -> carrier id), for the fee statement's
per-case logistics: a deleted item's carrier no longer counts.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cases",
        sa.Column("tracking_carriers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema="ingest",
    )
    # Only the latest carrier was kept so far, without its item: it stays known under a placeholder key.
    op.execute(
        "UPDATE ingest.cases SET tracking_carriers = jsonb_build_object('before-0006', carrier) "
        "WHERE carrier IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("cases", "tracking_carriers", schema="ingest")
