"""The carrier a case's tracking evidence names, for the stats by carrier.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("carrier", sa.String(32), nullable=True), schema="ingest")


def downgrade() -> None:
    op.drop_column("cases", "carrier", schema="ingest")
