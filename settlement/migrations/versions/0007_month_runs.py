"""Month runs (issue 10): the monthly DIP pre-settlement is a run like any other.

- ``runs.kind`` (``year`` — the year-end settlement, the default for every earlier run — or
  ``month``, a monthly DIP pre-settlement 月度预结算) and ``runs.month`` (``YYYY-MM`` of a
  month run, empty for year runs). Period closing does not apply to month runs.
- ``dip_presettlement``: per month run and unit — unit_id, month, points, budget_point_value
  (exact Decimal text), amount, withheld, paid, paid_to_date (BigInteger fen), explanation,
  row_no; primary key (run_id, unit_id, month).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY = ("unit_id", "month")
COLUMNS = (  # (name, type) in table order, frozen as of this revision
    ("unit_id", sa.Text), ("month", sa.Text), ("points", sa.Float),
    ("budget_point_value", sa.Text), ("amount", sa.BigInteger), ("withheld", sa.BigInteger),
    ("paid", sa.BigInteger), ("paid_to_date", sa.BigInteger), ("explanation", sa.Text),
)


def upgrade() -> None:
    # in place, no batch copy: runs is referenced by every result table (as in revision 0003)
    op.add_column("runs", sa.Column("kind", sa.String(16), nullable=False, server_default="year"))
    op.add_column("runs", sa.Column("month", sa.String(7), nullable=True))
    op.create_table(
        "dip_presettlement",
        sa.Column("run_id", sa.String(64), nullable=False),
        *[sa.Column(name, sa.String(200) if name in KEY else kind(), nullable=name not in KEY)
          for name, kind in COLUMNS],
        sa.Column("row_no", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", *KEY, name=op.f("pk_dip_presettlement")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"],
                                name=op.f("fk_dip_presettlement_run_id_runs")),
    )


def downgrade() -> None:
    op.drop_table("dip_presettlement")
    for column in ("month", "kind"):
        op.drop_column("runs", column)  # SQLite ≥ 3.35 drops a column in place
