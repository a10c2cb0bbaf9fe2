"""Scenario comparison (方案对比): two recorded runs side by side, what moved and why.

    comparison = compare_runs(store, "RUN_A", "RUN_B")   # results from the run store
    write_comparison(comparison, Path("对比.xlsx"))       # workbook with charts
    for line in console_lines(comparison): print(line)   # the same in the console

Per community (key figures), per distribution tier and per unit (net statement balance and
distribution shares) each result of A and B is shown with the difference B − A; the
parameters that differ are listed with the document each comes from; :func:`summary_lines`
says in a few Chinese sentences what moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from settlement.compare.diff import compare_communities, compare_tiers, compare_units
from settlement.compare.params import RunParameters, parameter_differences, run_parameters
from settlement.money import yuan_display
from settlement.stages.distribution import EXCLUDED

RESULTS = ("community_settlement", "unit_distribution", "unit_statement")


@dataclass
class Comparison:
    """Everything a comparison shows (money int64 fen)."""

    run_a: object  # RunRecord
    run_b: object
    communities: pd.DataFrame
    tiers: pd.DataFrame
    units: pd.DataFrame
    parameters: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> list[str]:
        return summary_lines(self)


def signed(fen: int) -> str:
    """'+1,234.56' / '−1,234.56' / '0.00' (yuan, for sentences)."""
    if fen == 0:
        return "0.00"
    return ("+" if fen > 0 else "−") + yuan_display(abs(int(fen)))


def compare_frames(results_a: dict, results_b: dict, params_a: RunParameters, params_b: RunParameters,
                   run_a=None, run_b=None, unit_names: dict | None = None) -> Comparison:
    """The comparison from two runs' result frames and parameters (pure)."""
    labels = {EXCLUDED: "不参与分配", **(params_b.tier_labels or {}), **(params_a.tier_labels or {})}
    notes = [n for n in (params_a.note, params_b.note) if n]
    if params_a.trace is not None and params_b.trace is not None:
        parameters = parameter_differences(params_a.trace, params_b.trace)
    else:
        parameters = parameter_differences({}, {})
    return Comparison(
        run_a, run_b,
        communities=compare_communities(results_a["community_settlement"], results_b["community_settlement"]),
        tiers=compare_tiers(results_a["unit_distribution"], results_b["unit_distribution"], labels),
        units=compare_units(results_a["unit_statement"], results_b["unit_statement"],
                            results_a["unit_distribution"], results_b["unit_distribution"], unit_names),
        parameters=parameters, notes=notes)


def compare_runs(store, run_a: str, run_b: str) -> Comparison:
    """Load both runs from the run store (:meth:`RunStore.load_results`) and compare them."""
    records = [store.get_run(r) for r in (run_a, run_b)]
    for record in records:
        if record.status != "succeeded":
            from settlement.store import StoreError
            raise StoreError(f"结算 {record.run_id} 状态为 {record.status}，没有可对比的结果 / "
                             f"run is {record.status}: no results to compare")
    results = [{t: store.load_results(r.run_id, t) for t in RESULTS} for r in records]
    params = [run_parameters(r.config_path, r.config_sha256, r.year) for r in records]
    names = {}
    for record in reversed(records):
        names.update(unit_names(record.data_dir))
    return compare_frames(results[0], results[1], params[0], params[1], *records, unit_names=names)


def unit_names(data_dir: str | None) -> dict[str, str]:
    """unit_id → unit_name from the run's data folder (empty if the folder is gone)."""
    if not data_dir or not Path(data_dir).is_dir():
        return {}
    from settlement.loader import load_folder
    from settlement.schema import contract

    units = load_folder(data_dir, {"units": contract()["units"]}).tables.get("units")
    if units is None or units.empty:
        return {}
    return dict(zip(units["unit_id"].astype(str), units["unit_name"].astype(str)))


def summary_lines(c: Comparison) -> list[str]:
    """A short Chinese summary of what moved (B − A)."""
    lines = []
    moved = c.communities[c.communities["diff"] != 0]
    for cid, part in moved.groupby("community_id", sort=False):
        items = "，".join(f"{r.label_zh} {yuan_display(r.a)} → {yuan_display(r.b)}（{signed(r.diff)}）"
                         for r in part.itertuples())
        lines.append(f"{cid}：{items}")
    if moved.empty:
        lines.append("各医共体关键数字没有变化")
    tiers = c.tiers[c.tiers["diff"] != 0]
    if not tiers.empty:
        lines.append("分层净额变化：" + "，".join(f"{r.community_id} {r.tier_label} {signed(r.diff)}"
                                              for r in tiers.itertuples()))
    changed = c.units[c.units["diff"] != 0]
    if changed.empty:
        lines.append("成员单位结算净额没有变化")
    else:
        up, down = changed[changed["diff"] > 0], changed[changed["diff"] < 0]
        text = f"{len(changed)} 家成员单位结算净额变化（增加 {len(up)} 家，减少 {len(down)} 家）"
        if not up.empty:
            r = up.iloc[0]
            text += f"；增加最多：{r['unit_id']} {r['unit_name']} {signed(r['diff'])}"
        if not down.empty:
            r = down.iloc[0]
            text += f"；减少最多：{r['unit_id']} {r['unit_name']} {signed(r['diff'])}"
        lines.append(text)
    if c.parameters.empty:
        lines.append("两次结算的参数相同" if not c.notes else "参数未能比较（见说明）")
    else:
        lines.append(f"参数不同 {len(c.parameters)} 项：" + "、".join(
            f"{r.label_zh or r.path}（{r.path}）" for r in c.parameters.itertuples()))
    return lines + c.notes


def _pad(text: str, width: int, right: bool = False) -> str:
    """Pad to ``width`` display columns (CJK characters count 2)."""
    from settlement.report.layout import display_width

    gap = " " * max(width - display_width(text), 0)
    return gap + text if right else text + gap


def console_lines(c: Comparison, top_units: int = 10) -> list[str]:
    """What ``settlement compare`` prints: identities, summary, the tables in brief."""
    a, b = c.run_a, c.run_b
    out = [f"方案对比 comparison  A = {a.run_id}（{a.scenario}）  B = {b.run_id}（{b.scenario}）", ""]
    out += [f"  {line}" for line in c.summary]

    def row(*cells: str) -> str:
        return "  " + _pad(cells[0], 10) + _pad(cells[1], 18) + "".join(_pad(x, 18, True) for x in cells[2:])

    out += ["", row("医共体", "项目", "方案 A", "方案 B", "差额 B−A")]
    out += [row(str(r.community_id), r.label_zh, yuan_display(r.a), yuan_display(r.b), signed(r.diff))
            for r in c.communities.itertuples()]
    changed = c.units[c.units["diff"] != 0].head(top_units)
    if not changed.empty:
        out += ["", f"  变化最大的 {len(changed)} 家成员单位（结算净额）:"]
        out += [row(str(r.unit_id), str(r.unit_name), yuan_display(r.a), yuan_display(r.b), signed(r.diff))
                for r in changed.itertuples()]
    for r in c.parameters.itertuples():
        out += ["", f"  参数 {r.path}（{r.label_zh}）", f"    A: {r.value_a}  — {r.source_a}",
                f"    B: {r.value_b}  — {r.source_b}"]
    return out
