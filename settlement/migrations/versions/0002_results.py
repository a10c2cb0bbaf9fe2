"""The result tables of the contract (CONTRACT.md "Outputs of a run"), one per table.

Each has ``run_id`` (→ runs), the contract columns (money as BigInteger fen), an optional
``explanation`` and ``row_no`` (position in the result frame). The primary key is (run_id, the
contract key).
The column list below is frozen as of this revision; later changes arrive as new revisions.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TYPES = {"money": sa.BigInteger, "int": sa.BigInteger, "float": sa.Float, "text": sa.Text,
         "bool": lambda: sa.Boolean(create_constraint=False)}

TABLES = {  # name: (key, "column:kind …")
    "dip_cases": (("case_id",),
                  "case_id:text unit_id:text community_id:text dip_group:text ratio:float "
                  "case_class:text base_score:float coefficient:float points:float "
                  "gross_value:money fund_due:money"),
    "dip_units": (("unit_id",),
                  "unit_id:text cases:int points:float point_value:text gross_value:money "
                  "self_pay:money violation_deduction:money fund_due:money withheld:money "
                  "returned:money fund_paid:money prepaid:money balance:money"),
    "community_settlement": (("community_id",),
                             "community_id:text financing:money available:money reserve:money "
                             "package:money expenditure_dip:money expenditure_external:money "
                             "expenditure_outpatient:money expenditure_other:money expenditure:money "
                             "balance:money surplus_retained:money surplus_returned:money "
                             "overrun_fund_share:money overrun_community_share:money "
                             "community_score:float community_coefficient:float"),
    "unit_distribution": (("unit_id",),
                          "unit_id:text community_id:text tier:text weight:float "
                          "performance_coefficient:float surplus_share:money overrun_share:money"),
    "chronic_settlement": (("community_id",),
                           "community_id:text enrollees:int person_months:float budget:money "
                           "spend:money balance:money retained:money fund_share:money "
                           "community_share:money"),
    "public_health_allocation": (("pool", "unit_id"),
                                 "pool:text unit_id:text tier:text work_points:float "
                                 "quality_coefficient:float weight:float allocation:money "
                                 "prepaid:money balance:money"),
    "indicators": (("scope", "indicator"),
                   "scope:text indicator:text label_zh:text numerator:float denominator:float "
                   "value:float target:float met:bool"),
    "unit_statement": (("unit_id", "line"),
                       "unit_id:text line:text label_zh:text amount:money"),
    "ledger": (("community_id", "line"),
               "community_id:text line:text label_zh:text amount:money"),
}


def upgrade() -> None:
    for name, (key, spec) in TABLES.items():
        columns = [item.split(":") for item in spec.split()] + [["explanation", "text"]]
        op.create_table(
            name,
            sa.Column("run_id", sa.String(64), nullable=False),
            *[sa.Column(col, sa.String(200) if col in key else TYPES[kind](), nullable=col not in key)
              for col, kind in columns],
            sa.Column("row_no", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("run_id", *key, name=op.f(f"pk_{name}")),
            sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=op.f(f"fk_{name}_run_id_runs")),
        )


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
