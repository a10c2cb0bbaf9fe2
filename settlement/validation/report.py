"""The validation report (校验报告): what the user reads to fix their files.

Written under ``<out>/validation/``:

* ``问题清单.xlsx`` — sheet 问题清单: one line per problem (严重程度, 数据表, 文件, 行号 as the
  user sees it in their own file, 列, 错误值, 规则 in Chinese, rule id, English message);
  sheet 汇总: per table its file, rows, errors, warnings; sheet 金额合计: the exact money
  total of every money column; sheet 校验项: GX's verdict on every expectation.
* ``校验报告.html`` — the same in one self-contained page (no network needed).
* ``gx_data_docs/index.html`` — only with ``--data-docs``: Great Expectations Data Docs of the
  suites (several MB of English HTML that load their CSS/JS from CDNs and look unstyled
  offline; ``校验报告.html`` is the primary report and needs no network).

Both workbooks' sheets print A4 landscape, fit to one page wide, the header row repeated;
money totals are numbers (yuan ``#,##0.00`` and fen), never text.

:func:`print_summary` prints the console summary: Chinese first, English alongside.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

import pandas as pd

from settlement.loader import LoadResult
from settlement.money import to_decimal_yuan, yuan_display
from settlement.problems import SEVERITY_ZH, Problem, problems_frame
from settlement.schema import ContractError, contract

WORKBOOK = "问题清单.xlsx"
HTML_REPORT = "校验报告.html"
DATA_DOCS = "gx_data_docs"
SHOWN_IN_CONSOLE = 20
SHOWN_IN_HTML = 2000

PROBLEM_HEADERS = [("severity", "严重程度 severity"), ("table", "数据表 table"), ("file", "文件 file"),
                   ("row", "行号 row"), ("column", "列 column"), ("value", "错误值 value"),
                   ("message_zh", "规则 rule"), ("rule", "规则编号 rule id"), ("message_en", "English")]


def table_summary(problems: list[Problem], loaded: LoadResult) -> pd.DataFrame:
    """One row per contract table: label, file, rows, errors, warnings, status."""
    counts = problems_frame(problems)
    try:
        schemas = contract()
    except ContractError:  # no definitions: their problems are in the list, under "other"
        schemas = {}
    rows = []
    for name, schema in schemas.items():
        source = loaded.sources.get(name)
        mine = counts[counts["table"] == name] if len(counts) else counts
        errors = int((mine["severity"] == "error").sum()) if len(mine) else 0
        warnings = int((mine["severity"] == "warning").sum()) if len(mine) else 0
        if source is None:
            status = "缺失 missing" if schema.required or errors else "未提供（可选）not given (optional)"
        else:
            status = "有错误 errors" if errors else ("有警告 warnings" if warnings else "通过 ok")
        rows.append({"table": name, "label_zh": schema.label_zh,
                     "file": _where(source) if source else "", "rows": source.rows if source else 0,
                     "errors": errors, "warnings": warnings, "status": status})
    other = counts[~counts["table"].isin(list(schemas))] if len(counts) else counts
    if len(other):
        rows.append({"table": "（其他）other", "label_zh": "配置 / 目录 config, folder", "file": "",
                     "rows": 0, "errors": int((other["severity"] == "error").sum()),
                     "warnings": int((other["severity"] == "warning").sum()),
                     "status": "有错误 errors" if (other["severity"] == "error").any() else "有警告 warnings"})
    return pd.DataFrame(rows)


def _where(source) -> str:
    where = source.file + (f" [{source.sheet}]" if source.sheet else "")
    return where + (f"（表头在第 {source.header_row} 行）" if source.kind == "xlsx" and source.header_row > 1 else "")


def write_report(problems: list[Problem], loaded: LoadResult, out_dir: Path,
                 data_docs: bool = False) -> dict[str, Path]:
    """Write the workbook and the self-contained HTML summary (inline CSS, no network), and
    with ``data_docs`` (``--data-docs``) the Great Expectations Data Docs; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = getattr(loaded, "validation", None)
    paths = {"workbook": out_dir / WORKBOOK, "html": out_dir / HTML_REPORT}
    frame = problems_frame(problems)
    summary = table_summary(problems, loaded)
    totals = run.totals if run is not None else pd.DataFrame(columns=["table", "column", "label_zh", "rows", "total_fen"])
    verdicts = list(run.suites.verdicts) if run is not None else []
    _write_workbook(paths["workbook"], frame, summary, totals, verdicts)
    if data_docs and run is not None and run.suites.context is not None:
        from settlement.validation.gx_suites import write_data_docs

        try:
            index = write_data_docs(run.suites, out_dir / DATA_DOCS)
        except Exception as exc:  # Data Docs are secondary: the report stands without them
            index = None
            problems_note = f"GX Data Docs 未能生成 could not be built: {exc}"
            (out_dir / "gx_data_docs_error.txt").write_text(problems_note, encoding="utf-8")
        if index is not None:
            paths["data_docs"] = index
    paths["html"].write_text(_html(problems, frame, summary, totals, verdicts, paths), encoding="utf-8")
    if run is not None:
        run.report_files = paths
    return paths


# ---------------------------------------------------------------- workbook
def _write_workbook(path: Path, frame: pd.DataFrame, summary: pd.DataFrame, totals: pd.DataFrame,
                    verdicts: list[dict]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                           "strings_to_urls": False})
    book.set_properties({"title": "问题清单 problem list", "created": pd.Timestamp("2000-01-01").to_pydatetime()})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    error = book.add_format({"font_color": "#C00000"})
    warning = book.add_format({"font_color": "#9C5700"})

    sheet = book.add_worksheet("问题清单")
    _header(sheet, [h for _, h in PROBLEM_HEADERS], head, [8, 22, 24, 8, 22, 22, 60, 18, 50])
    for i, p in enumerate(frame.itertuples(index=False), start=1):
        fmt = error if p.severity == "error" else warning
        sheet.write_string(i, 0, SEVERITY_ZH.get(p.severity, p.severity), fmt)
        sheet.write_string(i, 1, p.table or "")
        sheet.write_string(i, 2, p.file or "")
        if p.row is not None and not pd.isna(p.row):
            sheet.write_number(i, 3, int(p.row))
        for j, key in enumerate(["column", "value", "message_zh", "rule", "message_en"], start=4):
            sheet.write_string(i, j, str(getattr(p, key) or ""))
    if not len(frame):
        sheet.write_string(1, 0, "没有发现问题 no problems found")
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(frame), 1), len(PROBLEM_HEADERS) - 1)
    _print_setup(sheet)

    sheet = book.add_worksheet("汇总")
    _header(sheet, ["数据表 table", "名称", "文件 file", "行数 rows", "错误 errors", "警告 warnings", "状态 status"],
            head, [26, 18, 30, 12, 10, 10, 24])
    for i, r in enumerate(summary.itertuples(index=False), start=1):
        sheet.write_row(i, 0, [r.table, r.label_zh, r.file, r.rows, r.errors, r.warnings, r.status])

    sheet = book.add_worksheet("金额合计")
    _header(sheet, ["数据表 table", "列 column", "名称", "行数 rows", "合计（元）total yuan", "合计（分）total fen"],
            head, [26, 36, 18, 12, 24, 24])
    money = book.add_format({"num_format": "#,##0.00"})
    fen = book.add_format({"num_format": "0"})
    for i, r in enumerate(totals.itertuples(index=False), start=1):  # exact numbers, never a float
        sheet.write_row(i, 0, [r.table, r.column, r.label_zh, r.rows])
        sheet.write_number(i, 4, to_decimal_yuan(int(r.total_fen)), money)
        sheet.write_number(i, 5, int(r.total_fen), fen)
    for extra in book.worksheets()[1:]:
        _print_setup(extra)

    sheet = book.add_worksheet("校验项")
    _header(sheet, ["数据表 table", "列 column", "规则编号 rule", "GX expectation", "通过 success", "不符行数 unexpected"],
            head, [26, 26, 18, 42, 12, 16])
    for i, r in enumerate(verdicts, start=1):
        sheet.write_row(i, 0, [r["table"], r["column"], r["rule"], r["expectation"],
                               _verdict(r["success"]), _count(r.get("unexpected"))])
    book.close()


def _print_setup(sheet) -> None:
    """A4 landscape, fit to one page wide, header row repeated, page numbers."""
    sheet.set_landscape()
    sheet.set_paper(9)
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0)
    sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    sheet.set_footer("&C第 &P 页，共 &N 页")


def _header(sheet, names: list[str], fmt, widths: list[int]) -> None:
    for j, (name, width) in enumerate(zip(names, widths)):
        sheet.write_string(0, j, name, fmt)
        sheet.set_column(j, j, width)


def _count(value) -> str | int:
    return "" if value is None else int(value)


def _verdict(success) -> str:
    return {True: "是 yes", False: "否 no"}.get(success, "未运行 not run")


# ---------------------------------------------------------------- html
_CSS = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#DDEBF7}.error{color:#C00000}.warning{color:#9C5700}.ok{color:#2E7D32}
td.n{text-align:right}h1 .ok,h1 .error{font-size:80%}"""


def _html(problems, frame, summary, totals, verdicts, paths) -> str:
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    status = (f'<span class="error">未通过 FAILED：{errors} 个错误 errors，{warnings} 个警告 warnings</span>'
              if errors else f'<span class="ok">通过 PASSED（{warnings} 个警告 warnings）</span>')
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>校验报告 validation report</title>"
             f"<style>{_CSS}</style></head><body><h1>数据校验报告 Validation report — {status}</h1>",
             f"<p>完整问题清单见 full list: <code>{e(paths['workbook'].name)}</code>"]
    if "data_docs" in paths:
        parts.append(f" · Great Expectations Data Docs: <a href='{DATA_DOCS}/index.html'>{DATA_DOCS}/index.html</a>"
                     "（需联网加载样式 needs network for styling）")
    parts.append("</p><h2>各表汇总 Tables</h2>")
    parts.append(_html_table(["数据表 table", "名称", "文件 file", "行数 rows", "错误 errors", "警告 warnings", "状态 status"],
                             [[r.table, r.label_zh, r.file, f"{r.rows:,}", r.errors, r.warnings, r.status]
                              for r in summary.itertuples(index=False)]))
    parts.append(f"<h2>问题清单 Problems（{len(frame)}）</h2>")
    shown = frame.head(SHOWN_IN_HTML)
    parts.append(_html_table([h for _, h in PROBLEM_HEADERS],
                             [[SEVERITY_ZH.get(p.severity, p.severity), p.table, p.file,
                               "" if p.row is None or pd.isna(p.row) else int(p.row), p.column, p.value,
                               p.message_zh, p.rule, p.message_en] for p in shown.itertuples(index=False)],
                             classes=[p.severity for p in shown.itertuples(index=False)]))
    if len(frame) > SHOWN_IN_HTML:
        parts.append(f"<p>另有 {len(frame) - SHOWN_IN_HTML} 条见 Excel 问题清单 (more in the workbook)</p>")
    parts.append("<h2>金额合计 Money totals（精确到分 exact to the fen）</h2>")
    parts.append(_html_table(["数据表 table", "列 column", "名称", "行数 rows", "合计（元）total yuan"],
                             [[r.table, r.column, r.label_zh, f"{r.rows:,}", yuan_display(r.total_fen)]
                              for r in totals.itertuples(index=False)]))
    if verdicts:
        failed = [r for r in verdicts if r["success"] is not True]
        parts.append(f"<h2>校验项 Expectations：{len(verdicts)} 项，未通过 failed {len(failed)}</h2>")
        parts.append(_html_table(["数据表 table", "列 column", "规则 rule", "GX expectation", "通过 success", "不符行数 unexpected"],
                                 [[r["table"], r["column"], r["rule"], r["expectation"], _verdict(r["success"]),
                                   _count(r.get("unexpected"))] for r in verdicts]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(headers: list[str], rows: list[list], classes: list[str] | None = None) -> str:
    e = html.escape
    out = ["<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in headers) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f" class='{classes[i]}'" if classes else ""
        out.append(f"<tr{cls}>" + "".join(
            f"<td class='n'>{e(str(v))}</td>" if isinstance(v, int) else f"<td>{e(str(v))}</td>" for v in row)
            + "</tr>")
    return "".join(out) + "</table>"


# ---------------------------------------------------------------- console
def print_summary(problems: list[Problem], loaded: LoadResult, echo: Callable[[str], None] = print) -> None:
    """Console summary: verdict, per-table counts, the first problems, where the report is."""
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    if errors:
        echo(f"校验未通过 Validation FAILED：{errors} 个错误 errors，{warnings} 个警告 warnings。未进行任何计算 nothing was computed.")
    else:
        echo(f"校验通过 Validation PASSED（{warnings} 个警告 warnings）")
    summary = table_summary(problems, loaded)
    echo(f"  {'数据表 table':<28}{'文件 file':<32}{'行数 rows':>12}{'错误 errors':>12}{'警告 warnings':>15}")
    for r in summary.itertuples(index=False):
        if r.file or r.errors or r.warnings:
            echo(f"  {r.table:<28}{r.file[:30]:<32}{r.rows:>12,}{r.errors:>12}{r.warnings:>15}")
    frame = problems_frame(problems)
    if len(frame):
        echo(f"问题（前 {min(SHOWN_IN_CONSOLE, len(frame))} 条，共 {len(frame)} 条）"
             f" Problems (first {min(SHOWN_IN_CONSOLE, len(frame))} of {len(frame)}):")
        for p in frame.head(SHOWN_IN_CONSOLE).itertuples(index=False):
            echo("  " + describe(p))
    run = getattr(loaded, "validation", None)
    files = getattr(run, "report_files", None) if run is not None else None
    if files:
        echo(f"报告 report: {files['workbook']}  ·  {files['html']}")


def describe(p) -> str:
    """One problem as a sentence: '错误 error · inpatient_cases.csv 第 5 行 row 5 · total_cost = "-3.00" · …'."""
    where = p.file or p.table or ""
    if p.row is not None and not pd.isna(p.row):
        where += f" 第 {int(p.row)} 行 row {int(p.row)}"
    if p.column:
        where += f" · {p.column}"
    value = f' = "{p.value}"' if p.value else ""
    english = f" / {p.message_en}" if p.message_en and p.message_en not in p.message_zh else ""
    return f"{SEVERITY_ZH.get(p.severity, p.severity)} {p.severity} · {where}{value} · {p.message_zh}{english}"
