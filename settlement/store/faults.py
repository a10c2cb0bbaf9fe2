"""Known faults of the machine and the database, said in one Chinese sentence (故障说明).

A full disk, a busy or unreachable database, a folder without write permission are not bugs
of the program: the user gets one line saying what happened and what to do, never a
traceback. The same words whichever engine reports it::

    OSError(ENOSPC, …, "reports/…/汇总.xlsx")          → 磁盘空间已满 … (reports/…/汇总.xlsx)
    sqlite3 "database or disk is full" (SQLITE_FULL)   → 磁盘空间已满 … (数据库 database)
    psycopg DiskFull (SQLSTATE 53100)                  → 磁盘空间已满 … (数据库 database)
"""

from __future__ import annotations

import errno

import sqlalchemy as sa

DISK_FULL = ("磁盘空间已满，结算未完成，未保存任何结果；请清理磁盘后重新结算 / disk full: "
             "the run did not finish and saved no results; free some space and run again")


def _inner(exc: BaseException) -> BaseException:
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def is_disk_full(exc: BaseException) -> bool:
    inner = _inner(exc)
    if isinstance(inner, OSError) and inner.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if getattr(inner, "sqlstate", None) in ("53100", "53000"):  # PostgreSQL disk_full / resources
        return True
    return getattr(inner, "sqlite_errorname", None) == "SQLITE_FULL" or (
        "database or disk is full" in str(inner))


def known_fault(exc: BaseException) -> str | None:
    """The user's message for a known fault (None: not one we know; report it as it is)."""
    inner = _inner(exc)
    text = str(inner)
    if is_disk_full(exc):
        where = getattr(inner, "filename", None)
        return f"{DISK_FULL}（{where or '数据库 database'}）"
    if isinstance(inner, PermissionError):
        return (f"没有写入权限 permission denied: {inner.filename or text}；请换一个可写的目录 "
                "(--out / --db) / choose a folder you may write to")
    if "database is locked" in text:
        return ("数据库正被另一结算占用，等待超时；请稍后再试 / the database is busy with another "
                "run (timed out waiting); try again later")
    if "unable to open database file" in text:
        return ("无法打开数据库文件（目录不存在或无权限）/ cannot open the database file (folder "
                "missing or not writable)")
    if isinstance(exc, sa.exc.OperationalError) and (
            "connection" in text.lower() or "could not" in text.lower()):
        return f"无法连接数据库 cannot connect to the database: {text.strip().splitlines()[0][:300]}"
    return None


def describe(exc: BaseException) -> str:
    """A known fault's message, or the error's own type and first line (no SQL echo)."""
    known = known_fault(exc)
    if known:
        return known
    inner = _inner(exc)
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first[:2000]}"
