"""What `dispute.updated` and the seller's language add to a case (issue 15).

- `cases.language`: the seller's default language carried by `dispute.received` (zh | ko | en),
  the default `lang` of that case's report and check, and (the latest one) of the seller's templates;
- `cases.closed_at`, `cases.closed_as`: a `dispute.updated` of change `accepted` or `closed`;
  after it the case takes no more uploads or deletes;
- `cases.facts_version` and `reports.facts_version`: bumped by every amended amount, reason code
  or order id, pinned by each report, so a report checked against older facts reads as stale.

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
    op.add_column("cases", sa.Column("language", sa.String(2), nullable=True), schema="evidence")
    op.add_column("cases", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True), schema="evidence")
    op.add_column("cases", sa.Column("closed_as", sa.String(16), nullable=True), schema="evidence")
    op.add_column(
        "cases", sa.Column("facts_version", sa.BigInteger, nullable=False, server_default="0"), schema="evidence"
    )
    op.add_column(
        "reports", sa.Column("facts_version", sa.BigInteger, nullable=False, server_default="0"), schema="evidence"
    )
    op.create_index("ix_cases_seller_received", "cases", ["seller_id", "received_at"], schema="evidence")


def downgrade() -> None:
    op.drop_index("ix_cases_seller_received", table_name="cases", schema="evidence")
    op.drop_column("reports", "facts_version", schema="evidence")
    for column in ("facts_version", "closed_as", "closed_at", "language"):
        op.drop_column("cases", column, schema="evidence")
