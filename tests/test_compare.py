"""Scenario comparison (方案对比): A | B | B−A per community, tier and unit; parameters; 对比.xlsx."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from settlement.cli import main
from settlement.compare import compare_frames, summary_lines
from settlement.compare.params import RunParameters, parameter_differences
from settlement.config import ResolvedValue
from settlement.store import RunStore

ROOT = Path(__file__).resolve().parents[1]


class Run:  # the few RunRecord fields a comparison shows
    def __init__(self, run_id, scenario):
        self.run_id, self.scenario, self.county, self.year = run_id, scenario, "示例县", 2025


def results(retained: int, shares: dict[str, tuple[str, str, int]], nets: dict[str, int]) -> dict:
    cs = pd.DataFrame({"community_id": ["C1"], "package": [10_000_000], "expenditure": [9_000_000],
                       "balance": [1_000_000], "surplus_retained": [retained],
                       "surplus_returned": [1_000_000 - retained], "overrun_fund_share": [0],
                       "overrun_community_share": [0]})
    dist = pd.DataFrame([{"unit_id": u, "community_id": "C1", "tier": t, "surplus_share": s,
                          "overrun_share": 0} for u, (t, _, s) in shares.items()],
                        columns=["unit_id", "community_id", "tier", "surplus_share", "overrun_share"])
    statement = pd.DataFrame([{"unit_id": u, "line": "net", "amount": a} for u, a in nets.items()])
    return {"community_settlement": cs, "unit_distribution": dist, "unit_statement": statement}


def test_side_by_side_per_community_tier_and_unit():
    # A retains 8,000.00 of a 10,000.00 surplus (6 : 4), B retains 9,000.00 and V2 joins the villages.
    a = results(800_000, {"H1": ("county", "县级医院", 480_000), "V1": ("village", "村卫生室", 320_000)},
                {"H1": 500_000, "V1": 330_000})
    b = results(900_000, {"H1": ("county", "县级医院", 540_000), "V1": ("village", "村卫生室", 200_000),
                          "V2": ("village", "村卫生室", 160_000)},
                {"H1": 560_000, "V1": 210_000, "V2": 160_000})
    labels = RunParameters({}, tier_labels={"county": "县级医院", "village": "村卫生室"})
    c = compare_frames(a, b, labels, labels, Run("A1", "base"), Run("B1", "what-if"))

    retained = c.communities.set_index("item").loc["surplus_retained"]
    assert (retained["a"], retained["b"], retained["diff"]) == (800_000, 900_000, 100_000)
    assert c.communities.set_index("item").loc["package", "diff"] == 0

    tiers = c.tiers.set_index("tier")
    assert tiers.loc["county", "diff"] == 540_000 - 480_000
    assert tiers.loc["village", "diff"] == (200_000 + 160_000) - 320_000
    assert tiers.loc["village", "tier_label"] == "村卫生室"

    units = c.units.set_index("unit_id")
    assert units.loc["V1", "diff"] == 210_000 - 330_000
    assert list(c.units["unit_id"]) == ["V2", "V1", "H1"]  # |+160,000| > |−120,000| > |+60,000|
    assert units.loc["V2", ["a", "b", "only_in"]].tolist() == [0, 160_000, "B"]
    assert units.loc["H1", "surplus_share_diff"] == 60_000


def test_units_are_sorted_by_size_of_change():
    a = results(0, {}, {"U1": 100, "U2": 100, "U3": 100})
    b = results(0, {}, {"U1": 150, "U2": -900, "U3": 100})
    c = compare_frames(a, b, RunParameters({}), RunParameters({}), Run("A", "a"), Run("B", "b"))
    assert list(c.units["unit_id"]) == ["U2", "U1", "U3"]
    assert list(c.units["diff"]) == [-1000, 50, 0]
    text = "\n".join(summary_lines(c))
    assert "2 家成员单位结算净额变化（增加 1 家，减少 1 家）" in text
    assert "减少最多：U2  −10.00" in text


def trace(path, value, reference, label="保底"):
    return ResolvedValue(path, value, "ratio", reference, dt.date(2023, 1, 1), label)


def test_parameter_differences_name_both_values_and_their_sources():
    a = {"x.floor": trace("x.floor", 0.10, "示医保发〔2024〕3号"), "x.same": trace("x.same", 1, "doc")}
    b = {"x.floor": trace("x.floor", 0.15, "测算情景"), "x.same": trace("x.same", 1, "other doc"),
         "x.new": trace("x.new", 2, "新文件", "新增")}
    diff = parameter_differences(a, b).set_index("path")
    assert list(diff.index) == ["x.floor", "x.new"]  # equal values are not listed, whatever the source
    assert diff.loc["x.floor", ["value_a", "value_b"]].tolist() == ["0.1", "0.15"]
    assert diff.loc["x.floor", "source_a"] == "示医保发〔2024〕3号（自 2023-01-01 起）"
    assert diff.loc["x.floor", "source_b"] == "测算情景（自 2023-01-01 起）"
    assert diff.loc["x.new", "source_a"] == "（未设置 not set）"


@pytest.fixture(scope="module")
def scenario_run(tmp_path_factory):
    """The sample county, base and the 15 % village-floor scenario, in one command."""
    tmp = tmp_path_factory.mktemp("compare")
    db = f"sqlite:///{tmp / 'runs.db'}"
    result = CliRunner().invoke(main, [
        "run", "--config", str(ROOT / "configs/sample-county.yaml"), "--data", str(ROOT / "sample_data"),
        "--scenario", str(ROOT / "configs/examples/village-floor-15.yaml"),
        "--out", str(tmp / "reports"), "--db", db, "--quiet"])
    assert result.exit_code == 0, result.output
    with RunStore.open_existing(db) as store:
        runs = store.list_runs()
        retained = store.load_results(runs[0].run_id, "community_settlement")
    return tmp, db, runs, retained, result.output


def test_run_with_a_scenario_runs_both_and_writes_the_comparison(scenario_run):
    tmp, _, runs, retained, output = scenario_run
    assert [r.scenario for r in runs] == ["base", "village-floor-15"]
    book_path = tmp / "reports" / runs[1].run_id / "对比.xlsx"
    book = openpyxl.load_workbook(book_path)
    assert book.sheetnames == ["摘要", "医共体", "分层", "成员单位", "参数差异"]
    with zipfile.ZipFile(book_path) as z:
        assert sum(n.startswith("xl/charts/chart") for n in z.namelist()) == 2

    tiers = {(r[0], r[1]): r[4] for r in book["分层"].iter_rows(min_row=2, values_only=True)}
    gt01 = int(retained.set_index("community_id").loc["GT01", "surplus_retained"])
    # 6 : 3 : 1 gives the villages exactly 10 % of what GT01 retains; the floor lifts it to 15 %:
    # +5 % of the retained surplus (the allocator's rounding moves it by at most a fen).
    assert abs(float(tiers[("GT01", "村卫生室")]) * 100 - gt01 * 0.05) <= 1
    for cid in ("GT01", "GT02"):  # the community's amount is unchanged: tiers trade among themselves
        assert round(sum(float(v) for (c, _), v in tiers.items() if c == cid), 2) == 0
    params = list(book["参数差异"].iter_rows(min_row=2, values_only=True))
    assert [p[0] for p in params] == ["distribution.tiers"]
    assert "测算情景" in params[0][5]
    assert "分层净额变化：GT01 县级医院 −" in output
    assert "参数不同 1 项" in output


def test_compare_command_on_two_stored_runs(scenario_run, tmp_path):
    _, db, runs, _, _ = scenario_run
    out = tmp_path / "对比.xlsx"
    result = CliRunner().invoke(main, ["compare", runs[1].run_id, runs[0].run_id, "--db", db,
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    units = list(openpyxl.load_workbook(out)["成员单位"].iter_rows(min_row=2, values_only=True))
    assert round(sum(float(u[6]) for u in units), 2) == 0  # Σ unit changes: the money only moved
    assert f"A = {runs[1].run_id}（village-floor-15）" in result.output


def test_compare_an_unknown_run_is_a_clear_error(scenario_run):
    _, db, runs, _, _ = scenario_run
    result = CliRunner().invoke(main, ["compare", runs[0].run_id, "NO-SUCH-RUN", "--db", db])
    assert result.exit_code == 1
    assert "找不到结算记录" in result.output


def test_an_overlay_of_another_base_is_named(tmp_path):
    from settlement.cli_console import _overlays

    base = ROOT / "configs/sample-county.yaml"
    assert _overlays(ROOT / "configs/examples/village-floor-15.yaml", base)
    assert not _overlays(ROOT / "configs/examples/village-floor-15.yaml", tmp_path / "other.yaml")
    assert not _overlays(base, base)  # a full config is no overlay
