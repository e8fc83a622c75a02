"""An index on the open cases' due time: the at-risk gauge counts the cases due within hours at every scrape.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("cases_due_open", "cases", ["due_at"], schema="submit", postgresql_where="closed IS NULL")


def downgrade() -> None:
    op.drop_index("cases_due_open", table_name="cases", schema="submit")
