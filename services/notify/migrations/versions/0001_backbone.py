"""The outbox and inbox of the notify service.

Revision ID: 0001
Revises:
"""

from shared.db.migrations import create_backbone_tables, drop_backbone_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_backbone_tables("notify")


def downgrade() -> None:
    drop_backbone_tables("notify")
