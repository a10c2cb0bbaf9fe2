"""Where the run record lives (结算记录库位置): one documented place, never the current folder.

A closed period must stay closed wherever the command is typed, so the default database is
not ``./settlement.db`` but one fixed file per user account, or the URL the office chose:

1. ``--db URL`` on the command line (any SQLAlchemy URL, e.g. a shared PostgreSQL);
2. else the environment variable ``SETTLEMENT_DB`` (a URL, or a plain file path for SQLite);
3. else ``<user data dir>/settlement/settlement.db``, SQLite::

       Linux    ~/.local/share/settlement/settlement.db   (or $XDG_DATA_HOME/settlement/…)
       Windows  %LOCALAPPDATA%\\settlement\\settlement.db
       macOS    ~/Library/Application Support/settlement/settlement.db

Every ``run``, ``runs``, ``show`` and ``close`` prints the database it used
(:func:`describe_db_url`). The web console uses the same :func:`default_db_url`.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Mapping

import platformdirs
import sqlalchemy as sa

DB_ENV = "SETTLEMENT_DB"
DB_FILE = "settlement.db"


def default_db_dir() -> Path:
    """The per-user data folder of the program (not created here)."""
    return Path(platformdirs.user_data_dir("settlement", appauthor=False))


def sqlite_url(path: str | PurePath) -> str:
    """``sqlite:///`` URL of a file path; absolute, forward slashes (Windows ``C:\\…`` too)."""
    if isinstance(path, str):
        path = Path(path)
    if isinstance(path, Path):
        path = path.expanduser().absolute()
    return "sqlite:///" + path.as_posix()


def default_db_url(environ: Mapping[str, str] | None = None) -> str:
    """The database a command uses when no ``--db`` is given (see the module docstring)."""
    environ = os.environ if environ is None else environ
    chosen = (environ.get(DB_ENV) or "").strip()
    if chosen:
        return chosen if "://" in chosen else sqlite_url(chosen)
    return sqlite_url(default_db_dir() / DB_FILE)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other engines and in-memory databases)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def describe_db_url(url: str) -> str:
    """What to print: the absolute SQLite file, or the URL without its password."""
    path = sqlite_path(url)
    if path is not None:
        return f"{path.absolute()} (SQLite)"
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file about to be written (the default one may not exist)."""
    path = sqlite_path(url)
    if path is not None:
        path.absolute().parent.mkdir(parents=True, exist_ok=True)
