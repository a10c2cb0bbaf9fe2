"""No internal code in the sample county's workbooks without its Chinese.

A results table carries codes (the CSVs keep them: they are the contract): ledger sections
(pool/units/budget/region), case classes, DIP settlement ways, levels, categories, scopes,
pools, funds, payers, tiers, claim kinds, periods (2025Q1, 2025-06). People read the
workbooks, so every such code is shown in Chinese there (settlement/vocabulary.py,
settlement/wording.py). A column of codes may stay only beside its Chinese, where a user
needs it to match rows with the CSV: its header says so (行代码, 规则编号, 校验项, 指标代码, …).

The scan covers every workbook of a year-end run and of a June month run of the sample
county (validation/ lists the input files' own column names and is not scanned; neither is
the 参数 sheet, which cites config values beside their Chinese, nor 说明, the CSV guide).
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from settlement import vocabulary as v
from settlement.reconcile.lines import FUND_ZH, PAYER_ZH
from settlement.report.results_book import shown
from settlement.wording import DIRECTION_ZH

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample-county.yaml"

pytestmark = pytest.mark.slow

CODES = (set(v.CATEGORIES) | set(v.LEVELS) | set(v.SCOPES) | set(v.CLAIM_TYPES) | set(v.CASE_CLASSES)
         | set(v.POOLS) | set(v.CLAIM_KINDS) | set(v.DIP_LEDGER_SECTIONS) | set(v.LEDGER_SECTION_ZH)
         | set(v.TIERS)
         | set(v.DIP_SETTLEMENT_ZH) | set(v.COEFFICIENT_SOURCE_ZH) | set(v.AUDIT_BY_ZH)
         | set(FUND_ZH) | set(PAYER_ZH) | set(DIRECTION_ZH)
         | {"computed", "published", "service_population", "excluded"})
PERIOD = re.compile(r"\d{4}Q[1-4]|\d{4}-\d{2}")
# headers of the columns that keep a code beside its Chinese (to match rows with the CSV)
CODE_HEADERS = {"行代码", "规则编号", "校验项", "指标代码", "预警规则", "编码", "数据表", "CSV 列名",
                "结果表（CSV 文件名）"}
SKIPPED_SHEETS = {"参数", "说明"}


def _is_code(x) -> bool:
    return isinstance(x, str) and (x in CODES or PERIOD.fullmatch(x) is not None)


def _header(rows: list[tuple], r: int, c: int):
    """The nearest text above (r, c) with Chinese in it: the column's header."""
    for k in range(r - 1, -1, -1):
        x = rows[k][c] if c < len(rows[k]) else None
        if isinstance(x, str) and not x.isascii():
            return x
    return None


def codes_shown(run_dir: Path) -> list[tuple]:
    found = []
    for path in sorted(run_dir.rglob("*.xlsx")):
        if "validation" in path.relative_to(run_dir).parts:
            continue
        book = openpyxl.load_workbook(path, read_only=True)
        for ws in book.worksheets:
            if ws.title in SKIPPED_SHEETS:
                continue
            rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
            for r, row in enumerate(rows):
                for c, x in enumerate(row):
                    if _is_code(x) and _header(rows, r, c) not in CODE_HEADERS:
                        found.append((str(path.relative_to(run_dir)), ws.title, r + 1, c + 1, x,
                                      _header(rows, r, c)))
        book.close()
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """The sample county's year end and its June month run, each in a process of its own as a
    user starts them (``python -m settlement.cli``): the run forks its workbook writers, which a
    long-lived test worker that has started other engines' threads must not be asked to do."""
    import subprocess
    import sys

    base = tmp_path_factory.mktemp("codes")
    folders = {}
    for name, extra in (("year", []), ("month", ["--month", "2025-06"])):
        done = subprocess.run(
            [sys.executable, "-m", "settlement.cli", "run", "--config", str(CONFIG),
             "--data", str(ROOT / "sample_data"), "--out", str(base / name),
             "--db", f"sqlite:///{base / (name + '.db')}", "--quiet", *extra],
            capture_output=True, text=True, encoding="utf-8", timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        (folders[name],) = [p for p in (base / name).iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folders["year"], folders["month"]


def test_the_year_end_workbooks_show_no_code_without_its_chinese(runs):
    found = codes_shown(runs[0])
    assert not found, "工作簿中出现未译成中文的内部代码（文件, 工作表, 行, 列, 值, 列标题）：\n" + \
        "\n".join(map(str, found[:40]))


def test_the_month_workbooks_show_no_code_without_its_chinese(runs):
    found = codes_shown(runs[1])
    assert not found, "\n".join(map(str, found[:40]))


def test_the_csvs_keep_the_codes(runs):
    """The contract: the results CSVs are unchanged — codes, not Chinese."""
    results = runs[0] / "results"
    ledger = pd.read_csv(results / "dip_ledger.csv", dtype=str)
    assert set(ledger["section"]) <= set(v.DIP_LEDGER_SECTIONS)
    cases = pd.read_csv(results / "dip_cases.csv", dtype=str)
    assert set(cases["case_class"]) <= set(v.CASE_CLASSES)
    funds = pd.read_csv(results / "unit_funds.csv", dtype=str)
    assert set(funds["fund"]) <= set(FUND_ZH)


def test_shown_translates_codes_and_keeps_numbers_and_gaps():
    frame = pd.DataFrame({"section": ["pool", "region", None], "line": ["dip_pool", "region_pool", "x"],
                          "scope": ["county", "GT01", "H0001/public_health"],
                          "quarter": ["2025Q1", "2025-03", "2025"], "amount": [1.5, -1.5, 0.0]})
    out = shown("dip_ledger", frame)
    assert out["section"].tolist()[:2] == ["基金去向", "区域对账"] and pd.isna(out["section"][2])
    assert out["line"].tolist() == ["dip_pool", "region_pool", "x"]  # beside label_zh: kept
    assert out["scope"].tolist() == ["全县", "GT01", "H0001/基本公共卫生服务经费"]
    assert out["quarter"].tolist() == ["2025 年第 1 季度", "2025 年 3 月", "2025"]
    assert out["amount"].tolist() == [1.5, -1.5, 0.0]
    check = shown("reimbursement_table_check", pd.DataFrame(
        {"scope": ["city"], "level": ["secondary"], "compared_with": ["county secondary"]}))
    assert check.iloc[0].tolist() == ["市内县外", "二级", "县内 二级"]
    referral = shown("reimbursement_table_check", pd.DataFrame({"scope": ["province、national"]}))
    assert referral["scope"].tolist() == ["省内市外、省外"]


def test_the_ratio_table_check_says_scopes_and_levels_in_chinese(runs):
    """Its message_zh (a sentence for people, also the warning) named 'county primary … city'."""
    check = pd.read_csv(runs[0] / "results" / "reimbursement_table_check.csv", dtype=str)
    words = {w for m in check["message_zh"] for w in re.findall(r"[a-z_]+", m)}
    assert not words & (set(v.SCOPES) | set(v.LEVELS)), words
    assert "统筹区内外报销比例差距：县内 一级 95% 对 市内县外 85%，差距 10%，符合最低 10%" in set(
        check["message_zh"])


def test_a_countys_own_tier_names_are_shown_not_the_samples(tmp_path):
    """A county whose config names its township tier 中心卫生院 sees that name in the workbooks
    (ReportContext.tier_labels from the config's label_zh), not the sample config's 乡镇卫生院."""
    import pandas as pd
    import yaml

    from settlement.config import load_config, resolve
    from settlement.report.context import tier_labels
    from settlement.report.results_book import shown

    root = Path(__file__).resolve().parent.parent
    text = (root / "configs" / "sample-county.yaml").read_text(encoding="utf-8")
    assert "label_zh: 乡镇卫生院" in text
    own = tmp_path / "county.yaml"
    own.write_text(text.replace("label_zh: 乡镇卫生院", "label_zh: 中心卫生院"), encoding="utf-8")
    yaml.safe_load(own.read_text(encoding="utf-8"))  # still a valid document
    labels = tier_labels(resolve(load_config(own)).params)
    assert labels["township"] == "中心卫生院" and labels["village"] == "村卫生室"
    frame = pd.DataFrame({"tier": pd.array(["township", "excluded", "village"], dtype="string")})
    assert shown("unit_distribution", frame, labels)["tier"].tolist() == ["中心卫生院", "不参与分配", "村卫生室"]
