"""Indicators by period and the public-health quarterly plan are stored (issue 10 §5–6).

- ``indicators.period`` (``YYYY`` of a year run, ``YYYY-MM`` of a month run, ``YYYYQn`` for a
  quarter): part of the key, now (run_id, scope, period, indicator). Rows stored before this
  revision are a year run's: they get their run's year (``runs.year``).
- ``public_health_plan``: per run, pool, unit and quarter — pool, community_id, unit_id, tier,
  quarter (``YYYYQn``; '' for a prepayment that names no quarter), quarter_pool, planned,
  prepaid, difference (BigInteger fen), basis, explanation, row_no; primary key
  (run_id, pool, unit_id, quarter).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDICATOR_KEY = ("scope", "indicator")
PLAN_KEY = ("pool", "unit_id", "quarter")
PLAN_COLUMNS = (  # (name, type) in table order, frozen as of this revision
    ("pool", sa.Text), ("community_id", sa.Text), ("unit_id", sa.Text), ("tier", sa.Text),
    ("quarter", sa.Text), ("quarter_pool", sa.BigInteger), ("planned", sa.BigInteger),
    ("prepaid", sa.BigInteger), ("difference", sa.BigInteger), ("basis", sa.Text),
    ("explanation", sa.Text),
)
BACKFILL = ("UPDATE indicators SET period = (SELECT CAST(runs.year AS VARCHAR(200)) FROM runs "
            "WHERE runs.run_id = indicators.run_id)")


def _indicators_key(*key: str) -> None:
    # indicators is referenced by no table: SQLite may copy it (batch), PostgreSQL alters it
    with op.batch_alter_table("indicators") as batch:
        batch.drop_constraint("pk_indicators", type_="primary")
        batch.create_primary_key("pk_indicators", ["run_id", *key])


def upgrade() -> None:
    op.add_column("indicators", sa.Column("period", sa.String(200), nullable=True))
    op.execute(BACKFILL)
    with op.batch_alter_table("indicators") as batch:
        batch.alter_column("period", existing_type=sa.String(200), nullable=False)
    _indicators_key("scope", "period", "indicator")
    op.create_table(
        "public_health_plan",
        sa.Column("run_id", sa.String(64), nullable=False),
        *[sa.Column(name, sa.String(200) if name in PLAN_KEY else kind(), nullable=name not in PLAN_KEY)
          for name, kind in PLAN_COLUMNS],
        sa.Column("row_no", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", *PLAN_KEY, name=op.f("pk_public_health_plan")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"],
                                name=op.f("fk_public_health_plan_run_id_runs")),
    )


def downgrade() -> None:
    op.drop_table("public_health_plan")
    # the older key cannot hold two periods of one (scope, indicator): keep each run's year
    op.execute("DELETE FROM indicators WHERE period <> (SELECT CAST(runs.year AS VARCHAR(200)) "
               "FROM runs WHERE runs.run_id = indicators.run_id)")
    _indicators_key(*INDICATOR_KEY)
    with op.batch_alter_table("indicators") as batch:
        batch.drop_column("period")
