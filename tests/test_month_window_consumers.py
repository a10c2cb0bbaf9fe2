"""A month run over big tables used where they lie (typed Parquet, :mod:`settlement.in_place`).

The loader keeps only the year to date of a month run's big tables (``where``: 1 January … the
month's last day), and for a file used in place records it as ``SpilledTable.kept`` /
``.window`` — but ``SpilledTable.path`` is the user's whole file, every month of the year. Every
consumer of the month run (the pre-settlement, the bulletin: indicator counts, expenditure
lines, case flows, unit CMI, the year's packages) must see only the year to date.

The data: the tiny county's year, one copy of four cases and four claims in every month of
2025 (cases at H1 tertiary / H2 secondary / T2 primary / X1 external, claims at H1, T1, V2, X1),
and of December 2024 and January 2026 under June 2025's ids (an export spanning years, whose
numbers restart each year: a consumer that read the whole file would count June twice more or
join the wrong case), as typed Parquet used in place (a small file counts as big:
``SpillPolicy(min_rows=0)``), on both scan engines. The month run of June is compared with

* the figures written out from June's rows (configs/sample-county.yaml: budget point value
  12.50 元/分, withhold 5 %, ratio 0.9; tertiary coefficient 1.0, secondary 0.9, basic groups 1):
  H1 · G1 271.25 points × 12.50 = 3,390.625 → 3,390.63 − self-pay 536.54 = 2,854.09; withheld
  142.7045 → 142.70; paid 2,711.39 × 0.9 = 2,440.251 → 2,440.25. H2 · G1 × 0.9 = 244.125 points
  → 3,051.56 − 1,000.00 − violation 120.00 = 1,931.56; withheld 96.58; paid 1,651.48. T2 · G2
  (basic) 120.5 points → 1,506.25 − 400.00 = 1,106.25; withheld 55.3125 → 55.31; paid
  1,050.94 × 0.9 = 945.846 → 945.85. 住院人次: June 4, Q2 12, (year to date 24);
* the same month run on a CSV folder holding only January–June's rows (frames, no window):
  every stored result and every bulletin table identical.

The consumers of a month run that take the big tables, each bounded on both sides by a date
window inside 1 January … the month's end, on the column the loader's ``where`` filtered:
the pre-settlement's month (``presettle.discharged``), the bulletin's year to date scored at
the budget value (``presettle.year_to_date_cases``), the indicator counts by period, the
expenditure lines by period, the case flows of the year to date; the year's packages take the
big tables without their rows (``bulletin_inputs.empty_big_tables``); the checks read the
file under the window's predicate (``validation.sql_checks``). Two helpers not reached by a
month run are bounded too: ``bulletin_tables.with_discharge`` reads a spilled table's own rows
(its ``kept``), and ``presettle.discharged`` without a first day starts at 1 January.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from fixtures.tiny_county import tiny_county, write_folder
from settlement.spill import SPILLED_TABLES, SpilledTable, SpillPolicy
from settlement.store import RunStore
from test_in_place import typed_folder

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "sample-county.yaml"
MONTH = "2025-06"


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def y(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


def a_year(others: bool = True) -> dict[str, list[dict]]:
    """The tiny county with K001, K003, K004, K006 and M001–M004 copied into every month of
    2025; ``others``: and into December 2024 and January 2026 under the ids of June 2025 (an
    export spanning years, whose case numbers restart each year)."""
    tables = tiny_county()
    cases = {c["case_id"]: c for c in tables["inpatient_cases"]}
    claims = tables["outpatient_claims"]
    tables["inpatient_cases"], tables["outpatient_claims"] = [], []
    months = [(2025, m, m) for m in range(1, 13)]
    months = ([(2024, 12, 6)] if others else []) + months + ([(2026, 1, 6)] if others else [])
    for year, m, named in months:
        for j, key in enumerate(("K001", "K003", "K004", "K006")):
            tables["inpatient_cases"].append({
                **cases[key], "case_id": f"K{named:02d}{j}", "person_id": f"P{named:02d}{j}",
                "admission_date": f"{year}-{m:02d}-02", "discharge_date": f"{year}-{m:02d}-10",
                "special_points": ""})
        for j, claim in enumerate(claims):
            tables["outpatient_claims"].append({
                **claim, "claim_id": f"M{named:02d}{j}", "person_id": f"Q{named:02d}{j}",
                "service_date": f"{year}-{m:02d}-{10 + j:02d}"})
    tables["prepayments"] = [r for r in tables["prepayments"] if r["fund"] != "dip"]
    return tables


def month_run(folder: Path, root: Path, monkeypatch, min_rows: int | None):
    """(what the run saw: its big tables, their kept rows and windows, its bulletin; the stored
    dip_presettlement; the stored indicators) of the month run of MONTH."""
    from settlement.monthly import run_month as rm
    from settlement.pipeline import SPILL_FOLDER, input_cache

    seen = {}
    if min_rows is not None:
        monkeypatch.setattr(rm, "_spill", lambda work, run_dir: SpillPolicy(
            work / SPILL_FOLDER, cache=input_cache(run_dir.parent), min_rows=min_rows))
    load, bulletin = rm.load_month, rm._bulletin

    def loading(*args, **kwargs):
        out = load(*args, **kwargs)
        seen["tables"] = {t: out[2].tables[t] for t in SPILLED_TABLES}
        seen["kept"] = {t: getattr(x, "kept", None) for t, x in seen["tables"].items()}
        seen["window"] = {t: getattr(x, "window", None) for t, x in seen["tables"].items()}
        return out

    def bulletin_of(*args, **kwargs):
        seen["bulletin"] = bulletin(*args, **kwargs)
        return seen["bulletin"]

    monkeypatch.setattr(rm, "load_month", loading)
    monkeypatch.setattr(rm, "_bulletin", bulletin_of)
    db = f"sqlite:///{root / 'runs.db'}"
    outcome = rm.run_month(CONFIG, folder, root / "reports", db, MONTH, progress=False,
                           echo=lambda *a, **k: None)
    assert outcome.ok, outcome.problems
    with RunStore.open(db) as store:
        pre = store.load_results(outcome.run_id, "dip_presettlement")
        ind = store.load_results(outcome.run_id, "indicators")
    return seen, pre, ind


@pytest.fixture(scope="module")
def year_folder(tmp_path_factory):
    return typed_folder(tmp_path_factory.mktemp("year") / "data", a_year())


@pytest.fixture(scope="module")
def from_frames(tmp_path_factory):
    """The same month run from a CSV folder of January–June 2025's rows only, read whole."""
    tables = a_year(others=False)
    tables["inpatient_cases"] = [c for c in tables["inpatient_cases"] if c["discharge_date"] < "2025-07"]
    tables["outpatient_claims"] = [c for c in tables["outpatient_claims"] if c["service_date"] < "2025-07"]
    root = tmp_path_factory.mktemp("ytd")
    with pytest.MonkeyPatch.context() as monkeypatch:
        whole = month_run(write_folder(root / "data", tables), root, monkeypatch, min_rows=None)
    assert all(isinstance(whole[0]["tables"][t], pd.DataFrame) for t in SPILLED_TABLES)
    return whole


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_a_month_run_over_files_in_place_sees_only_the_year_to_date(year_folder, from_frames, tmp_path,
                                                                      monkeypatch, engine):
    monkeypatch.setenv("SETTLEMENT_SCAN_ENGINE", engine)
    assert pq_rows(year_folder / "inpatient_cases.parquet") == 14 * 4  # 2024-12, 2025, 2026-01
    placed, pre, ind = month_run(year_folder, tmp_path / "placed", monkeypatch, min_rows=0)
    for name in SPILLED_TABLES:  # the whole year lies in the file, the run keeps January–June
        table = placed["tables"][name]
        assert isinstance(table, SpilledTable) and not table.row_column, name  # used in place
        assert placed["kept"][name] is not None and len(table) == 24, name
        assert table.path.suffix == ".parquet" and table.window is not None
    pre = pre.set_index("unit_id")
    assert sorted(pre.index) == ["H1", "H2", "T2"]
    assert pre["paid"].to_dict() == {"H1": y("2440.25"), "H2": y("1651.48"), "T2": y("945.85")}
    assert pre["amount"].to_dict() == {"H1": y("2854.09"), "H2": y("1931.56"), "T2": y("1106.25")}
    assert pre["withheld"].to_dict() == {"H1": y("142.70"), "H2": y("96.58"), "T2": y("55.31")}
    assert (pre["paid_to_date"] == pre["paid"]).all()  # no earlier month recorded
    cases = ind.set_index(["scope", "period", "indicator"]).xs("inpatient_cases", level="indicator")
    assert (cases.loc[("county", "2025-06"), "value"], cases.loc[("county", "2025Q2"), "value"]) == (4, 12)
    bulletin = placed["bulletin"]
    unit_cmi = bulletin.unit_cmi.set_index("unit_id")
    assert unit_cmi.loc["H1", "cases"] == 1 and unit_cmi.loc["H1", "cases_prev"] == 1
    flows = bulletin.destinations.set_index("unit_id")  # the year to date's cases at X1: six
    assert flows.loc["X1", "cases"] == 6 and flows.loc["X1", "fund_paid"] == 6 * y("6000.00")
    execution = bulletin.execution.set_index("community_id")
    # spent in June: C1 · H1's fund due at the budget value 2,854.09 + claims at H1 32.40 and
    # T1 90.00 = 2,976.49; C2 · H2 1,931.56 + T2 1,106.25 + the case at X1 6,000.00 + claims at
    # V2 20.00 and X1 250.00 = 9,307.81; every month alike, so the year to date is six of them
    spent = {"C1": y("2976.49"), "C2": y("9307.81"), "county": y("2976.49") + y("9307.81")}
    assert execution["spent_month"].to_dict() == spent
    assert execution["spent_ytd"].to_dict() == {k: 6 * v for k, v in spent.items()}

    # the same month from a folder holding only January–June, read whole as frames
    whole, pre_whole, ind_whole = from_frames
    assert_frame_equal(pre.reset_index(), pre_whole, check_like=True)
    assert_frame_equal(ind, ind_whole)
    for field in ("indicators", "execution", "projection", "destinations", "outflow_groups", "unit_cmi"):
        assert_frame_equal(getattr(bulletin, field), getattr(whole["bulletin"], field), obj=field)
    assert [w.message_zh for w in bulletin.warnings] == [w.message_zh for w in whole["bulletin"].warnings]


def test_discharge_dates_of_a_file_in_place_are_the_windows_rows(year_folder, tmp_path):
    """The DIP rows' discharge dates from a case table used in place under June's window:
    K060 is June 2025's case (the file's K060 of December 2024 and January 2026 are not the
    table's rows), K010 January's."""
    import datetime as dt

    from settlement.loader import load_folder
    from settlement.monthly.bulletin_tables import with_discharge
    from settlement.monthly.month_inputs import year_to_date_where

    loaded = load_folder(year_folder, where=year_to_date_where(year_folder, MONTH),
                         spill=SpillPolicy(tmp_path / "s", min_rows=0))
    cases = loaded.tables["inpatient_cases"]
    assert isinstance(cases, SpilledTable) and cases.kept is not None and len(cases) == 24
    got = with_discharge(pd.DataFrame({"case_id": ["K060", "K010"]}), cases)
    assert [d.date() for d in got["discharge_date"]] == [dt.date(2025, 6, 10), dt.date(2025, 1, 10)]


@pytest.mark.parametrize("as_frame", [False, True])
def test_discharged_without_a_first_day_starts_at_1_january(year_folder, as_frame):
    """``presettle.discharged(cases, None, last)``: from 1 January of ``last``'s year. The file
    holds 4 cases in each of December 2024, every month of 2025 and January 2026 (discharged on
    the 10th); to 30 June 2025 that is January–June 2025: 6 × 4 = 24 cases, none of December
    2024 (K060–K063 of 2024-12-10 share June's ids) — as a Parquet path and as a frame."""
    import datetime as dt

    from settlement.monthly.presettle import discharged
    from settlement.scan.frames import read

    cases = year_folder / "inpatient_cases.parquet"
    if as_frame:
        cases = read(cases, ["case_id", "discharge_date", "unit_id"])
        assert len(cases) == 14 * 4
    got = discharged(cases, None, dt.date(2025, 6, 30))
    days = sorted({d.date() for d in got["discharge_date"]})
    assert days == [dt.date(2025, m, 10) for m in range(1, 7)]
    assert len(got) == 24 and sorted(got["case_id"]) == sorted(
        f"K{m:02d}{j}" for m in range(1, 7) for j in range(4))
    same = discharged(cases, dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    assert_frame_equal(got, same)
