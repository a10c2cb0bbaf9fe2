"""Command line (命令行): ``settlement sample | validate | run | runs | show | close | db``.

Only argument parsing and printing live here; every command calls one function of the
package (the pipeline, the validator, the sample generator, the run store).
"""

from __future__ import annotations

import atexit
import gc
import sys
from pathlib import Path

import click

from settlement import __version__

# At exit, the objects still alive are frozen (kept out of the cyclic collector): the
# interpreter's shutdown would otherwise scan them in several full collections, ≈ 1.5 s after
# a run that imported Great Expectations (measured: 1.4–1.7 s → 0.2 s from the last handler to
# the process's end). Registered first, so it runs after every handler registered later.
atexit.register(gc.freeze)


def _default_db(_ctx, _param, value: str | None) -> str:
    from settlement.store.location import default_db_url

    return value or default_db_url()


DB_HELP = ("SQLAlchemy URL；缺省为环境变量 SETTLEMENT_DB，否则 <用户数据目录>/settlement/settlement.db "
           "（与当前目录无关）/ default: $SETTLEMENT_DB, else the per-user data folder (never the "
           "current folder)")
DB_OPTION = click.option("--db", "db_url", default=None, callback=_default_db, help=DB_HELP)


@click.group(help="医共体结算引擎 — year-end settlement engine for county medical communities.")
@click.version_option(__version__, prog_name="settlement")
def main() -> None:
    pass


@main.command(help="生成示例县数据 / write the fictional sample county.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=20250101, show_default=True, type=int)
@click.option("--scale", default=1.0, show_default=True, type=float,
              help="1 = 一个完整县（约 9 万住院病例）；10 = 地市级 / 1 = a full county, 10 = a city")
@click.option("--format", "fmt", default="csv", show_default=True, type=click.Choice(["csv", "parquet"]))
@click.option("--counties", default=None, type=click.IntRange(min=1),
              help="生成统筹区（示例市）：N 个县（区）、市直医院与 region.yaml，各县规模约为 2 × scale 个示例县"
                   " / a pooling region of N counties with city hospitals and DIR/region.yaml")
def sample(out_dir: Path, seed: int, scale: float, fmt: str, counties: int | None) -> None:
    if counties is not None:  # issue 13: a region, streamed county by county
        _sample_region(out_dir, seed, scale, fmt, counties)
        return
    from settlement.sample import generate

    counts = generate(out_dir, seed=seed, scale=scale, fmt=fmt)
    click.echo(f"已生成示例数据 sample county written to {out_dir}")
    for table, rows in counts.items():
        click.echo(f"  {table:<26} {rows:>12,} 行 rows")


def _sample_region(out_dir: Path, seed: int, scale: float, fmt: str, counties: int) -> None:
    from settlement.sample.region import generate_region

    def written(spec, cases: int) -> None:
        click.echo(f"  {spec.county_id} {spec.name}（规模 size {spec.size:.3f}）"
                   f"区域内医院住院病例 cases at the region's hospitals {cases:,}")

    try:
        counts = generate_region(out_dir, counties, seed=seed, scale=scale, fmt=fmt, progress=written)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(f"已生成示例统筹区 sample region written to {out_dir}（区域配置 region config: "
               f"{Path(out_dir) / 'region.yaml'}）")
    for table, rows in counts.items():
        click.echo(f"  {table:<26} {rows:>12,} 行 rows")


@main.command(help="校验输入数据 / validate a data folder against the contract and the config.")
@click.option("--config", "config_path", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", "region_path", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="统筹区配置：校验区域内每个县（区）与区域规则，一份报告 / a region file: every county and "
                   "the region's rules, one report")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="区域校验的并行进程数 / processes for a region's counties")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="报告输出目录（写入 validation/）/ report folder (writes validation/)")
@click.option("--data-docs", is_flag=True,
              help="另写 Great Expectations Data Docs（英文 HTML，数 MB）/ also write GX Data Docs")
def validate(config_path: Path | None, region_path: Path | None, workers: int, data_dir: Path,
             out_dir: Path | None, data_docs: bool) -> None:
    from settlement.pipeline import validate_inputs

    if (config_path is None) == (region_path is None):
        raise click.UsageError("请给出 --config（单县）或 --region（统筹区）之一 / give exactly one of "
                               "--config and --region")
    if region_path is not None:  # issue 13: every county of the region and its own rules
        from settlement.region.validate import validate_region

        outcome = validate_region(region_path, data_dir, out_dir, workers=workers)
    else:
        outcome = validate_inputs(config_path, data_dir, out_dir, data_docs=data_docs)
    if out_dir is None:
        click.echo("未写出报告文件（加 --out 目录 可写出 问题清单.xlsx 与 校验报告.html）"
                   " / no report file written (use --out DIR to write the report)")
    sys.exit(0 if outcome.ok else 1)


@main.command(help="差别化报销审核 / audit each claim's ratio and deductible against the rules.")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", default=Path("reports") / "audit", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="输出目录（写入 results/）")
def audit(config_path: Path, data_dir: Path, out_dir: Path) -> None:
    from settlement.audit_command import run_audit

    sys.exit(0 if run_audit(config_path, data_dir, out_dir) else 1)


@main.command(help="月度通报与预警 / the monthly bulletin (月度通报.xlsx) and its early warnings.")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path))
@click.option("--month", required=True, metavar="YYYY-MM", help="通报月份 / the month")
@click.option("--out", "out_dir", default=Path("reports") / "bulletin", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="输出目录 / output folder")
@click.option("--previous-data", "previous_dir", default=None, type=click.Path(path_type=Path),
              help="上年数据目录（同月对比与季节性预测）/ last year's data folder")
def bulletin(config_path: Path, data_dir: Path, month: str, out_dir: Path,
             previous_dir: Path | None) -> None:
    from settlement.monthly.bulletin_command import run_bulletin

    sys.exit(0 if run_bulletin(config_path, data_dir, month, out_dir, previous_dir) else 1)


@main.command(help="生成数据字典 / write docs/data-dictionary.md from the table definitions.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="输出文件（缺省 当前目录下 docs/data-dictionary.md）/ output file (default: ./docs/data-dictionary.md)")
@click.option("--check", is_flag=True, help="只检查文件是否最新（过期则退出码 1）/ only check it is up to date")
def datadict(out_path: Path | None, check: bool) -> None:
    from settlement import datadict as dd
    from settlement.schema import ContractError, contract

    try:
        contract()
    except ContractError as exc:  # no definitions: say so, no traceback
        click.echo(str(exc), err=True)
        sys.exit(1)
    path = out_path or dd.DEFAULT_PATH
    if check:
        ok = dd.is_up_to_date(path)
        click.echo(f"数据字典{'已是最新' if ok else '已过期，请运行 settlement datadict'} "
                   f"data dictionary {'up to date' if ok else 'out of date'}: {path}")
        sys.exit(0 if ok else 1)
    click.echo(f"已生成数据字典 data dictionary written: {dd.write(path)}")


@main.command(help="执行年度结算 / run the year-end settlement.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="县（区）配置文件 / county config (or --region)")
@click.option("--region", "region_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="统筹区配置文件：整个区域一个点值，各县分别结算 / pooling-region config (issue 13)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="区域结算并行进程数 / counties settled in parallel (with --region)")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", default=Path("reports"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="运行结果根目录 / reports root")
@DB_OPTION
@click.option("--supersede", is_flag=True, help="替代已关账期间的结算 / supersede a closed period")
@click.option("--quiet", is_flag=True, help="不显示进度条 / no progress bars")
@click.option("--scenario", "scenarios", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="情景方案（可多次）：先算基础方案，再算各情景并与基础方案对比 / scenario overlay (repeatable)")
@click.option("--pdf", is_flag=True,
              help="结算单另存 PDF（需 LibreOffice）/ also write the statements as PDF (LibreOffice)")
@click.option("--data-docs", is_flag=True,
              help="另写 Great Expectations Data Docs（英文 HTML，数 MB）/ also write GX Data Docs")
@click.option("--month", default=None, metavar="YYYY-MM",
              help="月度 DIP 预结算（该月出院病例）/ the monthly DIP pre-settlement of this month")
def run(config_path: Path | None, region_path: Path | None, workers: int, data_dir: Path,
        out_dir: Path, db_url: str, supersede: bool, quiet: bool, scenarios: tuple[Path, ...],
        pdf: bool, data_docs: bool, month: str | None) -> None:
    from settlement.pipeline import run_settlement

    if (config_path is None) == (region_path is None):
        raise click.UsageError("请给出 --config（单县）或 --region（统筹区）之一 / give exactly one of "
                               "--config and --region")
    if region_path is not None:  # issue 13: one DIP point value for the region, then each county
        if month is not None or scenarios:
            raise click.UsageError("--region 不能与 --month、--scenario 同用 / --region excludes "
                                   "--month and --scenario")
        from settlement.region.run import run_region

        sys.exit(0 if run_region(region_path, data_dir, out_dir, db_url, workers=workers,
                                 supersede=supersede, progress=not quiet, pdf=pdf).ok else 1)
    if month is not None:  # issue 10: a month run (kind = month); period closing does not apply
        from settlement.monthly.run_month import run_month

        sys.exit(0 if run_month(config_path, data_dir, out_dir, db_url, month,
                                progress=not quiet).ok else 1)

    outcome = run_settlement(config_path, data_dir, out_dir, db_url, supersede=supersede,
                             progress=not quiet, pdf=pdf, data_docs=data_docs)
    if outcome.ok and scenarios:  # H5 (issue 14): what-if overlays compared with this base run
        from settlement.cli_console import run_scenarios

        outcome.ok = run_scenarios(outcome.run_id, scenarios, data_dir, out_dir, db_url, not quiet,
                                   base_config=config_path)
    sys.exit(0 if outcome.ok else 1)



# ---------------------------------------------------------------- run record (settlement/store)
def _store_failed(exc: Exception) -> None:
    """A run-store or database error as one readable message on stderr, exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from settlement.store import faults

    if isinstance(exc, (SQLAlchemyError, OSError)):
        click.echo(f"数据库错误 database error: {faults.describe(exc)}", err=True)
    else:
        click.echo(str(exc), err=True)
    sys.exit(1)


def _open_for_reading(db_url: str):
    """The store of a read/close command: the database named, dead runs marked 中断 first."""
    from settlement.store import RunStore, describe_db_url

    click.echo(f"数据库 database: {describe_db_url(db_url)}")
    store = RunStore.open_existing(db_url)
    try:
        for dead in store.reap_dead_runs():
            click.echo(f"已将中断的结算标记为失败 marked interrupted: {dead.run_id}（{dead.failure_reason}）")
    except BaseException:
        store.dispose()
        raise
    return store


@main.group(help="数据库维护 / database maintenance.")
def db() -> None:
    pass


@db.command("upgrade", help="升级数据库结构到最新版本（Alembic 迁移）/ bring the database schema up to date.")
@DB_OPTION
@click.option("--revision", default="head", show_default=True, help="目标版本 / target revision")
def db_upgrade(db_url: str, revision: str) -> None:
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from settlement.store import RunStore, describe_db_url

    click.echo(f"数据库 database: {describe_db_url(db_url)}")
    try:
        with RunStore.open(db_url) as store:
            before, after = store.upgrade(revision)
    except (CommandError, SQLAlchemyError, OSError) as exc:
        _store_failed(exc)
    if before == after:
        click.echo(f"数据库结构已是最新 schema already at revision {after}")
    else:
        click.echo(f"数据库结构已升级 schema upgraded: {before or '（空 empty）'} → {after}")


@main.command("runs", help="列出历次结算 / list the runs recorded in the database.")
@DB_OPTION
@click.option("--county", default=None, help="只看某县 / only this county")
@click.option("--year", default=None, type=int, help="只看某年度 / only this year")
def runs_command(db_url: str, county: str | None, year: int | None) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from settlement.store import NoDatabase, StoreError
    from settlement.store.views import runs_table

    try:
        with _open_for_reading(db_url) as store:
            records = store.list_runs(county=county, year=year)
    except NoDatabase as exc:
        click.echo(str(exc))
        return
    except (StoreError, SQLAlchemyError, OSError) as exc:
        _store_failed(exc)
    for line in runs_table(records):
        click.echo(line)


@main.command(help="显示一次结算的摘要 / show a run's summary.")
@click.argument("run_id")
@DB_OPTION
def show(run_id: str, db_url: str) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from settlement.store import StoreError
    from settlement.store.views import run_summary

    try:
        with _open_for_reading(db_url) as store:
            lines = run_summary(store.get_run(run_id), store.key_totals(run_id))
    except (StoreError, SQLAlchemyError, OSError) as exc:
        _store_failed(exc)
    for line in lines:
        click.echo(line)


@main.command(help="关账：该县该年度不再接受重算，除非 --supersede / close the run's county-year.")
@click.argument("run_id")
@DB_OPTION
def close(run_id: str, db_url: str) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from settlement.store import StoreError
    from settlement.store.views import when

    try:
        with _open_for_reading(db_url) as store:
            record = store.close_period(run_id)
    except (StoreError, SQLAlchemyError, OSError) as exc:
        _store_failed(exc)
    click.echo(f"已关账 closed: {record.county} {record.year} 年度，结算 run {record.run_id}，"
               f"{when(record.closed_at)}")
    click.echo("再次结算同一期间需加 --supersede（新结算成功后成为该期间的关账结算）/ rerunning this "
               "period needs --supersede (a superseding run becomes the closed run)")

from settlement.cli_console import register as _register_console  # noqa: E402  (compare, serve, users, init)

_register_console(main)

if __name__ == "__main__":  # pragma: no cover
    main()
