"""Loader (数据读取): a data folder → typed DataFrames, one per contract table.

A table is ``<name>.csv``, ``<name>.parquet`` or a sheet named ``<name>`` in any ``.xlsx``
workbook of the folder (a workbook ``<name>.xlsx`` with a single sheet also gives that
table). A file or sheet name that matches only after trimming spaces or ignoring case is
used with a warning saying so; two files or sheets offering one table are an error naming
both. A symbolic link that points outside the data folder, or anything that is not a regular
file, is refused before a byte of it is read.

CSV: see :mod:`settlement.csv_reader` (encodings, NUL bytes, blank lines, row numbers).
Excel: the header is the first row (of the first 20) holding most of the schema's columns
(by name or Chinese label, :mod:`settlement.headers`), so title rows above it are skipped;
numbers are read as Excel shows them (15 significant digits), date cells as dates.
Parquet: ``<name>.parquet`` or a directory ``<name>/`` of part files, hive partitions allowed
(:mod:`settlement.parquet_reader`); columns of the right type are used as they are.
CSV is read with the schema's types where every cell allows it (:mod:`settlement.csv_reader`).

``load_folder(folder, tables=[...], where={table: (column, values)})`` reads only the named
tables (the others are neither read nor reported missing) and only the rows whose column holds
one of the values (Parquet: filtered while streaming, part files of other partitions unopened;
CSV and Excel: filtered after the read). Row numbers stay the user's.

Every cell is then typed by :mod:`settlement.cells`: all problems are collected, with the row
number as the user sees it in their own file; the frame's index *is* that row number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from settlement import cells
from settlement.arrow_text import is_text
from settlement.cells import RawTable, add_row_problems, empty_frame  # noqa: F401  (public names)
from settlement.csv_reader import CHUNK, read_csv, scan_csv
from settlement.headers import header_row, resolve_header
from settlement.parquet_reader import Parts, localise, part_files, read_parquet
from settlement.problems import Problem
from settlement.schema import TableSchema, contract
from settlement.spill import SpillCache, SpilledTable, SpillPolicy, SpillWriter, merge_problems

SUFFIXES = (".csv", ".parquet", ".xlsx", ".xlsm")
UNSUPPORTED = (".xls", ".et", ".ods", ".numbers", ".txt", ".tsv", ".json", ".dbf", ".xlsb")


@dataclass(frozen=True)
class Source:
    """Where a table came from: file (relative to the data folder), sheet, header row."""

    table: str
    file: str
    kind: str  # csv | parquet | xlsx
    sheet: str = ""
    header_row: int = 1  # row number of the header in the user's file (parquet: 0)
    encoding: str = ""
    rows: int = 0
    parts: Parts | None = None  # a directory of Parquet files: which index is which file's row
    typed: bool = False  # CSV read with the schema's types (False: every field as text, then parsed)


@dataclass
class LoadResult:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    file_hashes: dict[str, str] = field(default_factory=dict)  # relative path → SHA-256
    #: (table, column) → user row numbers of the cells the loader reported (parse errors, empty
    #: required cells), all of them (not capped): later checks skip them instead of reporting twice
    flagged: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    validation: object | None = None  # set by settlement.validation (GX results, totals) for its report

    def stage_tables(self) -> dict:
        """The tables as :func:`settlement.pipeline.settle` takes them: frames, and the path of
        each table spilled to Parquet (:mod:`settlement.spill`), which the scan engines read."""
        from settlement.spill import SpilledTable

        return {k: v.path if isinstance(v, SpilledTable) else v for k, v in self.tables.items()}

    def changed_inputs(self) -> list[Problem]:
        """An error for each file used in place (:mod:`settlement.in_place`) that changed since
        it was loaded (size or modification time): the stages read it after its SHA-256 was
        recorded, so a file overwritten meanwhile would be settled under another file's hash."""
        from settlement.spill import SpilledTable

        out = []
        for name, table in self.tables.items():
            if isinstance(table, SpilledTable) and table.stamp is not None and table.stamp != file_stamp(table.path):
                file = self.sources[name].file if name in self.sources else table.path.name
                out.append(Problem("file.changed", "error", name,
                                   f"结算过程中输入文件「{file}」被修改或替换，结果不可信，请在文件不再变动后重新结算",
                                   f"{file} changed while the run read it; run again", file=file))
        return out

    def localise(self, problems: list[Problem]) -> list[Problem]:
        """Problems at rows of a directory table named by part file and its own row number."""
        return localise(problems, {t: s.parts for t, s in self.sources.items() if s.parts is not None})


@dataclass(frozen=True)
class Candidate:
    """A file (and sheet) that offers a table."""

    path: Path
    kind: str
    sheet: str = ""

    @property
    def label(self) -> str:
        return f"{self.path.name}（工作表「{self.sheet}」）" if self.sheet else self.path.name


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(size, modification time in ns) of a file, None when it is gone."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class Digests:
    """The SHA-256 of files hashed once in a run: asked again for a file whose (size,
    modification time) are those it had when hashed, the digest is not computed twice (a month
    run hashes its big tables before the load to know which recorded months need no check:
    :mod:`settlement.monthly.unchanged`; the loader then takes the digests from here)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[int, int], str]] = {}

    def of(self, path: Path) -> str:
        stamp = file_stamp(path)
        known = self._known.get(str(path))
        if stamp is not None and known is not None and known[0] == stamp:
            return known[1]
        digest = sha256_file(path)
        if stamp is not None and file_stamp(path) == stamp:  # not written to while hashed
            self._known[str(path)] = (stamp, digest)
        return digest


def _digest(path: Path, policy: "SpillPolicy | None") -> str:
    known = getattr(policy, "digests", None)
    return known.of(path) if known is not None else sha256_file(path)


def load_folder(folder: str | Path, schemas: dict[str, TableSchema] | None = None, *,
                tables=None, where: dict[str, tuple[str, list]] | None = None,
                spill: "SpillPolicy | None" = None) -> LoadResult:
    """Load the contract tables found in ``folder``; problems are collected, never raised.

    ``tables``: only these tables (others are not read, not reported missing); ``where``:
    {table: (column, values)}, only the rows whose column holds one of the values; ``spill``:
    big case and claim tables are streamed into Parquet there (:mod:`settlement.spill`) and
    held as :class:`~settlement.spill.SpilledTable`, not as frames.
    """
    folder = Path(folder)
    schemas = schemas or contract()
    if tables is not None:
        wanted = set(tables)
        schemas = {name: schema for name, schema in schemas.items() if name in wanted}
    result = LoadResult()
    if not folder.is_dir():
        result.problems.append(Problem("folder.missing", "error", "", f"数据目录不存在：{folder}",
                                       f"data folder not found: {folder}", file=str(folder)))
        return result
    offers = _discover(folder, schemas, result)
    for name, schema in schemas.items():
        _load_table(name, schema, offers.get(name, []), folder, result, (where or {}).get(name), spill)
    pa.default_memory_pool().release_unused()  # give the raw text's memory back to the system
    result.problems = result.localise(result.problems)
    return result


def _load_table(name, schema, found, folder, result: LoadResult, where, spill=None) -> None:
    if len(found) == 1 and spill is not None and _spilled(found[0], schema, folder, result, where, spill):
        return
    if len(found) > 1:
        result.problems.append(Problem(
            "table.ambiguous", "error", name,
            f"数据表 {name}（{schema.label_zh}）同时出现在多处：{'、'.join(c.label for c in found)}，请只保留一个",
            f"table {name} is offered by several files", file=found[0].path.name))
    loaded = _read(found[0], schema, result, folder, where, spill) if len(found) == 1 else None
    if loaded is None:
        if schema.required and not found and not any(p.table == name and p.severity == "error"
                                                     for p in result.problems):
            result.problems.append(Problem(
                "table.missing", "error", name,
                f"缺少必需的数据表「{schema.label_zh}」（{name}.csv / {name}.parquet / Excel 工作表 {name}）",
                f"required table {name} not found", file=str(folder)))
        result.tables[name] = empty_frame(schema)
        return
    raw, source = loaded
    if where is not None and source.kind != "parquet":  # Parquet is filtered while it is read
        raw = raw.where(*where)
        source = dataclasses.replace(source, rows=len(raw))
    result.sources[name] = source
    result.tables[name] = cells.typed(raw, schema, source.file, result.problems, result.flagged)


# ---------------------------------------------------------------- which file offers which table
def _discover(folder: Path, schemas, result: LoadResult) -> dict[str, list[Candidate]]:
    offers: dict[str, list[Candidate]] = {}
    root = folder.resolve()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(("~$", ".")):
            continue
        if entry.suffix.lower() in UNSUPPORTED and " ".join(entry.stem.split()).lower() in schemas:
            result.problems.append(Problem(
                "file.format", "error", entry.stem, f"不支持 {entry.suffix} 格式的文件：请在 Excel/WPS 中另存为 .xlsx 或"
                "「CSV UTF-8（逗号分隔）」", f"{entry.suffix} files are not read; save as .xlsx or CSV UTF-8",
                file=entry.name))
        if entry.is_dir() and not entry.suffix:
            name = _directory_table(entry, root, schemas, result)
            if name:
                offers.setdefault(name, []).append(Candidate(entry, "parquet"))
            continue
        if entry.suffix.lower() not in SUFFIXES:
            continue
        if not _safe(entry, root, result, " ".join(entry.stem.split()).lower()):
            continue
        if entry.suffix.lower() in (".csv", ".parquet"):
            name = _table_named(entry.stem, schemas, entry.name, "文件名", result)
            if name:
                offers.setdefault(name, []).append(Candidate(entry, entry.suffix.lower()[1:]))
            continue
        for name, candidate in _sheets(entry, schemas, result):
            offers.setdefault(name, []).append(candidate)
    return offers


def _safe(entry: Path, root: Path, result: LoadResult, table: str) -> bool:
    """A regular file inside the data folder (a link to a file inside it is fine)."""
    target = entry.resolve()
    if entry.is_symlink() and not target.is_relative_to(root):
        result.problems.append(Problem("file.symlink", "error", table, "该文件是指向数据目录之外的符号链接，为安全起见拒绝读取；"
                                       "请把数据文件本身复制到数据目录中", "symbolic link pointing outside the data "
                                       "folder refused", file=entry.name))
        return False
    if not target.is_file():
        result.problems.append(Problem("file.not_regular", "error", table, "这不是普通文件（目录、设备或管道），已跳过",
                                       "not a regular file; skipped", file=entry.name))
        return False
    return True


def _directory_table(entry: Path, root: Path, schemas, result: LoadResult) -> str | None:
    """A directory named after a table that holds Parquet files (others are not data: ignored)."""
    loose = " ".join(entry.name.split()).lower()
    if loose not in schemas or not part_files(entry):
        return None
    if entry.is_symlink() and not entry.resolve().is_relative_to(root):
        result.problems.append(Problem("file.symlink", "error", loose, "该目录是指向数据目录之外的符号链接，为安全起见拒绝读取；"
                                       "请把数据文件本身复制到数据目录中", "symbolic link pointing outside the data "
                                       "folder refused", file=entry.name))
        return None
    outside = [p for p in part_files(entry) if not p.resolve().is_relative_to(root) or not p.resolve().is_file()]
    for part in outside:
        _safe(part, root, result, loose)
    return None if outside else _table_named(entry.name, schemas, entry.name, "目录名", result)


def _table_named(stem: str, schemas, file: str, what: str, result: LoadResult) -> str | None:
    if stem in schemas:
        return stem
    loose = " ".join(stem.split()).lower()
    if loose in schemas:
        result.problems.append(Problem("table.name_loose", "warning", loose,
                                       f"{what}「{stem}」与表名 {loose} 只差首尾空格或大小写，已按 {loose} 读取",
                                       f"{stem!r} matches table {loose} only after trimming / ignoring case",
                                       file=file))
        return loose
    return None


def _sheets(book: Path, schemas, result: LoadResult) -> list[tuple[str, Candidate]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(book, read_only=True)
        names = list(wb.sheetnames)
        wb.close()
    except Exception as exc:  # corrupt or not a workbook
        result.problems.append(Problem("file.unreadable", "error", "", f"无法打开 Excel 文件（{type(exc).__name__}），"
                                       "文件可能已损坏或不是 .xlsx 格式", f"cannot open workbook: {type(exc).__name__}",
                                       file=book.name))
        return []
    result.file_hashes[book.name] = sha256_file(book)
    found = [(t, Candidate(book, "xlsx", s)) for s in names
             if (t := _table_named(s, schemas, book.name, "工作表名", result))]
    stem = _table_named(book.stem, schemas, book.name, "文件名", result) if not found else None
    if stem and len(names) == 1:
        result.problems.append(Problem("table.sheet_by_file", "warning", stem,
                                       f"工作簿只有一个工作表「{names[0]}」，已按文件名作为 {stem} 读取",
                                       f"single sheet {names[0]!r} read as {stem} (from the file name)", file=book.name))
        found = [(stem, Candidate(book, "xlsx", names[0]))]
    return found


# ---------------------------------------------------------------- reading one table's text
def _read(candidate: Candidate, schema: TableSchema, result: LoadResult, folder: Path, where=None,
          policy=None):
    path = candidate.path
    try:
        if candidate.kind == "csv":
            return _read_csv(path, schema, result)
        if candidate.kind == "parquet":
            return _read_parquet(path, folder, schema, result, where, policy)
        return _read_sheet(candidate, schema, result)
    except Exception as exc:  # unreadable file: one clear problem, no traceback, no file content
        why = "没有读取该文件的权限" if isinstance(exc, PermissionError) else \
            f"无法读取文件（{type(exc).__name__}），文件可能已损坏或格式不对"
        result.problems.append(Problem("file.unreadable", "error", schema.table, why,
                                       f"cannot read file: {type(exc).__name__}", file=path.name))
        return None


def _read_csv(path: Path, schema: TableSchema, result: LoadResult):
    scan = scan_csv(path)
    result.file_hashes[path.name] = scan.sha256
    for rule, zh, en, line in scan.problems:
        result.problems.append(Problem(rule, "error", schema.table, zh, en, file=path.name, row=line))
    if scan.encoding is None:
        return None
    if path.stat().st_size == 0:
        result.problems.append(Problem("file.empty", "error", schema.table, "文件为空（没有表头）",
                                       "empty file (no header)", file=path.name))
        return None
    text = read_csv(path, schema, scan.encoding, result.problems)
    if text is None:
        return None
    enc = "UTF-8" if scan.encoding == "utf-8-sig" else "GB18030/GBK"
    return text.raw, Source(schema.table, path.name, "csv", header_row=text.header_line, encoding=enc,
                            rows=len(text.raw), typed=text.typed)


def _read_parquet(path: Path, folder: Path, schema: TableSchema, result: LoadResult, where=None,
                  policy=None):
    raw, parts, files = read_parquet(path, folder, schema, result.problems, where)
    for file in files:
        result.file_hashes[file.relative_to(folder).as_posix()] = _digest(file, policy)
    label = path.name
    _strip_nul(raw, schema, label, result.problems, result.flagged)
    return raw, Source(schema.table, label, "parquet", header_row=0, rows=len(raw), parts=parts)


# ---------------------------------------------------------------- big tables, streamed to disk
def _spilled(candidate: Candidate, schema: TableSchema, folder: Path, result: LoadResult, where,
             policy: SpillPolicy) -> bool:
    """Stream a big case or claim table into the spill (True), or leave it to the whole-table
    read (False: not big, or a CSV whose bytes or cells need the text read, which names them)."""
    try:
        if candidate.kind == "csv" and policy.wants_csv(schema.table, candidate.path):
            return _spill_csv(candidate.path, schema, result, where, policy)
        if candidate.kind == "parquet":
            files = part_files(candidate.path) if candidate.path.is_dir() else [candidate.path]
            if files and policy.wants_parquet(schema.table, files):
                return _spill_parquet(candidate.path, folder, schema, result, where, policy)
    except OSError:
        return False  # the whole-table read reports the file as unreadable, in Chinese
    return False


def _spill_csv(path: Path, schema: TableSchema, result: LoadResult, where, policy: SpillPolicy) -> bool:
    from settlement.csv_reader import NotTyped, layout, stream_text, stream_typed

    scan = scan_csv(path)
    if scan.encoding is None or scan.problems:
        return False
    cache = SpillCache(policy.cache) if policy.cache else None
    key = cache.key(schema, [scan.sha256], where) if cache else ""
    if cache and _from_cache(cache, key, schema, result, {path.name: scan.sha256}):
        return True
    head: list[Problem] = []
    shape = layout(path, schema, scan.encoding, head)
    if shape is None:
        return False
    for stream in (stream_typed, stream_text):  # typed when every cell allows it, else as text
        writer, flagged, chunks = SpillWriter(policy, schema), {}, []
        try:
            for raw in stream(path, schema, scan.encoding, shape):
                raw = raw.where(*where) if where is not None else raw
                chunks.append([])
                writer.write(cells.typed(raw, schema, path.name, chunks[-1], flagged))
        except NotTyped:
            writer.discard()
            continue
        except BaseException:
            writer.discard()
            raise
        break
    else:
        return False  # blank or malformed lines: the whole-file read numbers and names them
    table = writer.close()
    enc = "UTF-8" if scan.encoding == "utf-8-sig" else "GB18030/GBK"
    source = Source(schema.table, path.name, "csv", header_row=shape.at + 1, encoding=enc,
                    rows=len(table), typed=stream is stream_typed)
    _spill_done(result, table, head + merge_problems(chunks), flagged, source, {path.name: scan.sha256},
                cache, key)
    return True


def _spill_done(result: LoadResult, table, problems: list[Problem], flagged: dict, source: Source,
                hashes: dict[str, str], cache, key: str) -> None:
    """A table streamed into the spill joins the load result (and the cache, when there is one)."""
    if cache is not None:
        own = {k: v for k, v in flagged.items() if k[0] == source.table}
        table = cache.put(key, table, problems, own, _source_fields(source))
    result.file_hashes.update(hashes)
    result.problems += problems
    result.flagged.update(flagged)
    result.sources[source.table] = source
    result.tables[source.table] = table


def _from_cache(cache, key: str, schema: TableSchema, result: LoadResult, hashes: dict[str, str]) -> bool:
    found = cache.get(key, schema)
    if found is None:
        return False
    table, problems, flagged, fields = found
    parts = fields.pop("parts", None)
    source = Source(**fields, parts=Parts(tuple(parts[0]), tuple(parts[1])) if parts else None)
    result.file_hashes.update(hashes)
    result.problems += problems
    result.flagged.update(flagged)
    result.sources[schema.table] = source
    result.tables[schema.table] = table
    return True


def _source_fields(source: Source) -> dict:
    fields = dataclasses.asdict(source)
    fields["parts"] = [list(source.parts.files), list(source.parts.offsets)] if source.parts else None
    return fields


def _spill_parquet(path: Path, folder: Path, schema: TableSchema, result: LoadResult, where,
                   policy: SpillPolicy) -> bool:
    from settlement.parquet_reader import ParquetStream

    from settlement.parquet_reader import may_hold, partition_values

    files = [f for f in part_files(path) if may_hold(partition_values(f.relative_to(path)), where)] \
        if path.is_dir() else [path]
    if _in_place(path, folder, schema, result, where, policy):
        return True
    hashes = {file.relative_to(folder).as_posix(): _digest(file, policy) for file in files}
    cache = SpillCache(policy.cache) if policy.cache else None
    key = cache.key(schema, sorted(hashes.items()), where) if cache else ""
    if cache and _from_cache(cache, key, schema, result, hashes):
        return True
    head: list[Problem] = []
    stream = ParquetStream(path, folder, schema, head, where)
    writer, chunks, flagged = SpillWriter(policy, schema), [], {}
    try:
        for raw in stream:
            chunks.append([])
            _strip_nul(raw, schema, path.name, chunks[-1], flagged)
            writer.write(cells.typed(raw, schema, path.name, chunks[-1], flagged))
    except BaseException:
        writer.discard()
        raise
    table = writer.close()
    read = {f.relative_to(folder).as_posix() for f in stream.files}
    source = Source(schema.table, path.name, "parquet", header_row=0, rows=len(table), parts=stream.parts)
    _spill_done(result, table, head + merge_problems(chunks), flagged, source,
                {k: v for k, v in hashes.items() if k in read}, cache, key)
    return True


def _in_place(path: Path, folder: Path, schema: TableSchema, result: LoadResult, where,
              policy: SpillPolicy) -> bool:
    """A Parquet file already in the spill's format, no cell of which the rules would touch,
    joins the result as it lies (:mod:`settlement.in_place`); its SHA-256 is taken meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    from settlement import in_place

    if not policy.in_place or not in_place.usable(path, schema):
        return False
    window = None
    if where is not None:  # a month run's days: the rows of those days, row groups holding one
        window = in_place.kept(path, schema, where)
        if window is None:
            return False
    stamp = file_stamp(path)
    with ThreadPoolExecutor(1) as pool:  # hashing and Arrow's reads both release the GIL
        digest = pool.submit(_digest, path, policy)
        facts = policy.ahead.facts(path, stamp) if policy.ahead is not None and window is None else in_place.MISSING
        if facts is in_place.MISSING:
            facts = in_place.inspect(path, schema, window[1] if window else None)
        if facts is None:
            return False
        hashes = {path.relative_to(folder).as_posix(): digest.result()}
    if file_stamp(path) != stamp:
        return False  # written to while it was read: the stream's copy is what gets settled
    rows = pq.ParquetFile(path).metadata.num_rows
    table = SpilledTable(path, schema, rows, row_column=False, kept=window[0] if window else None,
                         window=where)
    table.stamp, table.facts = stamp, facts
    source = Source(schema.table, path.name, "parquet", header_row=0, rows=len(table))
    _spill_done(result, table, [], {}, source, hashes, None, "")
    return True


def _strip_nul(raw: RawTable, schema: TableSchema, label: str, problems: list[Problem], flagged: dict) -> None:
    """Text cells holding NUL bytes: a problem each, flagged, the NUL removed."""
    for name, column in list(raw.columns.items()):
        if not is_text(column.type):
            continue
        nul = pc.fill_null(pc.match_substring(column, "\x00"), False)
        if pc.any(nul).as_py():
            mask = pd.Series(np.asarray(nul.to_numpy(zero_copy_only=False), dtype=bool), index=raw.index)
            add_row_problems(problems, "text.nul", schema.table, label, name, mask,
                             pd.Series("", index=raw.index), "单元格含 NUL 空字符（\\0）", "cell contains a NUL byte")
            key = (schema.table, name)
            rows = raw.index[mask.to_numpy()]
            flagged[key] = np.union1d(flagged[key], rows) if key in flagged else rows
            raw.columns[name] = pc.replace_substring(column, "\x00", "")


def _read_sheet(candidate: Candidate, schema: TableSchema, result: LoadResult):
    import openpyxl

    book, sheet = candidate.path, candidate.sheet
    wb = openpyxl.load_workbook(book, read_only=True, data_only=True)
    ws = wb[sheet]
    ws.reset_dimensions()  # some writers store a wrong size: read every row there is
    rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
    wb.close()
    if not any(any(v not in (None, "") for v in row) for row in rows):
        result.problems.append(Problem("file.empty", "error", schema.table, f"工作表「{sheet}」为空（没有表头）",
                                       f"sheet {sheet} is empty (no header)", file=book.name))
        return None
    at = header_row(rows, schema)
    names = resolve_header(rows[at], schema, book.name, result.problems)
    width = len(names)
    body = [[_cell_text(v) for v in r[:width]] for r in rows[at + 1:]]
    keep = [k for k, r in enumerate(body) if any(v.strip() for v in r)]  # all-empty rows dropped
    columns = {h: pa.chunked_array([pa.array([body[k][j] if j < len(body[k]) else "" for k in keep],
                                             type=pa.string())]) for j, h in enumerate(names)}
    index = np.array([at + 2 + k for k in keep], dtype="int64")
    return RawTable(columns, index), Source(schema.table, book.name, "xlsx", sheet=sheet, header_row=at + 1,
                                            rows=len(keep))


def _cell_text(v) -> str:
    """An Excel cell as the text Excel shows: numbers to 15 significant digits, dates ISO."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dt.datetime, dt.date)):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, float):
        return "%.15g" % v if v == v and abs(v) != float("inf") else repr(v)
    return str(v)
