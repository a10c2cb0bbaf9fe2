"""Parts add up to the whole they are shown with (issue 9 item 5): the missing parts are stored.

- ``community_settlement.expenditure_dip_rounding``: the member units' DIP settlement (rounded
  once per unit) minus the Σ of their cases (rounded one by one), so that
  expenditure_dip + expenditure_dip_rounding + expenditure_external + expenditure_outpatient
  + expenditure_other == expenditure on every row;
- ``chronic_settlement.surplus_returned`` (balance = retained + surplus_returned − fund_share −
  community_share) and ``spend_dip`` / ``spend_external`` / ``spend_outpatient`` (Σ == spend);
- ``dip_units.at_cost`` (unmatched cases paid at cost: gross_value + at_cost − self_pay −
  violation_deduction == fund_due).

Money columns are BigInteger fen, nullable (runs stored before this revision have no value).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = {
    "community_settlement": ("expenditure_dip_rounding",),
    "chronic_settlement": ("surplus_returned", "spend_dip", "spend_external", "spend_outpatient"),
    "dip_units": ("at_cost",),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(sa.Column(column, sa.BigInteger, nullable=True))


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in reversed(columns):
                batch.drop_column(column)
