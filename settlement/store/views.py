"""Console views of the run record (结算记录显示) for ``settlement runs`` and ``settlement show``.

Plain text, Chinese labels with English alongside, columns padded by display width (a CJK
character takes two cells)::

    结算编号 run id             县 county  年度 year  状态 status     开始 started           关账 closed
    20251231T120000Z-1a2b3c4d  示例县     2025       成功 succeeded  2025-12-31 20:00 +0800  是 yes
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from settlement.money import yuan_display
from settlement.store.runs import RunRecord

STATUS_ZH = {"running": "运行中 running", "succeeded": "成功 succeeded", "failed": "失败 failed"}
INTERRUPTED_ZH = "中断 interrupted"  # failed because its process died (see store/owner.py)


def status_text(record: RunRecord) -> str:
    return INTERRUPTED_ZH if record.interrupted else STATUS_ZH.get(record.status, record.status)

TOTAL_LABELS = {
    "community_settlement.financing": "筹资总额 financing",
    "community_settlement.package": "打包额 package",
    "community_settlement.expenditure": "支出 expenditure",
    "community_settlement.balance": "结余(+)/超支(−) balance",
    "community_settlement.surplus_retained": "结余留用 surplus retained",
    "community_settlement.surplus_returned": "结余返还基金 surplus returned",
    "community_settlement.overrun_fund_share": "超支基金分担 overrun, fund share",
    "community_settlement.overrun_community_share": "超支医共体自担 overrun, community share",
    "dip_units.fund_due": "DIP 基金应付 DIP fund due",
    "dip_units.prepaid": "DIP 已预付 DIP prepaid",
    "dip_units.balance": "DIP 清算差额 DIP balance",
    "public_health_allocation.allocation": "公卫经费分配 public health allocated",
    "chronic_settlement.budget": "慢病包干预算 chronic budget",
    "chronic_settlement.spend": "慢病支出 chronic spend",
    "ledger.amount": "医共体台账合计（应为 0.00）ledger total (must be 0.00)",
    "unit_statement.net": "成员单位净额合计 units' net total",
    "dip_presettlement.amount": "月度预结算金额 month's pre-settlement amount",
    "dip_presettlement.withheld": "预留质量保证金 withheld",
    "dip_presettlement.paid": "本月拨付 paid this month",
    "dip_presettlement.paid_to_date": "本年累计拨付 paid to date",
}


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, cells: int) -> str:
    return text + " " * max(cells - width(text), 0)


def when(value: dt.datetime | None) -> str:
    """A stored UTC time in the machine's local time zone, e.g. ``2025-12-31 20:00 +0800``."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M %z") if value else ""


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    cells = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(pad(v, c) for v, c in zip(r, cells)).rstrip()  # noqa: E731
    return [line(header), "  ".join("-" * c for c in cells), *[line(r) for r in rows]]


def runs_table(records: list[RunRecord]) -> list[str]:
    """``settlement runs``: one line per run, oldest first."""
    if not records:
        return ["尚无结算记录 no runs yet"]
    header = ["结算编号 run id", "县 county", "年度 year", "方案 scenario", "状态 status",
              "开始 started", "关账 closed", "替代 supersedes", "被替代 superseded by"]
    rows = [[r.run_id, r.county, _period(r), r.scenario, status_text(r),
             when(r.started_at), "是 yes" if r.closed else "", r.supersedes or "", r.superseded_by or ""]
            for r in records]
    return table(header, rows)


def _period(r: RunRecord) -> str:
    """``2025`` for a year-end run, ``2025-03 月度`` for a monthly pre-settlement (issue 10)."""
    return f"{r.month} 月度 month" if r.kind == "month" else str(r.year)


def run_summary(record: RunRecord, totals: dict[str, int]) -> list[str]:
    """``settlement show RUN_ID``: meta, fingerprints, timings, row counts, key totals."""
    r = record
    closed = f"是 yes（{when(r.closed_at)}）" if r.closed else "否 no"
    fields = [
        ("结算编号 run id", r.run_id), ("县 county", r.county), ("年度 year", _period(r)),
        ("方案 scenario", r.scenario), ("状态 status", status_text(r)),
        ("失败原因 failure reason", r.failure_reason or ""),
        ("开始 started", when(r.started_at)), ("结束 finished", when(r.finished_at)),
        ("关账 closed", closed), ("替代 supersedes", r.supersedes or ""),
        ("被替代 superseded by", r.superseded_by or ""), ("程序版本 code version", r.code_version or ""),
        ("参数文件 config", r.config_path or ""), ("参数文件 SHA-256 config SHA-256", r.config_sha256 or ""),
        ("数据目录 data folder", r.data_dir or ""), ("报表目录 run folder", r.report_dir or ""),
        ("运行进程 owner", f"{r.owner_host} pid {r.owner_pid}" if r.owner_host else ""),
    ]
    label_cells = max(width(k) for k, _ in fields)
    out = [f"{pad(k, label_cells)}  {v}" for k, v in fields if v]
    out += _section("输入文件 SHA-256 input files", {f: h for f, h in r.input_hashes.items()})
    out += _section("用时（秒）timings (s)", {k: f"{v:,.3f}" for k, v in r.timings.items()})
    out += _section("输入行数 input rows", {k: f"{v:,}" for k, v in r.input_rows.items()})
    out += _section("结果行数 result rows", {k: f"{v:,}" for k, v in r.result_rows.items()})
    out += _section("未入库的工作列 working columns not stored (see results/*.csv)",
                    {t: ", ".join(c["not_stored"]) for t, c in r.result_columns.items() if c.get("not_stored")})
    out += _section("主要金额（元）key totals (yuan)",
                    {TOTAL_LABELS.get(k, k): yuan_display(v) for k, v in totals.items()}, right=True)
    return out


def _section(title: str, items: dict[str, str], right: bool = False) -> list[str]:
    if not items:
        return []
    cells = max(width(k) for k in items)
    value_cells = max(width(v) for v in items.values())
    return ["", title] + [f"  {pad(k, cells)}  " + (" " * (value_cells - width(v)) + v if right else v)
                          for k, v in items.items()]
