"""Database tables (数据库表) of the run record, as SQLAlchemy 2.x Core definitions.

Two kinds of table:

- ``runs`` (结算记录) — one row per run: who/what/when, status (``running`` →
  ``succeeded`` | ``failed`` with its reason), the config and input-file fingerprints
  (SHA-256; the files are in the child table ``run_inputs``), code version, step timings,
  row counts, the columns stored per result table, the period bookkeeping (``closed``/``closed_at``, ``supersedes`` /
  ``superseded_by``; a partial unique index keeps one closed run in force per county-year) and
  the owner (host, pid, process start, heartbeat) that lets a dead run be found;
- one table per result table of the data contract (CONTRACT.md "Outputs of a run"), with the
  contract's column names plus ``run_id`` (which run) and ``row_no`` (the row's position in
  the result frame, so a frame loaded back comes out in the order it was written).

Column kinds, one per contract column (:data:`RESULT_SPECS`)::

    money  BigInteger, integer fen  (1 234.56 元 is stored as 123456)
    int    BigInteger, counts       (cases, enrollees)
    float  Float (double)           (ratios, points, coefficients, weights, person-months)
    text   Text                     (ids, classes, labels, explanations; exact Decimal text
                                     such as the DIP point value "9.8765")
    bool   Boolean                  (indicator met)

Every result table also has an optional ``explanation`` (how the row was computed); a frame
may leave it out, and so ``unit_statement.payer`` (付款方, revision 0006). Working columns a
stage adds beyond these are not stored (the CSVs and workbooks carry them); the run records
which columns were stored and which were not.

The schema itself is created and changed only by the Alembic migrations in
``settlement/migrations/versions``; these definitions are what the code reads and writes, and a
test checks that the migrated database and these definitions agree. A new result column means:
add it here, add a migration, done.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

RUN_ID = sa.String(64)
SHA256 = sa.String(64)
STATUSES = ("running", "succeeded", "failed")
BASE_SCENARIO = "base"  # the only scenario that settles (closes) a period; others are what-ifs
CLOSED_IN_FORCE = "closed AND superseded_by IS NULL"
SUCCEEDED_SUPERSEDER = "status = 'succeeded' AND supersedes IS NOT NULL"

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", RUN_ID, primary_key=True),
    sa.Column("county", sa.Text, nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("scenario", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("config_path", sa.Text),
    sa.Column("config_sha256", SHA256),
    sa.Column("data_dir", sa.Text),
    sa.Column("code_version", sa.Text),
    sa.Column("timings", sa.JSON),       # {"load": 1.23, "validate": 4.5, ...} seconds
    sa.Column("input_rows", sa.JSON),    # {"inpatient_cases": 90000, ...}
    sa.Column("result_rows", sa.JSON),   # {"dip_cases": 90000, ...}, set with the results
    sa.Column("result_columns", sa.JSON),  # {"dip_cases": {"stored": [...], "not_stored": [...]}}
    sa.Column("supersedes", RUN_ID, sa.ForeignKey("runs.run_id")),
    sa.Column("superseded_by", RUN_ID, sa.ForeignKey("runs.run_id")),
    sa.Column("closed", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    # revision 0003: who runs it (a dead owner is detected and the run marked interrupted)
    sa.Column("owner_host", sa.Text),
    sa.Column("owner_pid", sa.Integer),
    sa.Column("owner_started_at", sa.DateTime(timezone=True)),  # the owner process's start time
    sa.Column("heartbeat_at", sa.DateTime(timezone=True)),      # lease, renewed while running
    sa.Column("interrupted", sa.Boolean(create_constraint=False), nullable=False,
              server_default=sa.false()),                        # failed because the owner died
    sa.Column("report_dir", sa.Text),                            # reports/<run_id> when complete
    # revision 0007 (issue 10): a year-end run or a monthly DIP pre-settlement (月度预结算)
    sa.Column("kind", sa.String(16), nullable=False, server_default="year"),  # year / month
    sa.Column("month", sa.String(7)),                            # YYYY-MM of a month run
    sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
    sa.Index(None, "county", "year", "scenario"),
    # at most one closed run in force per county-year (the period key is county + year)
    sa.Index("uq_runs_closed_period", "county", "year", unique=True,
             sqlite_where=sa.text(CLOSED_IN_FORCE), postgresql_where=sa.text(CLOSED_IN_FORCE)),
    # a run is superseded by at most one succeeded run
    sa.Index("uq_runs_supersedes_succeeded", "supersedes", unique=True,
             sqlite_where=sa.text(SUCCEEDED_SUPERSEDER), postgresql_where=sa.text(SUCCEEDED_SUPERSEDER)),
)

run_inputs = sa.Table(
    "run_inputs", metadata,
    sa.Column("run_id", RUN_ID, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("file", sa.Text, primary_key=True),  # path relative to the data folder
    sa.Column("sha256", SHA256, nullable=False),
)


OPTIONAL_COLUMNS = (("explanation", "text"),)  # stored when the frame has them


@dataclass(frozen=True)
class ResultSpec:
    """A result table of the contract: its key and its columns with their kinds."""

    name: str
    key: tuple[str, ...]
    required: tuple[tuple[str, str], ...]  # (column, kind) in contract order
    optional: tuple[tuple[str, str], ...] = OPTIONAL_COLUMNS

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return self.required + self.optional

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def kind(self, column: str) -> str:
        return dict(self.columns)[column]


def _pairs(columns: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(item.split(":")) for item in columns.split())  # type: ignore[misc]


def _spec(name: str, key: tuple[str, ...], columns: str, optional: str = "") -> ResultSpec:
    """'case_id:text unit_id:text ratio:float …' → ResultSpec; ``optional`` columns are stored
    when the frame has them, after ``explanation``."""
    return ResultSpec(name, key, _pairs(columns), OPTIONAL_COLUMNS + _pairs(optional))


RESULT_SPECS: dict[str, ResultSpec] = {s.name: s for s in [
    _spec("dip_cases", ("case_id",),
          "case_id:text unit_id:text community_id:text dip_group:text ratio:float case_class:text "
          "base_score:float coefficient:float points:float gross_value:money fund_due:money"),
    _spec("dip_units", ("unit_id",),
          "unit_id:text cases:int points:float point_value:text gross_value:money self_pay:money "
          "violation_deduction:money fund_due:money withheld:money returned:money fund_paid:money "
          "prepaid:money balance:money at_cost:money"),  # at_cost: revision 0005
    _spec("community_settlement", ("community_id",),
          "community_id:text financing:money available:money reserve:money package:money "
          "expenditure_dip:money expenditure_dip_rounding:money expenditure_external:money "
          "expenditure_outpatient:money expenditure_other:money expenditure:money balance:money "
          "surplus_retained:money "
          "surplus_returned:money overrun_fund_share:money overrun_community_share:money "
          "community_score:float community_coefficient:float"),
    _spec("unit_distribution", ("unit_id",),
          "unit_id:text community_id:text tier:text weight:float performance_coefficient:float "
          "surplus_share:money overrun_share:money"),
    _spec("chronic_settlement", ("community_id",),
          "community_id:text enrollees:int person_months:float budget:money spend:money balance:money "
          "retained:money fund_share:money community_share:money surplus_returned:money "
          "spend_dip:money spend_external:money spend_outpatient:money"),  # revision 0005
    _spec("public_health_allocation", ("pool", "unit_id"),
          "pool:text unit_id:text tier:text work_points:float quality_coefficient:float weight:float "
          "allocation:money prepaid:money balance:money"),
    # period (YYYY, YYYYQn or YYYY-MM; revision 0008, issue 10): a year run's rows are its year,
    # a month run's the month's
    _spec("indicators", ("scope", "period", "indicator"),
          "scope:text period:text indicator:text label_zh:text numerator:float denominator:float "
          "value:float target:float met:bool"),
    _spec("unit_statement", ("unit_id", "line"),
          "unit_id:text line:text label_zh:text amount:money",
          optional="payer:text"),  # payer (fund / community / health_commission): revision 0006
    _spec("ledger", ("community_id", "line"),
          "community_id:text line:text label_zh:text amount:money"),
    # revision 0006 (issue 11): one row per flagged claim and rule; inpatient case ids and
    # outpatient claim ids are separate id spaces, hence claim_kind in the key
    _spec("claims_audit", ("claim_kind", "claim_id", "rule"),
          "claim_id:text unit_id:text community_id:text rule:text rule_zh:text "
          "applied_ratio:float expected_ratio:float applied_deductible:money "
          "expected_deductible:money fund_paid:money expected_fund_paid:money difference:money "
          "claim_kind:text policy_cost:money"),
    # revision 0007 (issue 10): the monthly DIP pre-settlement of a month run, per unit
    _spec("dip_presettlement", ("unit_id", "month"),
          "unit_id:text month:text points:float budget_point_value:text amount:money "
          "withheld:money paid:money paid_to_date:money"),
    # revision 0008 (issue 10.5): the public-health quarterly prepayment plan netted against
    # the actual prepayments, per pool, unit and quarter ('' = a prepayment naming no quarter)
    _spec("public_health_plan", ("pool", "unit_id", "quarter"),
          "pool:text community_id:text unit_id:text tier:text quarter:text quarter_pool:money "
          "planned:money prepaid:money difference:money basis:text"),
]}

SQL_TYPES = {
    "money": sa.BigInteger, "int": sa.BigInteger, "float": sa.Float,
    "text": sa.Text, "bool": lambda: sa.Boolean(create_constraint=False),
}


def _result_table(spec: ResultSpec) -> sa.Table:
    key_types = {c: (sa.String(200) if c in spec.key else SQL_TYPES[k]()) for c, k in spec.columns}
    return sa.Table(
        spec.name, metadata,
        sa.Column("run_id", RUN_ID, sa.ForeignKey("runs.run_id"), primary_key=True),
        *[sa.Column(c, key_types[c], primary_key=c in spec.key, nullable=c not in spec.key)
          for c, _ in spec.columns],
        sa.Column("row_no", sa.Integer, nullable=False),
    )


RESULT_TABLES: dict[str, sa.Table] = {name: _result_table(s) for name, s in RESULT_SPECS.items()}


# ---------------------------------------------------------------- web console (revision 0004)
# Users of ``settlement serve`` and the audit log of what they did (settlement/store/users.py).
USER_ROLES = ("finance_admin", "bureau_auditor", "unit")  # 财务管理员, 医保审核, 成员单位

users = sa.Table(
    "users", metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),   # argon2id, salted (argon2-cffi)
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("unit_id", sa.String(200)),                   # the one unit of a 成员单位 user
    sa.Column("display_name", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('finance_admin', 'bureau_auditor', 'unit')", name="role"),
    sa.CheckConstraint("(role = 'unit' AND unit_id IS NOT NULL) OR (role <> 'unit' AND unit_id IS NULL)",
                       name="unit_of_unit_role"),
)

audit_log = sa.Table(  # who did what, when: upload, run, close, download, login
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),  # kept when the user is removed
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Index(None, "at"),
)

# ------------------------------------------------------------ month figures (revision 0009)
# Each month run's own month of the bulletin's scans (settlement/monthly/month_figures.py), so
# a later month run reads only the months not recorded. One row per figure row: its keys, its
# counts and fen as exact integers in v1 … v16 (in the figure's field order,
# month_figures.FIGURES), a point sum in ``exact`` (a fraction's text "n/d": the exact sum of the
# cases' float64 points). ``basis``: the SHA-256 of what the figures were made from (code,
# config, the small tables' files, scan engine).
FIGURE_VALUES = 16
month_figures = sa.Table(
    "month_figures", metadata,
    sa.Column("run_id", RUN_ID, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("figure", sa.String(16), primary_key=True),   # month / counts / lines / flows / dip
    sa.Column("row_no", sa.Integer, primary_key=True),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("basis", SHA256, nullable=False),
    sa.Column("key1", sa.Text),                              # scope / community_id / unit_id
    sa.Column("key2", sa.Text),                              # dip_group / community_id
    *[sa.Column(f"v{i}", sa.BigInteger) for i in range(1, FIGURE_VALUES + 1)],
    sa.Column("exact", sa.Text),
)
