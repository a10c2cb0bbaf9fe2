"""The run record: ``runs`` and the input-file fingerprints ``run_inputs``.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("county", sa.Text, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("scenario", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("config_path", sa.Text),
        sa.Column("config_sha256", sa.String(64)),
        sa.Column("data_dir", sa.Text),
        sa.Column("code_version", sa.Text),
        sa.Column("timings", sa.JSON),
        sa.Column("input_rows", sa.JSON),
        sa.Column("result_rows", sa.JSON),
        sa.Column("result_columns", sa.JSON),
        sa.Column("supersedes", sa.String(64)),
        sa.Column("superseded_by", sa.String(64)),
        sa.Column("closed", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
        sa.ForeignKeyConstraint(["supersedes"], ["runs.run_id"], name=op.f("fk_runs_supersedes_runs")),
        sa.ForeignKeyConstraint(["superseded_by"], ["runs.run_id"],
                                name=op.f("fk_runs_superseded_by_runs")),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_runs_status")),
    )
    op.create_index(op.f("ix_runs_county_year_scenario"), "runs", ["county", "year", "scenario"])
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "file", name=op.f("pk_run_inputs")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=op.f("fk_run_inputs_run_id_runs")),
    )


def downgrade() -> None:
    op.drop_table("run_inputs")
    op.drop_index(op.f("ix_runs_county_year_scenario"), table_name="runs")
    op.drop_table("runs")
