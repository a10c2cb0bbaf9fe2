"""The DIP scans on both engines (issue 13): DuckDB SQL gives the numpy reference's numbers.

``dip_case_scores`` (the per-case arrays behind ``dip_cases``) and ``dip_unit_points`` (Σ per
unit, out of core) must be identical on the pandas engine (the reference) and the DuckDB
engine: the same float64 ratio and points, bit for bit, the same class, coefficient and its
source, the same exact integer points, the same problems. Checked on the sample county (and
its cases as Parquet files), on hand-made edge cases whose expected numbers are derived here,
and on hypothesis-generated case lists: ratios exactly at the bounds 0.5 and 2.0 with either
inclusivity, unmatched cases (no group, unknown group, no reference cost, a zero reference
cost), special cases with and without the coefficient, basic groups, unit coefficient
overrides, DRG, and parameters that change on 1 July (by discharge date).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from settlement.config import load_config, resolve
from settlement.dip.scan import LIST_COLUMNS, POINT_COLUMNS
from settlement.dip.stage import settle_dip
from settlement.loader import load_folder
from settlement.sample.writer import yuan_decimal
from settlement.scan import Engine, get_engine
from test_dip import GROUPS, SCORES, UNITS, cases_frame, groups_frame, params, refs_frame

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("rows", "unit_pos", "case_class", "ratio", "base_score", "coefficient", "coef_source",
          "point_units", "review", "settle", "reason", "external_rows", "approved_points")
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def engines():
    return get_engine("pandas"), get_engine("duckdb")


@pytest.fixture(scope="module")
def county():
    resolved = resolve(load_config(ROOT / "configs" / "sample-county.yaml"))
    return load_folder(ROOT / "sample_data").tables, resolved


def assert_same_scores(a, b):
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, strict=True, err_msg=name)  # NaN at the same places
        if x.dtype.kind == "f":  # the same float64, sign of zero included
            assert np.array_equal(np.signbit(x), np.signbit(y)), name
    pd.testing.assert_series_equal(pd.Series(a.dip_group), pd.Series(b.dip_group))
    assert a.problems == b.problems


def both(engines, method, *args, **kwargs):
    pandas_engine, duckdb_engine = engines
    return (getattr(pandas_engine, method)(*args, **kwargs),
            getattr(duckdb_engine, method)(*args, **kwargs))


def assert_same_points(engines, *args, **kwargs):
    a, b = both(engines, "dip_unit_points", *args, **kwargs)
    assert_frame_equal(a.table, b.table, check_dtype=True)
    assert a.problems == b.problems and a.decimals == b.decimals
    return a


def assert_same_settlement(engines, cases, units, groups, refs, scores, p, dated=None):
    """settle_dip of the frame, and of the cases as a spilled Parquet file (with ``_row``, the
    frame's index) on each engine (scored by the engine's SQL there), give the same tables,
    summary and problems."""
    run = lambda table, e: settle_dip(table, units, groups, refs, scores, None, p,  # noqa: E731
                                      explain="rule", dated=dated, engine=e)
    a = run(cases, engines[1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inpatient_cases.parquet"
        rows = pa.array(cases.index.to_numpy("int64"))
        pq.write_table(as_parquet(cases).append_column("_row", rows), path)
        others = [run(cases, engines[0])] + [run(path, e) for e in engines]
    for b in others:
        assert_same_tables(a, b)
        assert a.summary == b.summary and a.problems == b.problems
    return a


def assert_same_tables(a, b):
    for name, table in a.tables().items():
        other = b.tables()[name]
        if name == "dip_cases":  # case_id: the same text (Parquet's string type may differ)
            assert table["case_id"].astype(str).equals(other["case_id"].astype(str))
            table, other = table.drop(columns="case_id"), other.drop(columns="case_id")
        assert_frame_equal(table, other, check_dtype=True, obj=name)


# ------------------------------------------------------------------ the sample county
def test_sample_county_is_the_same_on_both_engines(engines, county):
    t, resolved = county
    args = (t["inpatient_cases"], t["units"], t["dip_groups"], t["dip_reference_costs"],
            resolved.params.dip)
    dated = resolved.section_segments("dip")
    assert_same_scores(*both(engines, "dip_case_scores", *args, dated=dated))
    result = assert_same_settlement(engines, *args[:4], t["performance_scores"], args[4], dated)
    sums = assert_same_points(engines, *args, dated=dated)
    # the Σ scan is the case list summed: points and counts per unit
    by_unit = result.cases.groupby("unit_id", observed=True)["points"].sum()
    units = sums.table.set_index("unit_id")
    assert np.array_equal(np.rint(by_unit.reindex(units.index) * 10_000).astype("int64"),
                          units["point_units"])
    assert units["cases"].sum() == result.summary.settled_cases
    assert_same_points(engines, *args, dated=dated, by=("unit_id", "community_id"))


def test_sample_county_cases_as_parquet_give_the_frame_sums(engines, county, tmp_path):
    t, resolved = county
    cases = t["inpatient_cases"]
    folder = tmp_path / "inpatient_cases"
    half = len(cases) // 2  # two hive partitions, as a region writes them
    for part, rows in (("county_id=A", slice(0, half)), ("county_id=B", slice(half, None))):
        (folder / part).mkdir(parents=True)
        pq.write_table(as_parquet(cases.iloc[rows]), folder / part / "part-0.parquet")
    small = (t["units"], t["dip_groups"], t["dip_reference_costs"], resolved.params.dip)
    from_frame = assert_same_points(engines, cases, *small)
    from_files = assert_same_points(engines, folder, *small)
    assert_frame_equal(from_frame.table, from_files.table)


def as_parquet(cases: pd.DataFrame) -> pa.Table:
    """Cases as a region's Parquet files hold them: money as decimal yuan (the generator's)."""
    table = pa.Table.from_pandas(cases, preserve_index=False)
    for name in ("total_cost", "self_pay", "fund_paid", "violation_deduction"):
        table = table.set_column(table.schema.get_field_index(name), name,
                                 yuan_decimal(cases[name].to_numpy()))
    return table


def test_settle_dip_reads_the_cases_from_parquet(engines, county, tmp_path):
    t, resolved = county
    pq.write_table(as_parquet(t["inpatient_cases"]), tmp_path / "inpatient_cases.parquet")
    small = (t["units"], t["dip_groups"], t["dip_reference_costs"], t["performance_scores"],
             t["prepayments"], resolved.params.dip)
    frame = settle_dip(t["inpatient_cases"], *small, explain="none", engine=engines[1])
    files = settle_dip(tmp_path / "inpatient_cases.parquet", *small, explain="none",
                       engine=engines[1])
    assert_frame_equal(frame.units, files.units)
    assert_frame_equal(frame.cases.drop(columns="case_id"), files.cases.drop(columns="case_id"))
    assert frame.cases["case_id"].astype(str).equals(files.cases["case_id"].astype(str))


def test_settle_dip_over_parquet_reads_only_the_case_list_columns(engines, county, tmp_path,
                                                                  monkeypatch):
    """A Parquet path on the DuckDB engine is read by DuckDB alone: one query scores every
    case and returns only the columns of the case list (never total_cost, unit_id, person_id,
    dates, flags); nothing reads the table into pandas (those readers raise here)."""
    t, resolved = county
    path = tmp_path / "inpatient_cases.parquet"
    pq.write_table(as_parquet(t["inpatient_cases"]), path)
    small = (t["units"], t["dip_groups"], t["dip_reference_costs"], t["performance_scores"],
             t["prepayments"], resolved.params.dip)
    frame = settle_dip(t["inpatient_cases"], *small, dated=resolved.section_segments("dip"),
                       engine=engines[0])
    import pyarrow.dataset

    import settlement.scan.frames

    def refuse(*args, **kwargs):
        raise AssertionError("the case table was read into pandas")

    for module, name in ((settlement.scan.frames, "read"), (pq, "read_table"),
                         (pyarrow.dataset, "dataset")):
        monkeypatch.setattr(module, name, refuse)
    s = engines[1].dip_case_scores(path, *small[:3], small[5])
    assert list(s.cases.columns) == LIST_COLUMNS  # one period: no discharge date either
    assert len(s.cases) == len(t["inpatient_cases"])
    files = settle_dip(path, *small, dated=resolved.section_segments("dip"), engine=engines[1])
    assert_same_tables(frame, files)
    assert frame.summary == files.summary and frame.problems == files.problems


# ------------------------------------------------------------------ worked edge cases
def test_bounds_are_inclusive_on_both_engines(engines):
    # reference 10,000 元, score 500, tertiary coefficient 1.0: r = 0.5 and r = 2.0 are normal
    # when inclusive (500 points each); exclusive, 0.5 is low (500 × 0.5 = 250) and 2.0 high
    # (500 × (2.0 − 2 + 1) = 500: the same points, but class high)
    refs = refs_frame([("G500", "tertiary", 10_000)])
    cases = cases_frame([{"total_cost": 5_000}, {"total_cost": 20_000}])
    for inclusive, classes, points in ((True, [0, 0], [5_000_000, 5_000_000]),
                                       (False, [1, 2], [2_500_000, 5_000_000])):
        p = params(low_bound_inclusive=inclusive, high_bound_inclusive=inclusive)
        a, b = both(engines, "dip_case_scores", cases, UNITS, GROUPS, refs, p)
        assert_same_scores(a, b)
        assert b.case_class.tolist() == classes and b.point_units.tolist() == points


def test_unmatched_zero_reference_and_special_cases(engines):
    # H3 (tertiary): no group → at cost; unknown group X → excluded with an error; B100 has a
    # zero reference cost at tertiary → excluded (no reference); a special case of 1,234.5
    # approved points keeps them (coefficient not applied); EXT is not a member (passed through)
    refs = refs_frame([("G500", "tertiary", 10_000), ("B100", "tertiary", 0)])
    cases = cases_frame([{"dip_group": None, "total_cost": 100, "fund_paid": 80},
                         {"dip_group": "X", "total_cost": 100},
                         {"dip_group": "B100", "total_cost": 100},
                         {"total_cost": 10_000, "special_points": 1_234.5},
                         {"unit_id": "EXT", "total_cost": 10_000}])
    a, b = both(engines, "dip_case_scores", cases, UNITS, GROUPS, refs, params())
    assert_same_scores(a, b)
    assert b.case_class.tolist() == [4, 4, 4, 3]
    assert b.settle.tolist() == [1, 2, 2, 0] and b.point_units.tolist() == [0, 0, 0, 12_345_000]
    assert b.external_rows.tolist() == [4]
    assert {p.rule for p in b.problems} == {"dip.unknown_group", "dip.missing_reference"}
    sums = assert_same_points(engines, cases, UNITS, GROUPS, refs, params())
    row = sums.table.iloc[0]
    assert (row["cases"], row["excluded_cases"], row["at_cost"]) == (2, 2, 8_000)


def test_points_near_the_int64_limit_use_the_member_case_count(engines):
    # 4 decimals: Σ points of n cases must stay below 2^63 ÷ 10^4 ÷ n. One member case and one
    # external case: the limit is that of n = 1 (≈ 9.2 × 10^14 points), so 6 × 10^14 approved
    # points are kept (6 × 10^18 units); the limit of both rows (≈ 4.6 × 10^14) would drop them
    cases = cases_frame([{"total_cost": 10_000, "special_points": 6e14},
                         {"unit_id": "EXT", "total_cost": 10_000}])
    refs = refs_frame([("G500", "tertiary", 10_000)])
    a, b = both(engines, "dip_case_scores", cases, UNITS, GROUPS, refs, params())
    assert_same_scores(a, b)
    assert b.point_units.tolist() == [6 * 10**18] and not b.problems
    sums = assert_same_points(engines, cases, UNITS, GROUPS, refs, params())
    assert sums.table["point_units"].tolist() == [6 * 10**18]


def test_non_finite_points_are_the_same_error_on_both_engines(engines):
    cases = cases_frame([{"total_cost": 10_000, "special_points": float("inf")},
                         {"total_cost": 10_000}])
    refs = refs_frame([("G500", "tertiary", 10_000)])
    a, b = both(engines, "dip_case_scores", cases, UNITS, GROUPS, refs, params())
    assert_same_scores(a, b)
    assert [p.rule for p in b.problems] == ["dip.points_not_finite"]
    assert b.problems[0].row == cases.index[0] and b.point_units.tolist() == [0, 5_000_000]
    assert_same_points(engines, cases, UNITS, GROUPS, refs, params())


def test_a_spilled_case_table_names_the_users_rows(engines, tmp_path):
    """A spilled table (settlement.spill) carries ``_row``, the user's row number: a problem
    of a case read from it names that row on every engine, as the in-memory run does."""
    cases = cases_frame([{"total_cost": 10_000}, {"total_cost": 10_000, "special_points": 1e308},
                         {"total_cost": 10_000, "unit_id": "EXT"}])
    cases.index = [2, 7, 9]  # the loader's index: the rows in the user's file
    refs = refs_frame([("G500", "tertiary", 10_000)])
    path = tmp_path / "inpatient_cases.parquet"
    pq.write_table(as_parquet(cases).append_column("_row", pa.array(cases.index, pa.int64())), path)
    small = (UNITS, GROUPS, refs, params())
    rows = {e.name: [p.row for p in e.dip_case_scores(path, *small).problems] for e in engines}
    assert rows == {"pandas": [7], "duckdb": [7]}  # 1e308 points overflow: the second case
    assert [p.row for p in engines[0].dip_case_scores(cases, *small).problems] == [7]
    for e in engines:
        assert [p.row for p in e.dip_unit_points(path, *small).problems] == [7]
        assert e.dip_case_scores(path, *small).cases.index.tolist() == [2, 7, 9]
    assert_same_settlement(engines, cases, UNITS, GROUPS, refs, SCORES, params())
    # the loader's SpilledTable is taken by its Parquet file (``.path``)
    spilled = SimpleNamespace(path=path)
    a, b = (settle_dip(t, UNITS, GROUPS, refs, SCORES, None, params(), engine=engines[1])
            for t in (spilled, path))
    assert_same_tables(a, b)


def test_points_are_the_same_float_operations_in_the_same_order(engines):
    # 12 decimals make the last bit of a float64 product visible after rounding: points =
    # (score × factor) × coefficient, then floor(points × 10^12 + 0.5). The other association,
    # score × (factor × coefficient), differs on some of these cases: the engines must not.
    rng = np.random.default_rng(13)
    n = 2_000
    units = rng.choice(["H2", "HX"], n)  # coefficients 0.9 (level) and 0.95 (the unit's own)
    cases = cases_frame([{"unit_id": u, "dip_group": "G7"} for u in units])
    reference = 333_333  # fen: 3,333.33 元, so ratios are not short binary fractions
    cases["total_cost"] = rng.integers(50_000, 1_000_000, n)
    groups = groups_frame([("G7", 77.77, "core")])
    refs = refs_frame([("G7", "secondary", Decimal(reference) / 100)])
    p = params(case_points_decimals=12)
    a, b = both(engines, "dip_case_scores", cases, UNITS, groups, refs, p)
    assert_same_scores(a, b)
    ratio = cases["total_cost"].to_numpy() / float(reference)
    factor = np.where(ratio < 0.5, ratio, np.where(ratio > 2.0, (ratio - 2.0) + 1.0, 1.0))
    coef = np.where(units == "H2", 0.9, 0.95)
    expected = np.floor((77.77 * factor) * coef * 1e12 + 0.5).astype("int64")
    other_order = np.floor(77.77 * (factor * coef) * 1e12 + 0.5).astype("int64")
    assert np.array_equal(b.point_units, expected) and (other_order != expected).any()
    sums = assert_same_points(engines, cases, UNITS, groups, refs, p)
    assert sums.table["point_units"].sum() == expected.sum()


def test_no_cases_and_only_external_cases(engines):
    refs = refs_frame([("G500", "tertiary", 10_000)])
    none = cases_frame([{"total_cost": 100}]).iloc[:0]
    outside = cases_frame([{"unit_id": "EXT", "total_cost": 100}])
    for cases, external in ((none, []), (outside, [0])):
        a, b = both(engines, "dip_case_scores", cases, UNITS, GROUPS, refs, params())
        assert_same_scores(a, b)
        assert len(b.rows) == 0 and b.external_rows.tolist() == external
        sums = assert_same_points(engines, cases, UNITS, GROUPS, refs, params())
        assert sums.table.empty and list(sums.table.columns[1:]) == POINT_COLUMNS


def test_an_engine_without_dip_scans_scores_with_the_reference(engines):
    cases = cases_frame([{"total_cost": 4_000}, {"total_cost": 25_000}])
    refs = refs_frame([("G500", "tertiary", 10_000)])
    plain = settle_dip(cases, UNITS, GROUPS, refs, SCORES, None, params(), engine=Engine())
    reference = settle_dip(cases, UNITS, GROUPS, refs, SCORES, None, params(), engine=engines[0])
    assert_frame_equal(plain.cases, reference.cases)
    assert plain.cases["points"].tolist() == [200.0, 750.0]  # 500 × 0.4; 500 × (2.5 − 2 + 1)


# ------------------------------------------------------------------ generated cases
REFERENCE = {"G500": 10_000, "G7": Decimal("3333.33"), "B100": 0}
LEVELS = ("tertiary", "secondary", "primary", "unrated")
EDGE = [Decimal("0.5"), Decimal("2.0"), Decimal("5"), Decimal("1"), Decimal("0.4"),
        Decimal("3.0")]


@st.composite
def case_lists(draw):
    n = draw(st.integers(1, 25))
    rows = []
    for _ in range(n):
        group = draw(st.sampled_from(["G500", "G7", "B100", "BAS", None, "NOPE"]))
        reference = REFERENCE.get(group, 10_000)
        how = draw(st.sampled_from(["edge", "edge±1", "any"]))
        if how == "any" or not reference:
            cost = Decimal(draw(st.integers(0, 8_000_000))) / 100
        else:  # exactly at a bound (or one fen beside it) of the ratio
            cost = (Decimal(str(reference)) * draw(st.sampled_from(EDGE))).quantize(Decimal("0.01"))
            cost += Decimal(draw(st.sampled_from([-1, 0, 1]))) / 100 if how == "edge±1" else 0
        rows.append({
            "unit_id": draw(st.sampled_from(["H3", "H2", "HX", "T1", "EXT", "GONE"])),
            "community_id": draw(st.sampled_from(["C1", "C2", None])),
            "dip_group": group, "total_cost": max(cost, Decimal(0)),
            "self_pay": Decimal(draw(st.integers(0, 100_000))) / 100,
            "fund_paid": Decimal(draw(st.integers(0, 500_000))) / 100,
            "violation_deduction": draw(st.sampled_from([0, 0, Decimal("12.34")])),
            "special_points": draw(st.one_of(st.just(np.nan), st.just(np.nan), st.floats(
                0, 5_000, allow_nan=False).map(lambda x: round(x, 2)))),
        })
    frame = cases_frame(rows)
    frame["discharge_date"] = pd.to_datetime(draw(st.lists(
        st.sampled_from(["2025-01-01", "2025-06-30", "2025-07-01", "2025-12-31", None]),
        min_size=n, max_size=n)))
    return frame


GENERATED_GROUPS = groups_frame([("G500", 500.0, "core"), ("G7", 77.77, "comprehensive"),
                                 ("B100", 100.0, "basic"), ("BAS", 33.3, "basic")])
GENERATED_REFS = refs_frame([(g, lv, REFERENCE.get(g, 10_000)) for g in ("G500", "G7", "B100")
                             for lv in LEVELS] + [("BAS", "primary", 500)])
variants = st.fixed_dictionaries({
    "payment_method": st.sampled_from(["dip", "drg"]),
    "low_bound_inclusive": st.booleans(), "high_bound_inclusive": st.booleans(),
    "unmatched_policy": st.sampled_from(["paid_at_cost", "excluded"]),
    "special_points_apply_coefficient": st.booleans(),
    "case_points_decimals": st.sampled_from([0, 2, 4, 12]),  # 12: the last bit shows
})
later = st.fixed_dictionaries({
    "level_coefficients": st.sampled_from([
        {"tertiary": "1.05", "secondary": "0.9", "primary": "0.85", "unrated": "0.8"},
        {"tertiary": "1.0", "secondary": "0.93", "primary": "0.8"}]),  # no unrated: an error
    "high_bound": st.sampled_from(["2.0", "3.0"]), "low_bound": st.sampled_from(["0.5", "0.4"]),
    "special_points_apply_coefficient": st.booleans(),
})


@SETTINGS
@given(case_lists(), variants, st.one_of(st.none(), later))
def test_generated_cases_score_the_same_on_both_engines(engines, cases, variant, mid_year):
    p = params(**variant)
    dated = None
    if mid_year is not None:
        dated = [(dt.date(2025, 1, 1), dt.date(2025, 6, 30), p),
                 (dt.date(2025, 7, 1), dt.date(2025, 12, 31), params(**(variant | mid_year)))]
    args = (cases, UNITS, GENERATED_GROUPS, GENERATED_REFS, p)
    assert_same_scores(*both(engines, "dip_case_scores", *args, dated=dated))
    for by in (("unit_id",), ("unit_id", "community_id")):
        assert_same_points(engines, *args, dated=dated, by=by)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(case_lists(), variants, st.one_of(st.none(), later))
def test_generated_cases_settle_the_same_on_both_engines(engines, cases, variant, mid_year):
    """The frame and the Parquet file (SQL on DuckDB) settle alike; with parameters that change
    on 1 July the Parquet case list also carries the discharge dates (each case explained by
    its period's parameters)."""
    published = dict(point_value_mode="published", published_point_value="12.3456")
    p = params(**variant, **published)
    dated = None
    if mid_year is not None:
        dated = [(dt.date(2025, 1, 1), dt.date(2025, 6, 30), p),
                 (dt.date(2025, 7, 1), dt.date(2025, 12, 31),
                  params(**(variant | mid_year), **published))]
    assert_same_settlement(engines, cases, UNITS, GENERATED_GROUPS, GENERATED_REFS, SCORES, p,
                           dated)
