"""The parked-events table of the notify service: events that arrived before their dispute's earlier fact.

Revision ID: 0002
Revises: 0001
"""

from shared.db.migrations import create_parked_table, drop_parked_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_parked_table("notify")


def downgrade() -> None:
    drop_parked_table("notify")
