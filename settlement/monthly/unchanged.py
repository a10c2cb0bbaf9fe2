"""Recorded months whose rows of a big table cannot have changed (数据文件未变): no fingerprint pass.

A month run checks every recorded month of the year to date against the fingerprint its run
recorded (:mod:`.fingerprint`): one DuckDB pass over the big tables' rows of those months, a
cost that grows with the month. Most months nothing changed at all — the same files, byte for
byte. Every run records the SHA-256 of every file it read (``run_inputs``), so a month whose
table files are the ones its run read needs no pass:

    month k of a table is *unchanged* when every file of the table that month k's run read is
    still there with the same SHA-256, and every other file of the table now (a part added,
    or one month k's run did not open) provably holds no row dated in month k.

"Provably" is the Parquet row groups' statistics of the date column (the [min, max] the
loader's own month filter skips row groups by: ``parquet_reader._group_may_hold``), in a
``.parquet`` file whose date column is not a partition folder's key; anything else (a CSV, a
file without statistics, a row group whose range touches the month) may hold one, and the
month is fingerprinted as before. A file month k's run read that is gone or whose bytes
differ makes the month *not* proven, whatever the reason: the rule is one-sided — proven
unchanged, or checked by the fingerprint.

Example: ``outpatient_claims/2025-01.parquet`` … ``2025-11.parquet`` were each read by their
month's run; December's run finds the eleven with their digests and a new ``2025-12.parquet``
whose row groups hold 1–31 December only → no month is fingerprinted but December (its own,
to record). Had a claim of March been re-exported into ``2025-12.parquet``, its statistics
would reach into March and March would be checked (then read again, its fingerprint differing).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa


def table_files(folder: Path, table: str) -> list[Path]:
    """Every file of the folder that offers ``table``: ``<table>.<ext>`` and every file under
    ``<table>/`` (hidden ones too: what the loader skips cannot make a month proven)."""
    folder = Path(folder)
    found = [p for p in folder.iterdir() if p.is_file() and p.name.split(".")[0] == table
             and not p.name.startswith(".")]
    if (folder / table).is_dir():
        found += [p for p in (folder / table).rglob("*") if p.is_file()]
    return sorted(found)


def digests(folder: Path, tables: list[str], known=None) -> dict[str, dict[str, str]]:
    """table → {file relative to the folder: SHA-256}, each file hashed once (``known``: the
    run's :class:`settlement.loader.Digests`, which the loader asks again)."""
    from concurrent.futures import ThreadPoolExecutor

    from settlement.loader import Digests

    known = known if known is not None else Digests()
    files = {t: table_files(folder, t) for t in tables}
    every = [f for t in tables for f in files[t]]
    with ThreadPoolExecutor(2) as pool:  # hashing releases the interpreter lock
        hashed = dict(zip(every, pool.map(known.of, every)))
    return {t: {f.relative_to(folder).as_posix(): hashed[f] for f in files[t]} for t in tables}


def inputs_of(engine: sa.Engine, run_ids) -> dict[str, dict[str, str]]:
    """run_id → {file: SHA-256} the run recorded having read (``run_inputs``)."""
    from settlement.store.tables import run_inputs

    ids = sorted(set(run_ids))
    if not ids:
        return {}
    out: dict[str, dict[str, str]] = {r: {} for r in ids}
    with engine.connect() as conn:
        for run_id, file, sha in conn.execute(sa.select(run_inputs.c.run_id, run_inputs.c.file,
                                                        run_inputs.c.sha256)
                                              .where(run_inputs.c.run_id.in_(ids))):
            out[run_id][file] = sha
    return out


def of_table(files: dict[str, str], table: str) -> dict[str, str]:
    """The entries of a run's inputs that are the table's files (as :func:`table_files`)."""
    return {f: h for f, h in files.items() if f.split("/")[0].split(".")[0] == table}


def unchanged_months(folder: Path, table: str, column: str, now: dict[str, str],
                     inputs: dict[str, dict[str, str]], runs: dict[str, str]) -> set[str]:
    """The months of ``runs`` (month → the run that recorded it) whose rows of ``table`` are
    proven the same as when their run read them (module docstring)."""
    out = set()
    for month, run_id in runs.items():
        then = of_table(inputs.get(run_id, {}), table)
        if not then or any(now.get(f) != h for f, h in then.items()):
            continue  # nothing recorded of the table, or a file it read is gone or differs
        if all(holds_no_row_of(Path(folder) / f, Path(f), column, month) for f in now if f not in then):
            out.add(month)
    return out


def holds_no_row_of(path: Path, relative: Path, column: str, month: str) -> bool:
    """True only when the file's row groups' statistics prove that none of its rows is dated
    in ``month`` (a ``.parquet`` file, ``column`` its own, not a partition folder's key)."""
    import pyarrow.parquet as pq

    from settlement.monthly.presettle import month_bounds
    from settlement.parquet_reader import _group_may_hold, partition_values

    if path.suffix.lower() != ".parquet" or column in partition_values(relative):
        return False
    try:
        meta = pq.ParquetFile(path)
    except Exception:  # noqa: BLE001 — unreadable: not proven (the loader names it)
        return False
    first, last = month_bounds(month)
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    names = meta.schema_arrow.names
    if column not in names:
        return False
    return not any(_group_may_hold(meta, g, names, (column, days))
                   for g in range(meta.metadata.num_row_groups)
                   if meta.metadata.row_group(g).num_rows)
