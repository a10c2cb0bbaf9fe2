"""Database plumbing (数据库连接与迁移): engines, Alembic, and frames in and out of tables.

- :func:`make_engine` — an engine for any SQLAlchemy URL (SQLite file by default; PostgreSQL
  through ``postgresql+psycopg://…``); SQLite gets foreign keys switched on.
- :func:`write_transaction`, :func:`lock` — writers serialised (SQLite ``BEGIN IMMEDIATE``,
  PostgreSQL advisory transaction locks);
- :func:`alembic_config`, :func:`upgrade` (under a lock: concurrent first runs are safe), :func:`current_revision`, :func:`head_revision` —
  Alembic driven from code: the migrations ship inside the package
  (``settlement/migrations``), no ``alembic.ini`` at runtime.
- :func:`insert_frame` / :func:`read_frame` — a result frame to rows and back. Money goes in
  as Python ``int`` fen and comes back as int64, exactly::

      frame  amount = [123456, -7]           (int64 fen)
      table  (run_id, unit_id, line, …, amount, row_no) = ('R1', 'U1', 'net', …, 123456, 0) …
      back   amount = [123456, -7]           (int64, same order, by row_no)

  A frame must have the table's contract columns; ``explanation`` is stored when present;
  other (working) columns are not stored — :func:`unstored_columns` names them.

  Writing is a plain DB-API ``executemany`` of tuples (SQLite) or ``COPY … FROM STDIN``
  (PostgreSQL with psycopg), inside the caller's transaction.
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from settlement.store.location import default_db_url  # noqa: F401  (the console imports it here)
from settlement.store.tables import RESULT_SPECS

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: rows converted and sent per batch (bounded memory). Measured on the scale-10 results (725,895
#: dip_cases + 365,693 claims_audit rows): 100,000 rows and a 200 MB page cache added 422 MB to
#: the process while saving, 10,000 rows and 20 MB add 52 MB, at the same speed (4.2–4.9 s CPU)
_CHUNK = 10_000


class StoreError(Exception):
    """A run-store problem, worded for the user (Chinese, English alongside)."""


# ---------------------------------------------------------------- engine and migrations
BUSY_SECONDS = 60  # how long a SQLite writer waits for another writer before "database busy"


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``. SQLite: foreign keys on, and transactions under our control.

    pysqlite's own implicit BEGIN is switched off so that :func:`write_transaction` can open
    ``BEGIN IMMEDIATE`` (the database's write lock taken up front: two writers queue instead of
    one failing on a lock upgrade); readers get a plain deferred ``BEGIN``.
    """
    sqlite = sa.engine.make_url(url).get_backend_name() == "sqlite"
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_SECONDS} if sqlite else {})
    if sqlite:
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # no implicit BEGIN: see _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA cache_size = -20000")  # 20 MB of page cache: bulk inserts (see _CHUNK)
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("settlement_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def write_transaction(engine: sa.Engine):
    """A transaction that writes, serialised with every other writer of the run record.

    SQLite: ``BEGIN IMMEDIATE`` (waits up to :data:`BUSY_SECONDS` for the write lock).
    PostgreSQL: an ordinary transaction; callers take :func:`lock` on what they check.
    """
    with engine.connect() as conn:
        conn.execution_options(settlement_write=True)
        with conn.begin():
            yield conn


def lock(conn: sa.Connection, key: str) -> None:
    """Hold ``key`` until the transaction ends (PostgreSQL advisory lock; SQLite: the write
    transaction already holds the whole database)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def alembic_config(connection: sa.Connection | None = None, url: str | None = None):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


SCHEMA_LOCK = "settlement:schema"


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision``; returns (revision before, revision after).

    Safe when several processes start on a new database at once: the upgrade runs in one
    write transaction under :data:`SCHEMA_LOCK` and reads the current revision inside it, so
    the first creates the tables and the others find them there.
    """
    if revision == "head":  # at the head already (every run but the first): Alembic not imported
        at = stored_revision(engine)
        if at is not None and at == head_of_files():
            return at, at
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with write_transaction(engine) as conn:
        lock(conn, SCHEMA_LOCK)
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(alembic_config(conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def stored_revision(engine: sa.Engine) -> str | None:
    """The database's one ``alembic_version`` row, read with plain SQL (None: no such table,
    or not exactly one row — then Alembic decides)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.DBAPIError:
        return None
    return rows[0] if len(rows) == 1 else None


def head_of_files() -> str:
    """The newest revision as the migration files name it: ``NNNN_<what>.py`` declares
    ``revision = "NNNN"``, each revising the one before (a test checks this is Alembic's head)."""
    numbers = [p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(numbers)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# ---------------------------------------------------------------- frames → rows
def check_frame(name: str, frame: pd.DataFrame) -> list[str]:
    """Problems that would stop ``frame`` being stored as result table ``name`` (empty = fine)."""
    spec = RESULT_SPECS.get(name)
    if spec is None:
        return [f"未知结果表 unknown result table `{name}` (known: {', '.join(RESULT_SPECS)})"]
    problems = []
    missing = [c for c, _ in spec.required if c not in frame.columns]
    if missing:
        problems.append(f"结果表 {name} 缺少列 missing columns: {', '.join(missing)}")
    for col, kind in spec.columns:
        if col in frame.columns and kind in ("money", "int") and not (
                pd.api.types.is_integer_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col])):
            problems.append(f"结果表 {name} 的金额/计数列 {col} 须为整数（分）"
                            f" money/count column must be integer fen, got {frame[col].dtype}")
    for col in spec.key:
        if col in frame.columns and frame[col].isna().any():
            problems.append(f"结果表 {name} 的键列 {col} 有空值 key column has empty values")
    return problems


def stored_columns(name: str, frame: pd.DataFrame) -> list[str]:
    """The frame's columns that the table stores, in table order."""
    return [c for c in RESULT_SPECS[name].column_names if c in frame.columns]


def unstored_columns(name: str, frame: pd.DataFrame) -> list[str]:
    """Working columns of the frame that have no database column (they stay in the CSVs)."""
    known = set(RESULT_SPECS[name].column_names)
    return [str(c) for c in frame.columns if c not in known]


def _python_values(series: pd.Series, kind: str) -> list:
    """One column as a list of plain Python values (int, float, str, bool, None)."""
    if kind in ("money", "int") and isinstance(series.dtype, np.dtype):
        return series.to_numpy().tolist()
    if kind == "float":
        if not pd.api.types.is_numeric_dtype(series):
            series = pd.to_numeric(series.astype(object))  # Decimal objects or numeric text
        arr = series.to_numpy(dtype="float64", na_value=np.nan)
        values = arr.tolist()
        if np.isnan(arr).any():
            return [None if v != v else v for v in values]
        return values
    if (kind == "text" and isinstance(series.dtype, pd.CategoricalDtype)
            and pd.api.types.is_string_dtype(series.cat.categories)):
        return _category_values(series)
    if kind == "text":
        series = series.astype("string")
    mask = series.isna().to_numpy()
    values = series.astype(object).tolist()
    if kind in ("money", "int"):
        values = [None if m else int(v) for v, m in zip(values, mask)]
    elif kind == "bool":
        values = [None if m else bool(v) for v, m in zip(values, mask)]
    elif mask.any():
        values = [None if m else v for v, m in zip(values, mask)]
    return values


def _category_values(series: pd.Series) -> list:
    """A categorical text column as Python values: each category's text made once and
    repeated (the same str object for every row of it: no per-row conversion, and the
    driver encodes it once); a missing value is None. ``["H1", "H1", <NA>]`` → 'H1', 'H1', None."""
    texts = series.cat.categories.astype("string").astype(object).tolist()
    codes = series.cat.codes.to_numpy()
    return np.array([*texts, None], dtype=object)[codes].tolist()  # code −1 (missing) → None


def frame_rows(run_id: str, columns: list[tuple[str, str]], frame: pd.DataFrame, start: int = 0) -> list[tuple]:
    """Rows as plain tuples: run_id, the (column, kind) values, row_no (counting from ``start``)."""
    n = len(frame)
    values = ([[run_id] * n] + [_python_values(frame[c], k) for c, k in columns]
              + [list(range(start, start + n))])
    return list(zip(*values))


def insert_frame(conn: sa.Connection, run_id: str, name: str, frame: pd.DataFrame, start: int = 0) -> int:
    """Append ``frame`` (its stored columns) to result table ``name`` in the open transaction;
    its ``row_no`` count from ``start`` (a table saved in parts, see :mod:`.parts`)."""
    problems = check_frame(name, frame)
    if problems:
        raise StoreError("; ".join(problems))
    spec = RESULT_SPECS[name]
    columns = [(c, spec.kind(c)) for c in stored_columns(name, frame)]
    names = ["run_id", *[c for c, _ in columns], "row_no"]
    pg_types = ["text", *[_PG_TYPES[k] for _, k in columns], "int4"]
    with _gc_paused():
        for first in range(0, len(frame), _CHUNK):
            rows = frame_rows(run_id, columns, frame.iloc[first:first + _CHUNK], start + first)
            insert_rows(conn, name, names, rows, pg_types)
    return len(frame)


_PG_TYPES = {"money": "int8", "int": "int8", "float": "float8", "text": "text", "bool": "bool"}


def insert_rows(conn: sa.Connection, table: str, columns: list[str], rows: list[tuple],
                pg_types: list[str] | None = None) -> None:
    """Bulk insert of plain tuples: binary COPY on PostgreSQL/psycopg, else DB-API executemany.

    Measured on 1M dip_cases rows: SQLite executemany ≈ 3 s; PostgreSQL binary COPY with
    declared types ≈ 1.6 s (+3 s for the run_id foreign-key checks), where untyped text COPY
    took 5.5 s and executemany ≈ 10 s.
    """
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg" and pg_types:
        raw = conn.connection.driver_connection
        sql = f"COPY {quote(table)} ({names}) FROM STDIN (FORMAT BINARY)"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            copy.set_types(pg_types)
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join([_placeholder(conn.dialect.paramstyle, i) for i in range(len(columns))])
    conn.exec_driver_sql(f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", rows)


@contextlib.contextmanager
def _gc_paused():
    """Millions of fresh tuples make the cyclic GC rescan the heap again and again; pause it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _placeholder(paramstyle: str, i: int) -> str:
    return {"qmark": "?", "numeric": f":{i + 1}", "numeric_dollar": f"${i + 1}"}.get(paramstyle, "%s")


# ---------------------------------------------------------------- rows → frames
def read_frame(conn: sa.Connection, run_id: str, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Result table ``name`` of ``run_id`` as written: ``columns`` (default all), frame order."""
    spec = RESULT_SPECS[name]
    columns = list(columns or spec.column_names)
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in [*columns, "row_no"])
    sql = (f"SELECT {names} FROM {quote(name)} "
           f"WHERE {quote('run_id')} = {_placeholder(conn.dialect.paramstyle, 0)}")
    cursor = conn.connection.cursor()
    try:
        with _gc_paused():
            cursor.execute(sql, (run_id,))
            values = list(zip(*cursor.fetchall())) or [()] * (len(columns) + 1)
            frame = pd.DataFrame({c: _typed(list(v), spec.kind(c)) for c, v in zip(columns, values)})
    finally:
        cursor.close()
    order = np.asarray(values[-1], dtype="int64")
    if len(order) and not (np.diff(order) > 0).all():
        frame = frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    return frame


def _typed(values: list, kind: str):
    """A fetched column → typed array: fen int64 (Int64 if any NULL), float64, string, bool."""
    has_null = None in values
    if kind in ("money", "int"):
        return pd.array(values, dtype="Int64") if has_null else np.array(values, dtype="int64")
    if kind == "float":
        return np.array(values, dtype="float64")
    if kind == "bool":
        return pd.array(values, dtype="boolean") if has_null else np.array(values, dtype=bool)
    return pd.array(values, dtype="string")
