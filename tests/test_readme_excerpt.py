"""The README's statement excerpt and run summary are the sample county's real figures.

The excerpt is what a new user compares with their first `make sample-run`; when a rule
changes a figure, this test names the README line to update.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from settlement.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.slow


def _yuan(text: str) -> Decimal:
    return Decimal(text.replace("**", "").replace(",", "").replace("−", "-").strip())


def _excerpt_rows() -> list[tuple[str, Decimal]]:
    """(项目, 金额) of each row of the README's T001 statement table."""
    block = README[README.index("| 序号 | 资金 | 付款方 |"):]
    block = block[:block.index("\n\n")]
    rows = []
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[3], _yuan(cells[4])))
    return rows


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("readme")
    result = CliRunner().invoke(main, [
        "run", "--config", str(ROOT / "configs" / "sample-county.yaml"),
        "--data", str(ROOT / "sample_data"), "--out", str(base / "reports"),
        "--db", f"sqlite:///{base / 'runs.db'}", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = list((base / "reports").iterdir())
    return run_dir


def test_the_statement_excerpt_is_unit_t001_of_the_sample_run(sample_run):
    lines = pd.read_csv(sample_run / "results" / "unit_statement.csv", dtype=str)
    t001 = lines[lines["unit_id"] == "T001"]
    shown = {label: Decimal(amount) for label, amount in zip(t001["label_zh"], t001["amount"])}
    excerpt = _excerpt_rows()
    assert len(excerpt) == len(t001)
    for label, amount in excerpt:
        assert shown.get(label) == amount, f"README 结算单示例「{label}」应为 {shown.get(label)}"


def test_the_printed_summary_is_the_sample_runs(sample_run):
    settled = pd.read_csv(sample_run / "results" / "community_settlement.csv", dtype=str)
    for row in settled.itertuples(index=False):
        match = re.search(rf"{row.community_id}: 打包额 package ([\d,.]+)，支出 spent ([\d,.]+)", README)
        assert match, row.community_id
        assert (_yuan(match[1]), _yuan(match[2])) == (Decimal(row.package), Decimal(row.expenditure))
