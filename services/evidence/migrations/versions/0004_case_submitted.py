"""When the case was submitted (from `case.submitted`): no deletes after it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True), schema="evidence")


def downgrade() -> None:
    op.drop_column("cases", "submitted_at", schema="evidence")
