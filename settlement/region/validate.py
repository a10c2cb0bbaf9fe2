"""``settlement validate --region FILE --data DIR``: a whole region checked, nothing recorded.

The same pass 1 as a region run (:func:`settlement.region.check.check_region`): the region's own
rules (every community and unit in a county of the region file, each county with a community,
ids in two counties, rows of no county), then every county's checks as its own run would make
them. One problem list — the format of ``settlement validate`` (问题清单.xlsx and 校验报告.html
with ``--out``, the summary on the screen) — and no run record, no county folder, no database.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from settlement.config import ConfigError
from settlement.problems import has_errors


def validate_region(region_path: Path, data_dir: Path, out_dir: Path | None, *, workers: int = 1,
                    echo=click.echo):
    """Every county's problems and the region's in one report; Outcome.ok when none is an error."""
    from settlement.pipeline import Outcome
    from settlement.region.config import county_setups, load_region
    from settlement.region.check import check_region
    from settlement.validation.report import print_summary, write_report

    try:
        setups = county_setups(load_region(region_path))
    except ConfigError as exc:
        echo(str(exc))
        return Outcome(ok=False)
    problems: list = []
    with tempfile.TemporaryDirectory(prefix="settlement-region-") as work:
        read = check_region(setups, Path(data_dir), Path(work), problems, workers=workers).read
    files = write_report(problems, read, Path(out_dir) / "validation") if out_dir is not None else None
    print_summary(problems, read, echo)
    if files and getattr(read, "validation", None) is None:
        echo(f"报告 report: {files['workbook']}  ·  {files['html']}")
    return Outcome(ok=not has_errors(problems), problems=problems)
