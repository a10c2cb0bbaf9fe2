"""The Spark engine (集群路径, issue 13 §6): the scans as Spark SQL, for a province on a cluster.

Every scan of :class:`~settlement.scan.Engine` is one Spark SQL query over the big tables
(``inpatient_cases``, ``outpatient_claims``, ``dip_cases``) joined to the small ones
(``units``, the cohort, reference costs), which are broadcast. Money is BIGINT fen
(``LongType``) from the files to the sums, and ANSI mode makes an overflowing sum an error,
never a wrapped number; no money is ever a double. Counts and distinct persons are exact
(``COUNT(DISTINCT …)``). The results are small and come back through Arrow, typed exactly as
the pandas reference types them, so a stage cannot tell which engine ran.

The unit attributes a scan tests (member unit, scope, primary, care level) are computed once
per call on the small ``units`` frame in pandas, with :mod:`settlement.vocabulary`, and sent
as one broadcast table (:func:`unit_table`): the rule is written once, here as everywhere.

Inputs given as Parquet paths are read by Spark (``spark.read.parquet``) — on a cluster the
executors read them; frames are sent once through Arrow. Options: ``master`` (default
``SETTLEMENT_SPARK_MASTER`` or ``local[2]``), ``shuffle_partitions`` (4), ``driver_memory``,
``batch_rows`` (:meth:`batches`, 1,048,576).

Example: two general claims of community A at 30.00 and 12.50 yuan (3,000 and 1,250 fen) →
``expenditure_lines`` gives A: expenditure_outpatient_general 4,250, claims_outpatient 2 —
the same frame as the pandas engine's.
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd

from settlement.scan import (CASE_FLOW_COLUMNS, COHORT_ITEM_COLUMNS, EXPENDITURE_SCAN_COLUMNS,
                             INDICATOR_SCAN_COLUMNS, OUTPATIENT_HOME_COLUMNS, Engine, Table,
                             Window, register_engine)
from settlement.scan import spark_sql as sql
from settlement.scan.frames import parquet_files, with_defaults
from settlement.scan.pandas_cohort import SOURCES, SPEND_LINES
from settlement.scan.spark_session import SparkTables, session
from settlement.vocabulary import is_member

PRIMARY = ("township_center", "village_clinic")
CARE_LEVEL = {"village_clinic": 0, "township_center": 1, "lead_hospital": 2,
              "county_hospital": 2, "private": 2, "external": 3}
BATCH_ROWS = 1 << 20

try:  # the DIP scans on Spark (points per unit), if present
    from settlement.scan.spark_dip import SparkDipScan
except ImportError:  # pragma: no cover - the DIP scan module is optional
    class SparkDipScan:  # type: ignore[no-redef]
        pass


def unit_table(units: pd.DataFrame) -> pd.DataFrame:
    """One row per unit id (the first, as the pandas lookups take it) with the tested attributes."""
    u = units.drop_duplicates("unit_id")
    scope = u["scope"].astype("string")
    in_county = scope.eq("county").fillna(False).astype(bool)
    member = is_member(u)
    return pd.DataFrame({
        "unit_id": u["unit_id"].astype("string"),
        "member": member.to_numpy(bool),
        "home": u["community_id"].astype("string").where(member.to_numpy(bool), pd.NA),
        "scope": scope, "level": u["level"].astype("string"),
        "in_county": in_county.to_numpy(bool),
        "is_primary": (in_county & u["category"].astype("string").isin(PRIMARY).fillna(False)).to_numpy(bool),
        "is_national": scope.eq("national").fillna(False).astype(bool).to_numpy(bool),
        "care_level": u["category"].astype(str).map(CARE_LEVEL).fillna(-1).astype("int64").to_numpy(),
    })


def _typed(table, columns: list[str], text: tuple[str, ...] = ()) -> pd.DataFrame:
    """A small Arrow result as the reference's frame: ``text`` columns ``string``, others int64."""
    frame = table.to_pandas()
    if frame.empty:
        frame = pd.DataFrame({c: [] for c in columns})
    return frame[columns].astype({c: "string" if c in text else "int64" for c in columns})


@register_engine("spark")
class SparkEngine(SparkDipScan, Engine):
    """Scans as Spark SQL queries; one SparkSession per process (:func:`spark_session.session`)."""

    def __init__(self, **options):
        super().__init__(**options)
        self._spark = None

    @property
    def spark(self):
        if self._spark is None:
            self._spark = session(self.options.get("master"),
                                  int(self.options.get("shuffle_partitions", 4)),
                                  self.options.get("driver_memory"))
        return self._spark

    def _run(self, build):
        """Register the inputs ``build(tables)`` names, run the SQL it returns (an Arrow table
        back), drop the views."""
        tables = SparkTables(self.spark)
        try:
            return self.spark.sql(build(tables)).toArrow()
        finally:
            tables.drop()

    # ------------------------------------------------------------ the scans
    def expenditure_lines(self, dip_cases: Table, inpatient_cases: Table,
                          outpatient_claims: Table, units: pd.DataFrame, *,
                          window: Window | None = None) -> pd.DataFrame:
        def build(t: SparkTables) -> str:
            ip = t.register(inpatient_cases, ["case_id", "community_id", "unit_id", "fund_paid",
                                              "discharge_date"])
            op = t.register(outpatient_claims, ["community_id", "claim_type", "fund_paid",
                                                "service_date"])
            dip = t.register(dip_cases, ["case_id", "unit_id", "community_id", "fund_due"])
            u = t.register(unit_table(units), ["unit_id", "member", "scope"])
            return sql.expenditure(dip, ip, op, u, window)

        return _typed(self._run(build), EXPENDITURE_SCAN_COLUMNS, ("community_id",))

    def indicator_counts(self, inpatient_cases: Table, outpatient_claims: Table,
                         units: pd.DataFrame, reference_costs: pd.DataFrame | None = None, *,
                         window: Window | None = None, persons: bool = True) -> pd.DataFrame:
        def build(t: SparkTables) -> str:  # persons=False: persons_* reported 0 (not needed)
            ip = t.register(inpatient_cases, ["community_id", "unit_id", "person_id", "fund_paid",
                                              "total_cost", "referral", "referral_from_unit_id",
                                              "admission_date", "discharge_date", "dip_group"])
            op = t.register(outpatient_claims, ["community_id", "unit_id", "person_id", "fund_paid",
                                                "total_cost", "service_date"])
            u = t.register(unit_table(units), ["unit_id", "member", "level", "in_county",
                                               "is_primary", "is_national", "care_level"])
            refs = _reference_table(reference_costs)
            ref = t.register(refs, list(refs.columns))
            return sql.indicators(ip, op, u, ref, window)

        out = _typed(self._run(build), ["is_county", *INDICATOR_SCAN_COLUMNS], ("scope",))
        if not out["is_county"].any():  # no rows at all: Spark's grand total is no row
            zeros = pd.DataFrame({c: [0] for c in out.columns}).astype(out.dtypes.to_dict())
            out = pd.concat([out, zeros.assign(is_county=1)], ignore_index=True)
        out["scope"] = out["scope"].mask(out["is_county"].astype(bool), "county")
        if not persons:
            out[["persons_all", "persons_in"]] = 0
        return out.sort_values("is_county", kind="stable")[INDICATOR_SCAN_COLUMNS].reset_index(drop=True)

    def outpatient_at_home(self, outpatient_claims: Table, units: pd.DataFrame, *,
                           window: Window | None = None) -> pd.DataFrame:
        def build(t: SparkTables) -> str:
            op = t.register(outpatient_claims, ["community_id", "unit_id", "fund_paid", "service_date"])
            u = t.register(unit_table(units), ["unit_id", "home"])
            return sql.outpatient_at_home(op, u, window)

        return _typed(self._run(build), OUTPATIENT_HOME_COLUMNS, ("community_id",))

    def case_flows(self, inpatient_cases: Table, *, window: Window | None = None) -> pd.DataFrame:
        def build(t: SparkTables) -> str:
            ip = t.register(inpatient_cases, ["unit_id", "dip_group", "fund_paid", "discharge_date"])
            return sql.case_flows(ip, window)

        return _typed(self._run(build), CASE_FLOW_COLUMNS, ("unit_id", "dip_group")).reset_index(drop=True)

    def cohort_items(self, cohort: pd.DataFrame, inpatient_cases: Table,
                     outpatient_claims: Table | None, units: pd.DataFrame,
                     dip_cases: Table | None = None) -> pd.DataFrame:
        def build(t: SparkTables) -> str:
            periods = cohort[["person_id", "community_id", "period_start", "period_end"]]
            c = t.register(periods.reset_index(drop=True), ["person_id", "community_id",
                                                            "period_start", "period_end", "row"])
            ip = t.register(inpatient_cases, ["case_id", "person_id", "community_id", "unit_id",
                                              "discharge_date", "fund_paid", "childbirth"], row=True)
            op = (t.register(outpatient_claims, ["claim_id", "person_id", "community_id",
                                                 "service_date", "fund_paid"], row=True)
                  if outpatient_claims is not None else None)
            dip = t.register(dip_cases, ["case_id", "fund_due"]) if dip_cases is not None else None
            u = t.register(unit_table(units), ["unit_id", "member"])
            return sql.cohort_items(c, ip, op, dip, u)

        return _cohort_frame(self._run(build).to_pandas())

    def batches(self, table: Table, columns: list[str]) -> Iterator[pd.DataFrame]:
        """Row batches for the claims audit's per-claim rules (run in the driver, as on every
        engine). A frame is sliced; a Parquet table is streamed file by file in
        :func:`parquet_files` order with pyarrow, batch by batch (money yuan → fen as
        :func:`frames.fen_of_yuan` converts it) — the rows are not a
        reduction, so passing them through the JVM would only add a copy."""
        size = int(self.options.get("batch_rows", BATCH_ROWS))
        if isinstance(table, pd.DataFrame):
            frame = with_defaults(table, columns)
            for start in range(0, max(len(frame), 1), size):
                yield frame.iloc[start:start + size]
            return
        yield from _parquet_batches(table, columns, size)


def _reference_table(reference_costs: pd.DataFrame | None) -> pd.DataFrame:
    """group_code, level, avg_cost (> 0 only; a repeated pair: the last, as the reference's)."""
    if reference_costs is None or reference_costs.empty:
        return pd.DataFrame({"group_code": pd.Series([], dtype="string"),
                             "level": pd.Series([], dtype="string"),
                             "avg_cost": pd.Series([], dtype="int64")})
    refs = reference_costs[["group_code", "level", "avg_cost"]].astype(
        {"group_code": str, "level": str, "avg_cost": "int64"})
    refs = refs.drop_duplicates(["group_code", "level"], keep="last")
    return refs.loc[refs["avg_cost"] > 0].astype({"group_code": "string", "level": "string"})


def _cohort_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The Spark rows as :data:`COHORT_ITEM_COLUMNS` with the reference's dtypes."""
    def text(name: str):
        return raw[name].astype("string").array

    return pd.DataFrame({
        "source": pd.Categorical.from_codes(raw["source"].to_numpy("int8"), list(SOURCES)),
        "row": raw["row"].to_numpy("int64"), "item_id": text("item_id"),
        "person_id": text("person_id"), "community_id": text("community_id"),
        "claim_community_id": text("claim_community_id"),
        "line": pd.Categorical.from_codes(raw["line"].to_numpy("int8"), list(SPEND_LINES)),
        "date": pd.to_datetime(raw["date"]).to_numpy(dtype="datetime64[ns]"),
        "amount": raw["amount"].to_numpy("int64")})[COHORT_ITEM_COLUMNS]


def _parquet_batches(table, columns: list[str], size: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from settlement.scan.frames import arrow_to_frame, columns_of, fen_of_yuan, money_columns

    present = [c for c in columns if c in columns_of(table)]
    data = ds.dataset([str(f) for f in parquet_files(table)], format="parquet")
    at = 0
    for batch in data.to_batches(columns=present, batch_size=size):
        if batch.num_rows == 0:
            continue
        arrays = [fen_of_yuan(col) if name in money_columns() else col
                  for name, col in zip(batch.schema.names, batch.columns)]
        frame = with_defaults(arrow_to_frame(pa.table(arrays, names=batch.schema.names)), columns)
        frame.index = pd.RangeIndex(at, at + len(frame))
        at += len(frame)
        yield frame
