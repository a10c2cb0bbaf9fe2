"""Commands for people who do not live in a terminal: ``compare``, ``serve``, ``users``, ``init``.

They are registered on the main group by :func:`register` (``settlement/cli.py``); each only
parses its arguments and calls one function of the package. ``run_scenarios`` is what
``settlement run --scenario a.yaml --scenario b.yaml`` does after the base run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _db_default() -> str:
    """The run store's default database (``--db``, else ``SETTLEMENT_DB``, else the per-user file)."""
    from settlement.store.location import default_db_url

    return default_db_url()


def db_option(func):
    return click.option("--db", "db_url", default=None,
                        help="SQLAlchemy URL（缺省：环境变量 SETTLEMENT_DB，否则本用户的默认数据库）/ database URL "
                             "(default: SETTLEMENT_DB, else the per-user default)")(func)


def compare_and_write(db_url: str, run_a: str, run_b: str, out: Path, echo=click.echo) -> Path:
    """Compare two stored runs, print the comparison and write 对比.xlsx to ``out``."""
    from settlement.compare import compare_runs, console_lines
    from settlement.compare.workbook import write_comparison
    from settlement.store import RunStore

    with RunStore.open_existing(db_url) as store:
        comparison = compare_runs(store, run_a, run_b)
    for line in console_lines(comparison):
        echo(line)
    path = write_comparison(comparison, out)
    echo(f"\n对比表已写出 comparison workbook: {path}")
    return path


def run_scenarios(base_run: str, scenarios: tuple[Path, ...], data_dir: Path, out_dir: Path, db_url: str,
                  progress: bool, echo=click.echo, base_config: Path | None = None) -> bool:
    """Run each scenario overlay on the same data and compare it with the base run.

    Each comparison goes to ``<out>/<scenario run>/对比.xlsx``. False if any scenario failed.
    An overlay whose ``base_config`` is not the base run's config is run as written, with a warning.
    """
    from settlement.pipeline import run_settlement

    ok = True
    for scenario in scenarios:
        echo(f"\n===== 情景 scenario {scenario} =====")
        if base_config is not None and not _overlays(scenario, base_config):
            echo(f"提示 note: {scenario} 的 base_config 不是 {base_config}，按该文件自身的参数结算后对比 / "
                 "the overlay does not build on the base config; compared as it stands")
        outcome = run_settlement(scenario, data_dir, out_dir, db_url, progress=progress, echo=echo)
        if not outcome.ok or outcome.run_id is None:
            ok = False
            continue
        compare_and_write(db_url, base_run, outcome.run_id, Path(outcome.run_dir) / "对比.xlsx", echo)
    return ok


def _overlays(scenario: Path, base_config: Path) -> bool:
    """Whether ``scenario`` names ``base_config`` as its base (directly)."""
    import yaml

    try:
        raw = yaml.safe_load(Path(scenario).read_text(encoding="utf-8-sig")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    base = raw.get("base_config") if isinstance(raw, dict) else None
    return base is not None and (Path(scenario).parent / str(base)).resolve() == Path(base_config).resolve()


def register(main: click.Group) -> None:
    """Add this module's commands to the ``settlement`` group."""
    for command in (compare, serve, users, init):
        main.add_command(command)


@click.command(help="对比两次结算 / compare two runs side by side (writes 对比.xlsx).")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--out", "out", default=Path("对比.xlsx"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="输出的对比表 / output workbook")
@db_option
def compare(run_a: str, run_b: str, out: Path, db_url: str | None) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from settlement.store import StoreError

    try:
        compare_and_write(db_url or _db_default(), run_a, run_b, out)
    except (StoreError, SQLAlchemyError) as exc:
        click.echo(str(getattr(exc, "orig", None) or exc), err=True)
        sys.exit(1)


@click.command(help="启动网页控制台 / start the local web console.")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址 / address to listen on")
@click.option("--port", default=8700, show_default=True, type=int)
@db_option
@click.option("--workdir", default=Path("."), show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="工作目录：配置、上传数据与报表所在 / working folder (configs, uploads, reports)")
def serve(host: str, port: int, db_url: str | None, workdir: Path) -> None:
    import os

    import uvicorn

    from settlement.web import create_app

    from settlement.store.location import describe_db_url

    url = db_url or _db_default()
    click.echo(f"数据库 database: {describe_db_url(url)}")
    app = create_app(url, workdir, secret_key=os.environ.get("SETTLEMENT_SECRET_KEY"))
    if not app.state.console.users.list():
        click.echo("尚无用户，请先执行 settlement users add 用户名 --role 财务管理员 / no users yet: "
                   "run `settlement users add NAME --role finance_admin`")
    click.echo(f"网页控制台 console: http://{host}:{port}/  （Ctrl+C 退出 to stop）")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@click.group(help="网页控制台用户 / users of the web console.")
def users() -> None:
    pass


def _user_store(db_url: str | None):
    from settlement.store import RunStore
    from settlement.store.users import UserStore

    store = RunStore.open(db_url or _db_default())
    store.upgrade()
    return store, UserStore(store.engine)


@users.command("add", help="添加用户 / add a user (角色 role: 财务管理员 | 医保审核 | 成员单位).")
@click.argument("username")
@click.option("--role", required=True, help="财务管理员 finance_admin | 医保审核 bureau_auditor | 成员单位 unit")
@click.option("--unit", "unit_id", default=None, help="成员单位用户所属单位编码 / the unit of a unit user")
@click.option("--name", "display_name", default=None, help="显示名称 / display name")
@click.password_option(help="密码（不填则提示输入）/ password (prompted when omitted)")
@db_option
def users_add(username: str, role: str, unit_id: str | None, display_name: str | None, password: str,
              db_url: str | None) -> None:
    from settlement.store import StoreError

    store, people = _user_store(db_url)
    try:
        user = people.add(username, password, role, unit_id, display_name)
    except StoreError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        store.dispose()
    click.echo(f"已添加用户 added: {user.username}（{user.role_zh}{'，单位 ' + user.unit_id if user.unit_id else ''}）")


@users.command("remove", help="删除用户 / remove a user (the audit log keeps their entries).")
@click.argument("username")
@db_option
def users_remove(username: str, db_url: str | None) -> None:
    from settlement.store import StoreError

    store, people = _user_store(db_url)
    try:
        people.remove(username)
    except StoreError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        store.dispose()
    click.echo(f"已删除用户 removed: {username}")


@users.command("list", help="列出用户 / list users.")
@db_option
def users_list(db_url: str | None) -> None:
    store, people = _user_store(db_url)
    try:
        everyone = people.list()
    finally:
        store.dispose()
    if not everyone:
        click.echo("尚无用户 no users")
    for u in everyone:
        click.echo(f"{u.username:<20}{u.role_zh:<8}{u.unit_id or '':<12}{u.display_name or ''}")


@click.command(help="创建县级工作目录：参数配置、数据模板、情景示例 / create a county working folder.")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def init(target: Path) -> None:
    from settlement.init_folder import init_folder

    try:
        files = init_folder(target)
    except FileExistsError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"已创建工作目录 working folder created: {target}（{len(files)} 个文件）")
    click.echo(f"  参数配置 config: {target / 'config.yaml'}")
    click.echo(f"  数据模板 data templates: {target / 'data'}（用 Excel 填写 fill them in Excel）")
    click.echo(f"  下一步见 next steps: {target / '使用说明.txt'}")
