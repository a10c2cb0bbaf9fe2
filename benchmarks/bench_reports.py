"""Reports benchmark: all unit statements of the scale-1 sample county, XlsxWriter vs openpyxl.

    .venv/bin/python benchmarks/bench_reports.py [--repeat 3] [--out /tmp/bench_reports]

The unit list is the scale-1 sample county's (``settlement.sample``: 2 communities, 5 county
hospitals, 20 township centres, 200 village clinics — 225 member units; the list does not
depend on the scale). Stage tables for those units are synthesised (DIP for hospitals and
township centres, distribution for all, chronic shares for township centres and villages,
public health for all; explanations as long as the stages' own), reconciled with
:func:`settlement.reconcile.reconcile`, then:

* ``xlsxwriter`` — :func:`settlement.report.write_statements`, the production writer;
* ``openpyxl``  — the same statement (header block, formats, widths, row heights, print
  setup, fund summary) written with openpyxl, for comparison only;

in ``--repeat`` interleaved rounds (best and median), and whether two runs give byte-identical files. Also timed: the
reconciliation and the whole ``write_workbooks`` (summary + bureau + statements).
Budget (issue 6): all statements in under 30 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement.reconcile import reconcile  # noqa: E402
from settlement.reconcile.lines import FUND_ZH  # noqa: E402
from settlement.money import to_decimal_yuan  # noqa: E402
from settlement.report import ReportContext, statement_path, write_statements, write_workbooks  # noqa: E402
from settlement.report.layout import (EXPLANATION_WIDTH, FONT, FONT_SIZE, fit_width,  # noqa: E402
                                      row_height, shown, wrapped_lines)
from settlement.report.statements import (HEADER_ROW, LINE_HEADERS, Line, fund_summary,  # noqa: E402
                                          header_lines, statement_records)
from settlement.sample import DEFAULT_SEED  # noqa: E402
from settlement.sample.county import build_county, units_table  # noqa: E402

TEXT = ("权重 = 服务人口 2,441 × 绩效系数 0.831（得分 83.1，得分÷100）= 2028.471；结余留用 1,175,768.73 "
        "按 6 : 3 : 1 分层，村卫生室保底 10%，乡镇卫生院层级 352,730.62；本单位 352,730.62 × "
        "2028.471 ÷ 26343.218 = 27,160.84（最大余数法取整到分）")


def county_units() -> tuple[pd.DataFrame, pd.DataFrame]:
    county = build_county(DEFAULT_SEED, 1.0)
    table = units_table(county)
    units = pd.DataFrame({k: list(v) for k, v in table.columns.items()})
    units = units.astype({"unit_id": "string", "unit_name": "string", "community_id": "string",
                          "category": "string"})
    communities = pd.DataFrame({"community_id": county.community_ids,
                                "community_name": ["示例县第一医共体", "示例县第二医共体"]})
    return units, communities


def stage_tables(units: pd.DataFrame, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    members = units[units["community_id"].notna() & units["category"].ne("external")]
    ids, n = members["unit_id"].tolist(), len(members)
    inpatient = members[members["category"].isin(["lead_hospital", "county_hospital", "private",
                                                  "township_center"])]
    m = len(inpatient)
    points = np.round(rng.lognormal(9, 1.5, m), 4)
    gross = np.round(points * 1276.68).astype("int64")
    self_pay = (gross * rng.uniform(0.2, 0.35, m)).astype("int64")
    violation = np.where(rng.random(m) < 0.3, rng.integers(0, 2_000_000, m), 0)
    due = gross - self_pay - violation
    withheld = np.round(due * 0.05).astype("int64")
    returned = np.round(withheld * rng.uniform(0.7, 1.0, m)).astype("int64")
    prepaid = (due * rng.uniform(0.9, 0.97, m)).astype("int64")
    dip = pd.DataFrame({
        "unit_id": inpatient["unit_id"].to_numpy(), "cases": rng.integers(50, 20_000, m),
        "points": points, "point_value": "12.7668", "gross_value": gross, "at_cost": 0,
        "self_pay": self_pay, "violation_deduction": violation, "fund_due": due,
        "score": np.round(rng.uniform(70, 99, m), 1), "score_coefficient": "0.9",
        "withheld": withheld, "returned": returned, "fund_paid": due - withheld + returned,
        "prepaid": prepaid, "balance": due - withheld + returned - prepaid})
    dist = pd.DataFrame({
        "unit_id": ids, "community_id": members["community_id"].tolist(), "tier": "t",
        "weight": rng.uniform(100, 30_000, n), "performance_coefficient": 0.9,
        "surplus_share": rng.integers(0, 50_000_000, n), "overrun_share": 0, "explanation": TEXT})
    managing = members[members["category"].isin(["township_center", "village_clinic"])]
    chronic = pd.DataFrame({
        "community_id": managing["community_id"].tolist(), "unit_id": managing["unit_id"].tolist(),
        "person_months": rng.uniform(10, 500, len(managing)), "quality_coefficient": 0.85,
        "weight": 1.0, "net": rng.integers(-500_000, 500_000, len(managing)), "explanation": TEXT[:90]})
    allocation = rng.integers(100_000, 30_000_000, n)
    paid = (allocation * rng.uniform(0.8, 1.05, n)).astype("int64")
    ph = pd.DataFrame({
        "pool": "basic", "unit_id": ids, "tier": "t", "work_points": rng.uniform(100, 5000, n),
        "quality_coefficient": 0.9, "weight": 1.0, "allocation": allocation, "prepaid": paid,
        "balance": allocation - paid, "explanation": TEXT[:120]})
    return {"dip_units": dip, "unit_distribution": dist, "chronic_units": chronic,
            "public_health_allocation": ph}


# ------------------------------------------------------------------ openpyxl, for comparison
def openpyxl_statement(path: Path, unit_id: str, lines: list[Line], ctx: ReportContext) -> None:
    """The statement of :mod:`settlement.report.statements`, written with openpyxl from the
    same prepared records (header texts, lines, fund summary): only the library differs."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="BFBFBF")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    font, bold = Font(name=FONT, size=FONT_SIZE), Font(name=FONT, size=FONT_SIZE, bold=True)
    top, wrap = Alignment(vertical="top"), Alignment(vertical="top", wrap_text=True)
    book = Workbook()
    ws = book.active
    ws.title = "结算单"
    for r, text in enumerate(header_lines(unit_id, ctx), start=1):
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=5)
        cell = ws.cell(r, 1)
        cell.value, cell.data_type = text, "s"
        cell.font = Font(name=FONT, size=14, bold=True) if r == 1 else font
    for j, h in enumerate(LINE_HEADERS, start=1):
        c = ws.cell(HEADER_ROW + 1, j, h)
        c.font, c.border = bold, border
        c.fill = PatternFill("solid", fgColor="DDEBF7")
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    funds = ["合计" if x.is_net else FUND_ZH.get(x.fund, x.fund) for x in lines]
    for i, (x, fund) in enumerate(zip(lines, funds)):
        row = HEADER_ROW + 2 + i
        for j, v in enumerate([i + 1, fund, x.label_zh, to_decimal_yuan(x.amount), x.explanation],
                              start=1):
            c = ws.cell(row, j)
            c.value = v
            if isinstance(v, str):
                c.data_type = "s"  # never a formula
            c.font, c.border = (bold if x.is_net else font), border
            c.alignment = wrap if j == 5 else top
            if j == 4:
                c.number_format = "#,##0.00"
        n = wrapped_lines(x.explanation, EXPLANATION_WIDTH)
        if n > 1:
            ws.row_dimensions[row].height = row_height(n)
    row = HEADER_ROW + 2 + len(lines) + 1
    ws.cell(row, 1, "分资金汇总").font = bold
    for i, (label, *values) in enumerate(fund_summary(lines), start=1):
        ws.merge_cells(start_row=row + i, start_column=1, end_row=row + i, end_column=2)
        ws.cell(row + i, 1, label).font = font
        for j, v in enumerate(values, start=3):
            c = ws.cell(row + i, j, to_decimal_yuan(v))
            c.number_format, c.font, c.border = "#,##0.00", font, border
    widths = [6, fit_width(funds), fit_width(x.label_zh for x in lines),
              fit_width(shown("money", x.amount) for x in lines) + 2, EXPLANATION_WIDTH]
    for letter, w in zip("ABCDE", widths):
        ws.column_dimensions[letter].width = w
    ws.freeze_panes = f"A{HEADER_ROW + 2}"
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", 9
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{HEADER_ROW + 1}:{HEADER_ROW + 1}"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    book.properties.created = ctx.created_at
    book.save(path)


def openpyxl_statements(units_dir: Path, statement: pd.DataFrame, ctx: ReportContext) -> list[Path]:
    names = ctx.unit_names()
    paths = []
    units_dir.mkdir(parents=True, exist_ok=True)
    for unit_id, lines in statement_records(statement).items():
        path = statement_path(units_dir, unit_id, names.get(unit_id, ""))
        openpyxl_statement(path, unit_id, lines, ctx)
        paths.append(path)
    return paths


# ------------------------------------------------------------------ timing
def best_of(repeat: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_reports"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    units, communities = county_units()
    tables = stage_tables(units)
    t_rec, rec = best_of(args.repeat, lambda: reconcile(tables, units, communities))
    statement = rec.unit_statement
    ctx = ReportContext(county="示例县", year=2025, run_id="bench", units=units,
                        communities=communities, created=dt.datetime(2025, 12, 31))
    n_units = statement["unit_id"].nunique()
    writers = {"xlsxwriter": write_statements, "openpyxl": openpyxl_statements}
    times: dict[str, list[float]] = {name: [] for name in writers}
    for r in range(args.repeat):  # interleaved, so machine load hits both alike
        for name, writer in writers.items():
            start = time.perf_counter()
            writer(args.out / f"{name}-{r}", statement, ctx)
            times[name].append(time.perf_counter() - start)
    time.sleep(1.1)  # a clock tick: a timestamp written into the files would show in the bytes
    rows = []
    for name, writer in writers.items():
        again = writer(args.out / f"{name}-again", statement, ctx)
        first = [args.out / f"{name}-0" / p.name for p in again]
        size = sum(p.stat().st_size for p in again) / len(again)
        rows.append((name, min(times[name]), statistics.median(times[name]), size,
                     digest(first) == digest(again)))
    t_all, _ = best_of(1, lambda: write_workbooks(args.out / "all", {**tables, **rec.tables()}, ctx))
    print(f"# Python {platform.python_version()}, {n_units} unit statements, {len(statement)} lines, "
          f"{args.repeat} interleaved rounds\n")
    print("| writer | all statements, best (s) | median (s) | per statement (ms, median) "
          "| avg size (KB) | same bytes twice |")
    print("|---|---|---|---|---|---|")
    for name, best, median, size, same in rows:
        print(f"| {name} | {best:.2f} | {median:.2f} | {median / n_units * 1000:.1f} | "
              f"{size / 1024:.1f} | {'yes' if same else 'no'} |")
    print(f"\nopenpyxl / xlsxwriter (median) = {rows[1][2] / rows[0][2]:.1f}×; reconcile "
          f"{t_rec:.2f} s; write_workbooks (summary + bureau + statements) {t_all:.2f} s")


if __name__ == "__main__":
    main()
