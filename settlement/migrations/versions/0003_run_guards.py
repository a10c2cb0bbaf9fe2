"""Run guards: the owner of a run (dead runs are found) and one closed run per county-year.

- ``runs`` gains ``owner_host``, ``owner_pid``, ``owner_started_at`` (the owner process's start
  time: a reused pid is not mistaken for the owner), ``heartbeat_at`` (a lease renewed while the
  run works), ``interrupted`` (failed because its owner died) and ``report_dir``;
- ``uq_runs_closed_period``: a partial unique index, at most one closed run in force
  (``closed AND superseded_by IS NULL``) per (county, year) — the period key has no scenario;
- ``uq_runs_supersedes_succeeded``: a run is superseded by at most one succeeded run.

Existing data is made to fit first: closed runs of a scenario other than ``base`` are reopened
(a what-if never closes a period), and where one county-year still has several closed runs in
force the earliest closure stays and the later ones are reopened.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CLOSED_IN_FORCE = "closed AND superseded_by IS NULL"
SUCCEEDED_SUPERSEDER = "status = 'succeeded' AND supersedes IS NOT NULL"


def upgrade() -> None:
    op.add_column("runs", sa.Column("owner_host", sa.Text))
    op.add_column("runs", sa.Column("owner_pid", sa.Integer))
    op.add_column("runs", sa.Column("owner_started_at", sa.DateTime(timezone=True)))
    op.add_column("runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
    op.add_column("runs", sa.Column("interrupted", sa.Boolean(create_constraint=False), nullable=False,
                                    server_default=sa.false()))
    op.add_column("runs", sa.Column("report_dir", sa.Text))
    _reopen_extra_closures()
    op.create_index("uq_runs_closed_period", "runs", ["county", "year"], unique=True,
                    sqlite_where=sa.text(CLOSED_IN_FORCE), postgresql_where=sa.text(CLOSED_IN_FORCE))
    op.create_index("uq_runs_supersedes_succeeded", "runs", ["supersedes"], unique=True,
                    sqlite_where=sa.text(SUCCEEDED_SUPERSEDER),
                    postgresql_where=sa.text(SUCCEEDED_SUPERSEDER))


def _reopen_extra_closures() -> None:
    conn = op.get_bind()
    runs = sa.table("runs", sa.column("run_id"), sa.column("county"), sa.column("year"),
                    sa.column("scenario"), sa.column("closed", sa.Boolean),
                    sa.column("closed_at"), sa.column("superseded_by"))
    conn.execute(runs.update().where(runs.c.scenario != "base").values(closed=False))
    in_force = conn.execute(sa.select(runs.c.run_id, runs.c.county, runs.c.year).where(
        runs.c.closed.is_(True), runs.c.superseded_by.is_(None))
        .order_by(runs.c.county, runs.c.year, runs.c.closed_at, runs.c.run_id)).all()
    seen: set[tuple] = set()
    for run_id, county, year in in_force:
        if (county, year) in seen:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(closed=False))
        seen.add((county, year))


def downgrade() -> None:
    op.drop_index("uq_runs_supersedes_succeeded", table_name="runs")
    op.drop_index("uq_runs_closed_period", table_name="runs")
    for column in ("report_dir", "interrupted", "heartbeat_at", "owner_started_at", "owner_pid",
                   "owner_host"):
        op.drop_column("runs", column)  # SQLite ≥ 3.35 drops a column in place
