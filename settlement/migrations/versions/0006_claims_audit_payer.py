"""The claims audit is stored, and each statement line's payer (issue 11).

- ``claims_audit`` (医保差别化报销审核): one row per flagged claim and rule, as
  ``results/claims_audit.csv`` — claim_id, unit_id, community_id, rule, rule_zh, the applied
  and expected ratio and deductible, fund_paid, expected_fund_paid, difference (positive: the
  fund paid too much), claim_kind (``inpatient`` / ``outpatient``) and policy_cost; money as
  BigInteger fen, ratios as Float, ``explanation`` and ``row_no`` as in every result table.
  The primary key is (run_id, claim_id, rule, claim_kind): inpatient case ids and outpatient
  claim ids are separate id spaces.
- ``unit_statement.payer`` (付款方: ``fund`` 医保基金, ``community`` 医共体,
  ``health_commission`` 卫健委公卫资金; empty on the ``net`` line), nullable: runs stored
  before this revision have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY = ("claim_id", "rule", "claim_kind")
COLUMNS = (  # (name, type) in table order, frozen as of this revision
    ("claim_id", sa.Text), ("unit_id", sa.Text), ("community_id", sa.Text), ("rule", sa.Text),
    ("rule_zh", sa.Text), ("applied_ratio", sa.Float), ("expected_ratio", sa.Float),
    ("applied_deductible", sa.BigInteger), ("expected_deductible", sa.BigInteger),
    ("fund_paid", sa.BigInteger), ("expected_fund_paid", sa.BigInteger),
    ("difference", sa.BigInteger), ("claim_kind", sa.Text), ("policy_cost", sa.BigInteger),
    ("explanation", sa.Text),
)


def upgrade() -> None:
    op.create_table(
        "claims_audit",
        sa.Column("run_id", sa.String(64), nullable=False),
        *[sa.Column(name, sa.String(200) if name in KEY else kind(), nullable=name not in KEY)
          for name, kind in COLUMNS],
        sa.Column("row_no", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", *KEY, name=op.f("pk_claims_audit")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=op.f("fk_claims_audit_run_id_runs")),
    )
    with op.batch_alter_table("unit_statement") as batch:
        batch.add_column(sa.Column("payer", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unit_statement") as batch:
        batch.drop_column("payer")
    op.drop_table("claims_audit")
