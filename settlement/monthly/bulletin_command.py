"""``settlement bulletin``: the monthly bulletin (月度通报.xlsx) on its own, without a month run.

Loads and validates the data folder like ``settlement validate`` (an invalid folder stops here,
with the problem list), builds the bulletin of ``--month`` from the year to date
(:func:`settlement.monthly.bulletin_inputs.bulletin_for_month`), writes
``<out>/月度通报.xlsx`` and prints every early warning. ``--previous-data`` names last year's
folder (read by the loader; its dates are last year's, so it is not validated against this
year's config) for the same-month comparison and the seasonal projection.
"""

from __future__ import annotations

from pathlib import Path

import click

from settlement.problems import has_errors


def run_bulletin(config_path: Path, data_dir: Path, month: str, out_dir: Path,
                 previous_dir: Path | None = None, echo=click.echo) -> bool:
    """True when the bulletin was written (warnings are not a failure)."""
    from settlement.loader import load_folder
    from settlement.monthly.bulletin_book import FILE_NAME, write_bulletin
    from settlement.monthly.bulletin_inputs import bulletin_for_month
    from settlement.pipeline import load_and_validate
    from settlement.validation.report import print_summary

    config, resolved, loaded, problems = load_and_validate(config_path, data_dir)
    if has_errors(problems) or resolved is None:
        print_summary(problems, loaded, echo)
        return False
    if not _month_ok(month, resolved.year, echo):
        return False
    previous = None
    if previous_dir is not None:
        prior = load_folder(previous_dir)
        if has_errors(prior.problems):
            print_summary(prior.problems, prior, echo)
            return False
        previous = prior.tables
    bulletin, _ = bulletin_for_month(loaded.tables, resolved, month, previous)
    path = write_bulletin(Path(out_dir) / FILE_NAME, bulletin, config.county)
    echo(f"月度通报 monthly bulletin {month}: {path}")
    print_warnings(bulletin.warnings, echo)
    return True


def print_warnings(warnings, echo=click.echo) -> None:
    """The early warnings, one line each (the run prints them too)."""
    echo(f"预警 early warnings: {len(warnings)} 条")
    for w in warnings:
        echo(f"  ⚠ {w.message_zh}")


def _month_ok(month: str, year: int, echo) -> bool:
    parts = month.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 1 <= int(parts[1]) <= 12:
        echo(f"月份格式应为 YYYY-MM（如 2025-03）/ --month must be YYYY-MM: {month}")
        return False
    if int(parts[0]) != year:
        echo(f"月份 {month} 不在结算年度 {year} 内 / month outside the settlement year")
        return False
    return True
