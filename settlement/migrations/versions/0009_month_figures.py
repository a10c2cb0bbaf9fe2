"""Month figures (issue 10): each month run keeps its own month of the bulletin's scans.

- ``month_figures``: per month run — figure (``month``: one marker row; ``counts``, ``lines``,
  ``flows``, ``dip``), row_no (primary key with run_id and figure), month (``YYYY-MM``), basis
  (SHA-256 of the code, config, small tables and scan engine the figures were made from), key1,
  key2 (text), v1 … v16 (BigInteger: counts and fen in the figure's field order,
  settlement/monthly/month_figures.FIGURES), exact (Text: an exact point sum ``n/d``).
  A later month run of the same county-year takes the months recorded on the same basis from
  here instead of reading their rows again (settlement/monthly/month_figures.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VALUES = 16  # v1 … v16, frozen as of this revision


def upgrade() -> None:
    op.create_table(
        "month_figures",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("figure", sa.String(16), nullable=False),
        sa.Column("row_no", sa.Integer, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("basis", sa.String(64), nullable=False),
        sa.Column("key1", sa.Text, nullable=True),
        sa.Column("key2", sa.Text, nullable=True),
        *[sa.Column(f"v{i}", sa.BigInteger, nullable=True) for i in range(1, VALUES + 1)],
        sa.Column("exact", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "figure", "row_no", name=op.f("pk_month_figures")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=op.f("fk_month_figures_run_id_runs")),
    )


def downgrade() -> None:
    op.drop_table("month_figures")
