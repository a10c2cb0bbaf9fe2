"""The year's package per community, kept between month runs (年度打包基金的缓存).

Every month run's bulletin needs the year's package per community (基金执行进度, the projected
year-end balance): the settlement's own stages up to the package stage on the small tables
(:func:`settlement.monthly.bulletin_inputs.year_packages`; ≈ 0.4 s of CPU at scale 1, 1 s at
scale 10, twelve times a year). It depends on nothing a month adds — not on the cases or
claims — only on the config, the small tables and the code, so one month's result is the
next month's as long as those are unchanged. It is kept under
``<reports>/.cache/packages/<key>.arrow`` (beside the big tables' cache,
:func:`settlement.pipeline.input_cache`), the key the SHA-256 of:

* the engine's code: every ``.py`` and ``.yaml`` file of the ``settlement`` package;
* the config: its SHA-256 (an overlay's covers its base chain);
* the scan engine asked for (``SETTLEMENT_SCAN_ENGINE``);
* every small table as the loader typed it (Arrow IPC bytes of the frame: its columns,
  types, values, empty cells and row numbers), and the empty case and claim tables the
  stages are given instead of the big two (their columns and types).

A changed cell, parameter or line of code is a new key: the package is computed again. An
entry is written under a temporary name and renamed (a run never reads half of one); an
entry that cannot be read, or a frame that Arrow cannot hold, is computed as if there were
no cache; the newest :data:`KEEP` entries are kept.

Example: the March run computes the package (GT01 24,534,650.00 元, GT02 17,914,106.67 元) and
keeps it; April's run on the same config and small tables reads it back, the same frame.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import pandas as pd

#: the two tables a month adds to; the package depends on neither (year_packages empties them)
BIG_TABLES = ("inpatient_cases", "outpatient_claims")
KEEP = 12
SUFFIX = ".arrow"


def cached_year_packages(tables: dict, resolved, config_sha256: str,
                         folder: Path | None) -> pd.DataFrame:
    """(community_id, package) of the year: from ``folder`` when an entry of the same key is
    there, else :func:`~settlement.monthly.bulletin_inputs.year_packages` (then kept)."""
    from settlement.monthly.bulletin_inputs import year_packages

    key = package_key(tables, config_sha256) if folder is not None else None
    if key is not None:
        kept = _read(Path(folder) / f"{key}{SUFFIX}")
        if kept is not None:
            return kept
    packages, _ = year_packages(tables, resolved)
    if key is not None:
        _write(Path(folder), key, packages)
    return packages


def package_key(tables: dict, config_sha256: str) -> str | None:
    """The SHA-256 the package is kept under (see the module docstring); None when a small
    table is not a frame Arrow can hold (then nothing is kept)."""
    from settlement.monthly.bulletin_inputs import empty_big_tables

    digest = hashlib.sha256(_code_digest().encode())
    digest.update(f"config {config_sha256}\nengine {os.environ.get('SETTLEMENT_SCAN_ENGINE', '')}\n"
                  .encode())
    given = {**{n: t for n, t in tables.items() if n not in BIG_TABLES}, **empty_big_tables(tables)}
    for name in sorted(given):
        data = _ipc_bytes(given[name])
        if data is None:
            return None
        digest.update(f"table {name} {data.size}\n".encode())
        digest.update(memoryview(data))
    return digest.hexdigest()


def _ipc_bytes(frame):
    """The frame as Arrow IPC stream bytes, an Arrow buffer (the schema with pandas' dtypes,
    then the values); None when Arrow cannot hold it."""
    import pyarrow as pa

    if not isinstance(frame, pd.DataFrame):
        return None
    try:
        table = pa.Table.from_pandas(frame, preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@functools.cache
def _code_digest() -> str:
    """SHA-256 of every .py and .yaml file of the installed ``settlement`` package."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _read(path: Path) -> pd.DataFrame | None:
    import pyarrow as pa
    import pyarrow.feather as feather

    if not path.is_file():
        return None
    try:
        frame = feather.read_feather(path)
        os.utime(path)  # recently used: kept by the pruning
    except (OSError, pa.ArrowException):
        return None
    return frame


def _write(folder: Path, key: str, packages: pd.DataFrame) -> None:
    """Keep ``packages`` under ``key`` (temporary name, then renamed); a cache that cannot be
    written is no cache (the run does not depend on it)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    staging = folder / f".{key}.{os.getpid()}{SUFFIX}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        feather.write_feather(packages, staging)
        os.replace(staging, folder / f"{key}{SUFFIX}")
    except (OSError, pa.ArrowException):
        staging.unlink(missing_ok=True)
        return
    entries = sorted((p for p in folder.glob(f"*{SUFFIX}") if not p.name.startswith(".")),
                     key=_mtime, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another run's pruning
        return 0.0
