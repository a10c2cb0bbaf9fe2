"""The scan layer (issue 13 §2): the few reductions from millions of rows to small tables.

A *scan* reads the big input tables (``inpatient_cases``, ``outpatient_claims``) and returns
a small pandas frame per community or unit; everything after it (the settle layer) works on
those small frames with exact integer arithmetic. The scans sit behind one interface,
:class:`Engine`, with one implementation per engine, chosen by registration::

    @register_engine("duckdb")
    class DuckDBEngine(Engine): ...

    engine = get_engine()            # SETTLEMENT_SCAN_ENGINE, else "duckdb"
    engine = get_engine("pandas")    # the reference: the vectorised pandas/numpy code
    engine = get_engine("duckdb", memory_limit="2GB", temp_directory="/tmp/spill", threads=2)

A scan input *table* is a pandas DataFrame with the loader's dtypes or a
:class:`pathlib.Path` to a Parquet file or a directory of Parquet files (hive partitions
allowed); every engine accepts both. Every engine returns EXACTLY the columns, dtypes and row
order of the pandas reference, so results are identical to the fen whichever engine ran.
The methods, their arguments and their columns are listed in :class:`Engine` (and in
``/tmp/coord2/scan-interface.md`` for the helpers of issue 13).

Engines are imported through :data:`MODULES` (name → module), lazily: an engine whose
library is missing (pyspark) only fails when asked for.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple, Union

import pandas as pd

#: a scan input: a frame with the loader's dtypes, or Parquet (a file or a folder of files)
Table = Union[pd.DataFrame, Path]
#: engine name → the module that registers it (imported on first use)
MODULES = {"pandas": "settlement.scan.pandas_engine",
           "duckdb": "settlement.scan.duckdb_engine",
           "spark": "settlement.scan.spark_engine"}
DEFAULT_ENGINE = "duckdb"
ENV_VARIABLE = "SETTLEMENT_SCAN_ENGINE"
#: engine name → engine class, filled by :func:`register_engine`
ENGINES: dict[str, type["Engine"]] = {}


class Window(NamedTuple):
    """A half-open date window [start, end): inpatient cases by ``discharge_date``, outpatient
    claims by ``service_date``, DIP case rows by the discharge date of their case."""

    start: pd.Timestamp
    end: pd.Timestamp


#: the columns of :meth:`Engine.expenditure_lines` (all int64 but the first)
EXPENDITURE_SCAN_COLUMNS = [
    "community_id", "expenditure_dip", "cases_dip",
    "expenditure_external_county", "expenditure_external_city",
    "expenditure_external_province", "expenditure_external_national", "cases_external",
    "expenditure_outpatient_general", "expenditure_outpatient_chronic_special",
    "expenditure_outpatient_two_diseases", "expenditure_outpatient", "claims_outpatient",
]
#: the columns of :meth:`Engine.indicator_counts` (all int64 but the first)
INDICATOR_SCAN_COLUMNS = [
    "scope", "ip_all", "ip_in", "ip_national", "op_all", "op_in", "op_primary",
    "fund_all", "fund_in", "fund_primary", "persons_all", "persons_in",
    "ref_up", "ref_down", "ip_cost", "op_cost", "stay_days", "ip_matched_cost", "ip_matched_ref",
]
#: the columns of :meth:`Engine.cohort_items`
COHORT_ITEM_COLUMNS = ["source", "row", "item_id", "person_id", "community_id",
                       "claim_community_id", "line", "date", "amount"]
#: the columns of :meth:`Engine.cohort_totals`
COHORT_TOTAL_COLUMNS = ["community_id", "line", "items", "amount", "moved"]
#: the columns of :meth:`Engine.outpatient_at_home`
OUTPATIENT_HOME_COLUMNS = ["community_id", "fund_at_own_units", "fund_elsewhere"]
#: the columns of :meth:`Engine.case_flows`
CASE_FLOW_COLUMNS = ["unit_id", "dip_group", "cases", "fund_paid"]


class Engine:
    """One scan engine. Subclasses implement every method; results are small pandas frames.

    Arguments named after an input table take a :data:`Table`; ``units``,
    ``reference_costs`` and ``cohort`` are small frames; ``window`` (a :class:`Window` or
    None = every row) restricts the big tables by date.
    """

    name = "abstract"

    def __init__(self, **options):
        self.options = options

    # ------------------------------------------------------------ the scans
    def expenditure_lines(self, dip_cases: Table, inpatient_cases: Table,
                          outpatient_claims: Table, units: pd.DataFrame, *,
                          window: Window | None = None) -> pd.DataFrame:
        """Per insured community (stages/expenditure.py): :data:`EXPENDITURE_SCAN_COLUMNS`.

        expenditure_dip / cases_dip: Σ ``fund_due`` / rows of ``dip_cases`` at member units
        with a community; external_<scope> / cases_external: Σ ``fund_paid`` / rows of
        inpatient cases at non-member units by the unit's scope (unknown unit or scope →
        national; a scope outside the four counts in cases_external only); outpatient_<type>
        / expenditure_outpatient / claims_outpatient: Σ ``fund_paid`` of outpatient claims by
        claim_type (any type counts in the total) and rows. Rows without a community drop
        out. One row per community with any counted row, sorted by community_id.
        """
        raise NotImplementedError

    def cohort_items(self, cohort: pd.DataFrame, inpatient_cases: Table,
                     outpatient_claims: Table | None, units: pd.DataFrame,
                     dip_cases: Table | None = None) -> pd.DataFrame:
        """The chronic cohort's items of spend (stages/chronic.py): :data:`COHORT_ITEM_COLUMNS`.

        ``cohort``: person_id, community_id, period_start, period_end (both inclusive), one
        row per enrolment period. Items: non-childbirth inpatient cases (by discharge_date)
        and outpatient claims (by service_date; none when ``outpatient_claims`` is None) of a
        cohort person dated inside one of the person's periods, once per period that holds
        it. Columns: source (categorical [inpatient_cases, outpatient_claims]), row (int64,
        position in its table), item_id (case_id / claim_id), person_id, community_id (the
        period's), claim_community_id (string), line (categorical [dip, external,
        outpatient]), date (datetime64[ns]), amount (int64 fen: a member-unit case its
        dip_cases fund_due, 0 when absent there, or fund_paid when ``dip_cases`` is None;
        any other item its fund_paid). Order: inpatient items then outpatient items, each by
        row, then by the period's position in ``cohort``.
        """
        raise NotImplementedError

    def cohort_totals(self, cohort: pd.DataFrame, inpatient_cases: Table,
                      outpatient_claims: Table | None, units: pd.DataFrame,
                      dip_cases: Table | None = None) -> pd.DataFrame:
        """:meth:`cohort_items` reduced (the chronic stage and the indicators need only this):
        :data:`COHORT_TOTAL_COLUMNS`, one row per (community_id, line) with an item — items
        (count), amount (Σ fen), moved (items whose claim_community_id is another community; a
        missing one is not counted); items without a community drop out. Sorted by
        community_id then line; community_id and line string, the rest int64. This reference
        reduces :meth:`cohort_items`; an engine may override it with one aggregate query."""
        from settlement.scan.pandas_cohort import cohort_totals_of

        return cohort_totals_of(self.cohort_items(cohort, inpatient_cases, outpatient_claims,
                                                  units, dip_cases))

    def indicator_counts(self, inpatient_cases: Table, outpatient_claims: Table,
                         units: pd.DataFrame, reference_costs: pd.DataFrame | None = None, *,
                         window: Window | None = None, persons: bool = True) -> pd.DataFrame:
        """The counts behind the indicators (stages/indicators.py, indicator_measures.py).

        :data:`INDICATOR_SCAN_COLUMNS`: one row per insured community that has a case or a
        claim (sorted), then ``county``: the communities' sums, but persons_* counted once
        per person over the county. All int64. ``persons=False``: persons_* are not counted
        and are 0 (a run whose 县域内就诊率 is by visits does not need them).
        """
        raise NotImplementedError

    def outpatient_at_home(self, outpatient_claims: Table, units: pd.DataFrame, *,
                           window: Window | None = None) -> pd.DataFrame:
        """Σ outpatient ``fund_paid`` per insured community, at member units of that same
        community / anywhere else (the flow of funds): :data:`OUTPATIENT_HOME_COLUMNS`,
        sorted by community_id, int64."""
        raise NotImplementedError

    # ------------------------------------------------------------ periods (month runs)
    def indicator_counts_by_period(self, inpatient_cases: Table, outpatient_claims: Table,
                                   units: pd.DataFrame,
                                   reference_costs: pd.DataFrame | None = None, *,
                                   windows: Mapping[str, Window],
                                   persons: bool = True) -> pd.DataFrame:
        """:meth:`indicator_counts` of every window at once: ``period`` (string, the key of
        ``windows``) then :data:`INDICATOR_SCAN_COLUMNS`; each period's rows are exactly
        ``indicator_counts(..., window=windows[period], persons=persons)``'s, periods in the
        order given (the month is one more grouping key of the same scan). This reference runs
        one scan per window; an engine may override it with one pass."""
        return _by_period({p: self.indicator_counts(inpatient_cases, outpatient_claims, units,
                                                    reference_costs, window=w, persons=persons)
                           for p, w in windows.items()}, INDICATOR_SCAN_COLUMNS)

    def expenditure_lines_by_period(self, dip_cases: Table, inpatient_cases: Table,
                                    outpatient_claims: Table, units: pd.DataFrame, *,
                                    windows: Mapping[str, Window]) -> pd.DataFrame:
        """:meth:`expenditure_lines` of every window: ``period`` then
        :data:`EXPENDITURE_SCAN_COLUMNS`, as :meth:`indicator_counts_by_period`."""
        return _by_period({p: self.expenditure_lines(dip_cases, inpatient_cases,
                                                     outpatient_claims, units, window=w)
                           for p, w in windows.items()}, EXPENDITURE_SCAN_COLUMNS)

    def case_flows(self, inpatient_cases: Table, *, window: Window | None = None) -> pd.DataFrame:
        """Inpatient cases per treating unit and DIP group (where the county's cases go, 外转):
        :data:`CASE_FLOW_COLUMNS` — unit_id and dip_group (string, missing kept as <NA>),
        cases and Σ fund_paid (int64); sorted by unit_id then dip_group, <NA> last."""
        raise NotImplementedError

    def batches(self, table: Table, columns: list[str]) -> Iterator[pd.DataFrame]:
        """The table's ``columns`` in row order, in frames of at most ``batch_rows`` rows
        (option; the pandas engine yields the whole frame), with the loader's dtypes. The
        claims audit applies its per-claim rules batch by batch (memory bounded)."""
        raise NotImplementedError

    def claims_to_audit(self, table: Table, kind: str, columns: list[str],
                        rules) -> tuple[pd.DataFrame, int]:
        """The claims audit's reduction (:mod:`settlement.scan.claims_audit`): (the rows of
        ``table`` whose applied ratio or deductible differs from the expected one, among the
        audited rows — ``columns`` in row order, the loader's dtypes —, how many rows were
        audited). ``kind``: "inpatient" or "outpatient"; ``rules``: an
        :class:`~settlement.scan.claims_audit.AuditRules`. This reference applies the numpy
        rules to :meth:`batches` (memory bounded by a batch); an engine may override it with
        one query that returns only the flagged rows."""
        from settlement.scan.claims_audit import to_audit

        parts, audited = [], 0
        for batch in self.batches(table, columns):
            keep, n = to_audit(batch, kind, rules)
            audited += n
            parts.append(batch.iloc[keep])
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in columns}), 0
        return pd.concat(parts, ignore_index=True), audited

    # ------------------------------------------------------------ life cycle
    def close(self) -> None:
        """Free the engine's resources (a connection, a session)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _by_period(frames: dict[str, pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Per-period scan frames → one frame, ``period`` first (string), periods in order."""
    parts = [f.assign(period=p) for p, f in frames.items()]
    if not parts:
        return pd.DataFrame({"period": pd.array([], dtype="string"),
                             **{c: pd.Series(dtype="string" if i == 0 else "int64")
                                for i, c in enumerate(columns)}})
    out = pd.concat(parts, ignore_index=True)[["period", *columns]]
    return out.astype({"period": "string"})


def register_engine(name: str):
    """Class decorator: ``@register_engine("duckdb")`` makes the class :func:`get_engine`'s."""
    def register(cls: type[Engine]) -> type[Engine]:
        cls.name = name
        ENGINES[name] = cls
        return cls
    return register


_cache = threading.local()  # one default engine per (thread, name, options)


def engine_class(name: str) -> type[Engine]:
    """The registered class of ``name``, importing its module on first use."""
    if name not in ENGINES:
        if name not in MODULES:
            raise KeyError(f"未知的扫描引擎 `{name}`（可选：{'、'.join(MODULES)}） / "
                           f"unknown scan engine `{name}`")
        importlib.import_module(MODULES[name])
    return ENGINES[name]


def get_engine(name: str | None = None, **options) -> Engine:
    """The engine ``name`` (None → env ``SETTLEMENT_SCAN_ENGINE``, else "duckdb").

    Engines are cached per thread and options (a DuckDB connection is not shared between
    threads); pass the result around rather than calling this per row.
    """
    name = name or os.environ.get(ENV_VARIABLE) or DEFAULT_ENGINE
    key = (name, tuple(sorted(options.items())))
    engines = _cache.__dict__.setdefault("engines", {})
    if key not in engines:
        engines[key] = engine_class(name)(**options)
    return engines[key]


def resolve(engine: Engine | str | None) -> Engine:
    """An engine argument of a stage function: an Engine, a name, or None (the default)."""
    return engine if isinstance(engine, Engine) else get_engine(engine)
