"""Monthly DIP pre-settlement and the year-end clearing that uses it (issue 10 points 1, 2).

Parameters of configs/sample-county.yaml used below: budget point value 12.50 元/分, quality
withhold 5 %, pre-settlement ratio 0.9, tertiary coefficient 1.0, basic groups coefficient 1.
Every expected amount is derived in the test from the tiny county's rows.

Rounding, stated once ("the same way"): a unit-month's money is rounded once — fen(Σ points ×
budget value) per unit and month, withheld and paid half up per unit-month. The year re-priced
the same way is the year's own DIP scoring (one settle_dip over all twelve months) grouped by
unit and discharge month and priced per unit-month with that rule.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.tiny_county import tiny_county, write_folder
from settlement.money import fen_of, mul_fen
from settlement.monthly.clearing import with_recorded_months
from settlement.monthly.presettle import presettle_month
from settlement.monthly.recorded import recorded_presettlements
from settlement.pipeline import load_and_validate, run_settlement
from settlement.dip.stage import settle_dip
from settlement.store import RunStore
from settlement.store.views import runs_table
from test_dip import GROUPS, REFS, UNITS, cases_frame, params, scores_frame

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "sample-county.yaml"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = write_folder(tmp_path_factory.mktemp("tiny"))
    _, resolved, loaded, problems = load_and_validate(CONFIG, folder)
    assert not [p for p in problems if p.severity == "error"]
    return folder, resolved, loaded


def y(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


def test_hand_built_month(tiny):
    _, resolved, loaded = tiny
    result = presettle_month(loaded.tables, resolved.params.dip, "2025-01",
                             pd.Series({"H1": y("100.00")}), resolved.section_segments("dip"))
    t = result.table.set_index("unit_id")
    assert list(t.index) == ["H1", "T1"]  # K001 (H1) and K002 (T1) left in January
    # H1 · K001: G1 at tertiary, 3,522.38 / 3,294.71 = 1.069 → normal, 271.25 points × 1.0
    # 271.25 × 12.50 = 3,390.625 → 3,390.63; − self-pay 536.54 = 2,854.09;
    # withheld 5 % = 142.7045 → 142.70; paid (2,854.09 − 142.70) × 0.9 = 2,440.251 → 2,440.25
    h1 = t.loc["H1"]
    assert h1["points"] == 271.25 and h1["budget_point_value"] == "12.5"
    assert (h1["amount"], h1["withheld"], h1["paid"]) == (y("2854.09"), y("142.70"), y("2440.25"))
    assert h1["paid_to_date"] == y("2440.25") + y("100.00")
    # T1 · K002: G2 (basic: coefficient 1) at primary, 1,400 / 1,500 = 0.93 → 120.5 points;
    # 120.5 × 12.50 = 1,506.25 − 300.00 = 1,206.25; withheld 60.3125 → 60.31;
    # paid 1,145.94 × 0.9 = 1,031.346 → 1,031.35
    t1 = t.loc["T1"]
    assert (t1["amount"], t1["withheld"], t1["paid"], t1["paid_to_date"]) == (
        y("1206.25"), y("60.31"), y("1031.35"), y("1031.35"))
    assert result.problems == []


def test_month_without_cases_keeps_earlier_payments_and_at_cost(tiny):
    _, resolved, loaded = tiny
    # July: only K005, H1, unmatched, paid at cost 600.00 (no points): withheld 30.00,
    # paid (600 − 30) × 0.9 = 513.00; T1 has no July case but was paid 1,031.35 before
    result = presettle_month(loaded.tables, resolved.params.dip, "2025-07",
                             pd.Series({"T1": y("1031.35")}), resolved.section_segments("dip"))
    t = result.table.set_index("unit_id")
    assert (t.loc["H1", "amount"], t.loc["H1", "withheld"], t.loc["H1", "paid"]) == (
        y("600.00"), y("30.00"), y("513.00"))
    assert (t.loc["T1", "paid"], t.loc["T1", "paid_to_date"]) == (0, y("1031.35"))


def test_missing_ratio_is_an_error(tiny):
    _, resolved, loaded = tiny
    dip = resolved.params.dip.model_copy(update={"presettlement_ratio": None})
    result = presettle_month(loaded.tables, dip, "2025-01")
    assert [p.rule for p in result.problems] == ["dip.presettlement_ratio"]
    assert result.problems[0].severity == "error" and result.table.empty


# ------------------------------------------------------------------ twelve months = the year
MONTH_PARAMS = params(budget_point_value="19.37", presettlement_ratio="0.9",
                      quality_withhold_rate="0.05")
SCORES = scores_frame({"H3": 90, "H2": 80, "HX": 70, "T1": 60})
case_rows = st.lists(st.fixed_dictionaries({
    "unit_id": st.sampled_from(["H3", "H2", "HX", "T1"]),
    "dip_group": st.sampled_from(["G500", "B100"]),
    "total_cost": st.integers(100, 60_000),
    "self_pay": st.integers(0, 900),
    "violation_deduction": st.sampled_from([0, 0, 0, 37]),
    "month": st.integers(1, 12), "day": st.integers(1, 28)}), min_size=1, max_size=40)


def _year_cases(rows) -> pd.DataFrame:
    cases = cases_frame(rows)
    days = pd.to_datetime([f"2025-{r['month']:02d}-{r['day']:02d}" for r in rows])
    return cases.assign(admission_date=days, discharge_date=days)


def _repriced_year(cases: pd.DataFrame) -> pd.Series:
    """Σ over months of paid, from the year's own scoring, priced per unit-month."""
    year = settle_dip(cases, UNITS, GROUPS, REFS, SCORES, None, MONTH_PARAMS, explain="none")
    by_id = cases.set_index("case_id")
    c = year.cases.assign(month=by_id.loc[year.cases["case_id"].astype(str), "discharge_date"]
                          .dt.month.to_numpy(),
                          units=np.rint(year.cases["points"] * 1e4).astype("int64"),
                          self_pay=by_id.loc[year.cases["case_id"].astype(str), "self_pay"].to_numpy(),
                          violation=by_id.loc[year.cases["case_id"].astype(str),
                                              "violation_deduction"].to_numpy())
    paid = {}
    for (unit, _), g in c.groupby([c["unit_id"].astype(str), "month"]):
        gross = fen_of(Decimal(int(g["units"].sum())).scaleb(-4) * Decimal("19.37"))
        amount = gross - int(g["self_pay"].sum()) - int(g["violation"].sum())
        withheld = mul_fen(max(amount, 0), Decimal("0.05"))
        paid[unit] = paid.get(unit, 0) + mul_fen(amount - withheld, Decimal("0.9"))
    return pd.Series(paid, dtype="int64").sort_index()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_rows)
def test_twelve_months_equal_the_year_repriced(rows):
    cases = _year_cases(rows)
    t = {"inpatient_cases": cases, "units": UNITS, "dip_groups": GROUPS,
         "dip_reference_costs": REFS, "performance_scores": SCORES}
    before, last = pd.Series(dtype="int64"), {}
    for m in range(1, 13):
        table = presettle_month(t, MONTH_PARAMS, f"2025-{m:02d}", before).table
        months = table.set_index("unit_id")
        before = months["paid_to_date"].astype("int64")
        last.update(before.to_dict())
    expected = _repriced_year(cases)
    got = pd.Series(last, dtype="int64").reindex(expected.index)
    pd.testing.assert_series_equal(got, expected, check_names=False)


# ------------------------------------------------------------------ clearing (pure)
def _prepayments(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["payment_id", "payee_id", "fund", "period", "amount"])
    return frame.astype({c: "string" for c in ("payment_id", "payee_id", "fund", "period")}
                        | {"amount": "int64"})


RECORDED = pd.DataFrame({"unit_id": ["H1", "H1", "T1"], "month": ["2025-01", "2025-02", "2025-01"],
                         "paid": [y("2440.25"), y("10.00"), y("1031.35")], "run_id": "R"})


def test_no_dip_prepayments_take_the_recorded_months():
    given = _prepayments([("Y2", "C1", "package", "2025Q1", y("5.00"))])
    used, problems = with_recorded_months(given, RECORDED)
    dip = used.loc[used["fund"].eq("dip")]
    assert dip.groupby("payee_id")["amount"].sum().to_dict() == {"H1": y("2450.25"), "T1": y("1031.35")}
    assert len(used) == 4 and [p.rule for p in problems] == ["dip.presettlement_recorded"]


def test_dip_prepayments_are_reconciled_per_unit_and_month():
    given = _prepayments([("Y1", "H1", "dip", "2025-01", y("2440.25")),
                          ("Y2", "H1", "dip", "2025-02", y("11.00")),
                          ("Y3", "H2", "dip", "2025-01", y("3.00"))])
    used, problems = with_recorded_months(given, RECORDED)
    assert used is given  # the bureau's own record stays the prepaid
    found = {p.value: p.message_zh for p in problems}
    assert [p.rule for p in problems] == ["dip.presettlement_mismatch"] * 3
    assert set(found) == {"H1 2025-02", "H2 2025-01", "T1 2025-01"}  # H1 2025-01 agrees
    assert "预付款表 11.00 元，本系统记录的月度预结算 10.00 元，差额 1.00 元" in found["H1 2025-02"]
    assert "预付款表 0.00 元，本系统记录的月度预结算 1,031.35 元" in found["T1 2025-01"]


# ------------------------------------------------------------------ runs (store + files)
def test_month_runs_then_year_end_uses_them(tmp_path):
    from settlement.monthly.run_month import run_month

    tables = tiny_county()
    tables["prepayments"] = [r for r in tables["prepayments"] if r["fund"] != "dip"]
    folder = write_folder(tmp_path / "data", tables)
    db, out = f"sqlite:///{tmp_path / 'runs.db'}", tmp_path / "reports"
    quiet = lambda *a, **k: None  # noqa: E731
    first = run_month(CONFIG, folder, out, db, "2025-01", progress=False, echo=quiet)
    again = run_month(CONFIG, folder, out, db, "2025-01", progress=False, echo=quiet)  # a re-run
    march = run_month(CONFIG, folder, out, db, "2025-03", progress=False, echo=quiet)
    assert first.ok and again.ok and march.ok
    assert (march.run_dir / "月度预结算拨付清单.xlsx").exists()
    assert sorted(p.name for p in (march.run_dir / "units").iterdir()) == [
        "H1_县人民医院.xlsx", "H2_县第二人民医院.xlsx", "T1_城关镇卫生院.xlsx"]
    with RunStore.open(db) as store:
        assert store.get_run(first.run_id).superseded_by == again.run_id
        assert store.get_run(march.run_id).kind == "month"
        mar = store.load_results(march.run_id, "dip_presettlement").set_index("unit_id")
        recorded = recorded_presettlements(store.engine, "示例县", 2025)
    # March: H2 · K003 G1 secondary, 6,000 / 3,019.99 = 1.99 → normal, 271.25 × 0.9 = 244.125
    # points × 12.50 = 3,051.5625 → 3,051.56 − 1,000.00 − 120.00 = 1,931.56; withheld 96.578
    # → 96.58; paid 1,834.98 × 0.9 = 1,651.482 → 1,651.48. H1 paid 2,440.25 in January only.
    assert (mar.loc["H2", "paid"], mar.loc["H2", "paid_to_date"]) == (y("1651.48"), y("1651.48"))
    assert (mar.loc["H1", "paid"], mar.loc["H1", "paid_to_date"]) == (0, y("2440.25"))
    assert set(recorded["run_id"]) == {again.run_id, march.run_id}  # the superseded run is out
    with RunStore.open(db) as store:
        listing = "\n".join(runs_table(store.list_runs()))
        totals = store.key_totals(march.run_id)
    assert "2025-03 月度 month" in listing
    # its indicators are stored by period: March (K003 of C2 only) and Q1, which March closes
    # (K001, K002 of C1, K003 of C2); C1's Q1 outpatient claims M001 at H1 and M002 at T1: 基层
    # 门急诊占比 1 ÷ 2 = 50 % < target 62 % → not met
    with RunStore.open(db) as store:
        ind = store.load_results(march.run_id, "indicators").set_index(["scope", "period", "indicator"])
    assert set(ind.index.get_level_values("period")) == {"2025-03", "2025Q1"}
    cases = ind.xs("inpatient_cases", level="indicator")["value"]
    assert (cases[("county", "2025-03")], cases[("C2", "2025-03")], cases[("C1", "2025-03")]) == (1, 1, 0)
    assert (cases[("county", "2025Q1")], cases[("C1", "2025Q1")]) == (3, 2)
    share = ind.loc[("C1", "2025Q1", "primary_outpatient_share")]
    assert (share["numerator"], share["denominator"], share["value"]) == (1, 2, 0.5)
    assert not share["met"]
    assert totals["dip_presettlement.paid"] == y("1651.48")
    assert totals["dip_presettlement.paid_to_date"] == y("1651.48") + y("2440.25") + y("1031.35")
    year = run_settlement(CONFIG, folder, out, db, progress=False, echo=quiet)
    assert year.ok
    units = pd.read_csv(year.run_dir / "results" / "dip_units.csv", dtype={"unit_id": str}).set_index("unit_id")
    assert units.loc["H1", "prepaid"] == pytest.approx(2440.25)
    assert units.loc["T1", "prepaid"] == pytest.approx(1031.35)
    assert units.loc["H2", "prepaid"] == pytest.approx(1651.48)
    assert "dip.presettlement_recorded" in {p.rule for p in year.problems}
    with RunStore.open(db) as store:  # the year run: its indicators are the year's, its plan stored
        assert set(store.load_results(year.run_id, "indicators")["period"]) == {"2025"}
        plan = store.load_results(year.run_id, "public_health_plan")
    written = pd.read_csv(year.run_dir / "results" / "public_health_plan.csv", dtype=str)
    assert len(plan) == len(written) > 0
    assert plan["quarter"].tolist() == written["quarter"].fillna("").tolist()


def test_month_run_is_not_stopped_by_a_closed_year_and_never_closes(tmp_path):
    from settlement.monthly.run_month import run_month
    from settlement.store import PeriodRuleBroken

    folder = write_folder(tmp_path / "data")
    db, out = f"sqlite:///{tmp_path / 'runs.db'}", tmp_path / "reports"
    quiet = lambda *a, **k: None  # noqa: E731
    year = run_settlement(CONFIG, folder, out, db, progress=False, echo=quiet)
    with RunStore.open(db) as store:
        store.close_period(year.run_id)
    month = run_month(CONFIG, folder, out, db, "2025-12", progress=False, echo=quiet)
    assert month.ok
    with RunStore.open(db) as store, pytest.raises(PeriodRuleBroken, match="月度预结算不关账"):
        store.close_period(month.run_id)


def test_month_outside_the_year_is_refused(tmp_path):
    from settlement.monthly.run_month import run_month

    said = []
    out = run_month(CONFIG, tmp_path, tmp_path, f"sqlite:///{tmp_path / 'x.db'}", "2024-12",
                    echo=said.append)
    assert not out.ok and "不在结算年度 2025 内" in said[-1]


def test_revision_0007_marks_earlier_runs_as_year_runs_and_downgrades(tmp_path):
    import sqlalchemy as sa
    from alembic import command

    from settlement.store import db

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine, "0006")
    with engine.begin() as conn:  # a run written by the code of revision 0006
        conn.exec_driver_sql("INSERT INTO runs (run_id, county, year, scenario, status, started_at, "
                             "closed, interrupted) VALUES ('R1', 'X', 2025, 'base', 'succeeded', "
                             "'2025-01-01', 0, 0)")
    db.upgrade(engine, "0007")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT kind, month FROM runs").all() == [("year", None)]
    with engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0006")
    names = [c["name"] for c in sa.inspect(engine).get_columns("runs")]
    assert "kind" not in names and not sa.inspect(engine).has_table("dip_presettlement")
    engine.dispose()
