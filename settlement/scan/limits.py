"""How much memory DuckDB may take (内存上限) before it spills to disk, for every connection.

DuckDB's own default is 80 % of the machine's memory: a scan or a key check over 15 M claims
would then grow the process by gigabytes it does not need. Every connection of the engine
(the scan engine, the validation's checks) is opened with :func:`duckdb_config`: a memory limit
(``SETTLEMENT_DUCKDB_MEMORY_LIMIT``, default 512 MB) and a spill folder under the system's
temporary directory, so that the largest county still runs within the limit, more slowly.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DEFAULT_LIMIT = "512MB"


def duckdb_config(memory_limit: str | None = None, temp_directory: str | Path | None = None,
                  threads: int | None = None) -> dict:
    config = {"preserve_insertion_order": True,
              "memory_limit": str(memory_limit or os.environ.get("SETTLEMENT_DUCKDB_MEMORY_LIMIT", DEFAULT_LIMIT)),
              "temp_directory": str(temp_directory or Path(tempfile.gettempdir()) / "settlement-duckdb")}
    if threads:
        config["threads"] = int(threads)
    return config


def connect(database: str = ":memory:", **limits):
    """A DuckDB connection with :func:`duckdb_config` and no progress bar (a long query would
    otherwise draw one into the run's own progress lines)."""
    import duckdb

    con = duckdb.connect(database, config=duckdb_config(**limits))
    con.execute("SET enable_progress_bar = false")
    return con
