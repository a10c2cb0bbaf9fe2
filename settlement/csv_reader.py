"""CSV files (CSV 文件): bytes → checked text columns, rows numbered as the user sees them.

One pass over the bytes (:func:`scan_csv`) hashes the file and decides what it is:

* UTF-8 (BOM or not) — the normal case; GBK/GB18030 when the file is not UTF-8 but decodes so;
* not text at all, with the cause named: a workbook saved as ``.csv`` (zip: ``PK``), an old
  ``.xls``, UTF-16 (Excel's "Unicode 文本"), NUL bytes (a damaged or binary file);
* a file that is UTF-8 except some lines (a GBK line pasted into a UTF-8 file, or the reverse),
  or lines that decode in neither encoding: each such line is an error at its line number.

Then :func:`read_csv` finds the header (title lines above it are skipped, see
:mod:`settlement.headers`), sniffs a tab or semicolon delimiter, and reads the records with
Arrow **typed by the schema** (ids and text as strings, so leading zeros stay; money as
decimal128(17, 2), whose unscaled integer is the fen; dates, integers, floats, booleans as
such). Only when that read fails — a cell Arrow cannot convert (``１２３４``, ``¥1,234``,
``2025年1月28日``, ``nan`` …), a line with the wrong number of fields, a blank line, a quoted
line break — is the file read again with every field as text, for :mod:`settlement.cells` to
parse the quirks and report each bad cell (the typed read cannot say which cells are bad). Row numbers are the record numbers the user sees in Excel (header = row 1 when it
is the first line): blank lines are kept while parsing, so they never shift the numbers, and
rows whose cells are all empty (Excel's trailing ``,,,,``) are dropped afterwards. A line with
the wrong number of fields is an error at its line — unless its surplus fields are all empty.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from settlement.cells import MAX_ROWS_LISTED, RawTable
from settlement.headers import HEADER_SEARCH_ROWS, header_row, resolve_header
from settlement.problems import Problem
from settlement.schema import TableSchema

CHUNK = 8 * 1024 * 1024  # a batch of the CSV streams (scale 10 claims: 16 MB batches held the load at 1,052 MB, 8 MB at 690 MB, same time)
csv.field_size_limit(CHUNK)  # the csv module reads a few lines (header, bad lines): let long cells through
SIGNATURES = {
    b"PK\x03\x04": ("file.not_csv", "该文件实际上是 Excel 工作簿（.xlsx），只是扩展名为 .csv：请把扩展名改为 .xlsx，"
                    "或在 Excel/WPS 中「另存为」CSV UTF-8（逗号分隔）", "the file is an xlsx workbook named .csv"),
    b"\xd0\xcf\x11\xe0": ("file.not_csv", "该文件实际上是旧版 Excel 工作簿（.xls）：请在 Excel/WPS 中另存为 .xlsx "
                          "或 CSV UTF-8（逗号分隔）", "the file is an old .xls workbook"),
    b"\xff\xfe": ("file.encoding", "该文件是 UTF-16 编码（Excel 的「Unicode 文本」格式）：请在 Excel/WPS 中另存为"
                  "「CSV UTF-8（逗号分隔）」", "the file is UTF-16 (Excel 'Unicode text'); save as CSV UTF-8"),
    b"\xfe\xff": ("file.encoding", "该文件是 UTF-16 编码：请另存为「CSV UTF-8（逗号分隔）」",
                  "the file is UTF-16; save as CSV UTF-8"),
}
MIXED_ZH = ("该行不是 UTF-8 编码，而文件其余部分是 UTF-8：很可能是从 GBK/GB2312 编码的文件或旧系统复制来的内容。"
            "请在 Excel/WPS 中把整个文件另存为「CSV UTF-8（逗号分隔）」")
MIXED_GBK_ZH = ("该行是 UTF-8 编码，而文件其余部分是 GBK/GB18030：很可能是从别的文件复制来的内容。"
                "请在 Excel/WPS 中把整个文件另存为「CSV UTF-8（逗号分隔）」")
UNDECODABLE_ZH = "该行既不是 UTF-8 也不是 GBK/GB18030 编码，无法识别（文件可能已损坏，或混有其他编码）"
NUL_ZH = "该行含 NUL 空字符（\\0）：文件可能已损坏，或是二进制/UTF-16 文件。请在 Excel/WPS 中另存为「CSV UTF-8」"


@dataclass
class CsvScan:
    sha256: str
    encoding: str | None  # "utf-8-sig" | "gb18030" | None: not readable as text
    problems: list[tuple[str, str, str, int | None]] = field(default_factory=list)  # rule, zh, en, line


def scan_csv(path: Path) -> CsvScan:
    """SHA-256 and encoding in one pass; what is wrong with the bytes, by line, if anything.

    The hashing of each chunk runs in a thread of its own beside the checks of the next
    (hashlib releases the interpreter lock): on two cores the pass costs the read and the
    hash, not their sum (scale 10, a 1.5 GB claims file: SHA-256 1.2 s, checks 0.3 s)."""
    from concurrent.futures import ThreadPoolExecutor

    digest = hashlib.sha256()
    utf8, nul, head, tail = True, False, b"", b""
    with open(path, "rb") as fh, ThreadPoolExecutor(1, thread_name_prefix="csv-sha256") as hashing:
        hashed = None
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            if hashed is not None:
                hashed.result()  # in order, one chunk at a time
            hashed = hashing.submit(digest.update, chunk)
            head = head or chunk[:4096]
            nul = nul or b"\x00" in chunk
            if utf8:
                utf8, tail = _valid_utf8(tail + chunk if tail else chunk)
        if hashed is not None:
            hashed.result()
    utf8 = utf8 and not tail  # a character cut off at the end of the file
    scan = CsvScan(digest.hexdigest(), "utf-8-sig" if utf8 else None)
    for signature, (rule, zh, en) in SIGNATURES.items():
        if head.startswith(signature) or (signature == b"\xff\xfe" and _looks_utf16(head)):
            scan.encoding, scan.problems = None, [(rule, zh, en, None)]
            return scan
    if nul:
        scan.encoding = None
        scan.problems = [("file.nul", NUL_ZH, "NUL byte in the line", n) for n in _lines(path, lambda b: b"\x00" in b)]
        return scan
    if not utf8:
        _diagnose_non_utf8(path, scan)
    return scan


def _valid_utf8(data: bytes) -> tuple[bool, bytes]:
    """Whether ``data`` is UTF-8 up to a character its end may cut off; that unfinished rest.

    Arrow validates the bytes in place (as a one-value string array), several times faster
    than decoding them in Python."""
    cut = len(data)
    for back in range(1, min(4, len(data)) + 1):  # the last character's first byte
        byte = data[-back]
        if byte & 0xC0 != 0x80:
            need = 1 if byte < 0x80 else 2 if byte >> 5 == 6 else 3 if byte >> 4 == 14 else 4
            cut = len(data) - back if need > back else len(data)
            break
    offsets = pa.py_buffer(np.array([0, cut], dtype="int32").tobytes())
    array = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return False, b""
    return True, data[cut:]


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 without a BOM: every other byte of ASCII text is NUL."""
    return len(head) >= 8 and head[1::2].count(0) > len(head) // 4


def _lines(path: Path, bad) -> list[int]:
    with open(path, "rb") as fh:
        return list(itertools.islice((n for n, line in enumerate(fh, 1) if bad(line)), MAX_ROWS_LISTED))


def _diagnose_non_utf8(path: Path, scan: CsvScan) -> None:
    """GB18030 when every line decodes so and none is UTF-8 text; else each bad line named."""
    utf8_text, not_utf8, neither = [], [], []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_text.append(number)
                continue
            except UnicodeDecodeError:
                not_utf8.append(number)
            try:
                line.decode("gb18030")
            except UnicodeDecodeError:
                neither.append(number)
    if utf8_text and not_utf8 and len(utf8_text) >= len(not_utf8):  # a UTF-8 file with GBK lines
        scan.problems = [("encoding.mixed", MIXED_ZH, "line is not UTF-8 while the rest of the file is", n)
                         for n in not_utf8[:MAX_ROWS_LISTED]]
    elif utf8_text and not_utf8:  # a GBK file with UTF-8 lines
        scan.problems = [("encoding.mixed", MIXED_GBK_ZH, "line is UTF-8 while the rest of the file is GBK", n)
                         for n in utf8_text[:MAX_ROWS_LISTED]]
    elif neither:
        scan.problems = [("encoding.invalid", UNDECODABLE_ZH, "line decodes neither as UTF-8 nor as GB18030", n)
                         for n in neither[:MAX_ROWS_LISTED]]
    else:
        scan.encoding = "gb18030"


@dataclass
class CsvText:
    raw: RawTable
    header_line: int
    problems: list[Problem]
    typed: bool = False  # read with the schema's types (else every field as text)


#: Arrow types of the typed read, per logical type (strings: every other type)
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "money": pa.decimal128(17, 2), "date": pa.date32(),
               "bool": pa.bool_()}


def _column_types(names: list[str], schema: TableSchema) -> dict[str, pa.DataType]:
    by_name = {c.name: c for c in schema.columns}
    return {f"c{j}": ARROW_TYPES.get(by_name[n].type, pa.large_string()) if n in by_name else pa.large_string()
            for j, n in enumerate(names)}


@dataclass(frozen=True)
class Layout:
    """Where a CSV table's records are: delimiter, header line (0-based), resolved column names."""

    delimiter: str
    at: int
    names: list[str]


def layout(path: Path, schema: TableSchema, encoding: str, problems: list[Problem]) -> Layout | None:
    """Delimiter and header of a CSV table, or None (the reason appended to ``problems``)."""
    file, table = path.name, schema.table
    with open(path, "rb") as fh:
        start = fh.read(256 * 1024).decode(encoding, errors="replace").lstrip("\ufeff")
    first = start.splitlines()[0] if start.strip() else ""
    delimiter = "\t" if "," not in first and "\t" in first else ";" if "," not in first and ";" in first else ","
    rows = _first_records(start, delimiter)
    at = header_row(rows, schema) if rows else 0
    if not rows or not any(c.strip() for c in rows[at]):
        problems.append(Problem("file.empty", "error", table, "文件第一行（表头）为空", "the header is empty", file=file))
        return None
    if delimiter != ",":
        problems.append(Problem("file.delimiter", "warning", table, f"文件用{'制表符' if delimiter == chr(9) else '分号'}"
                                "而不是逗号分隔列，已按此读取", f"fields are separated by {delimiter!r}", file=file))
    return Layout(delimiter, at, resolve_header(rows[at], schema, file, problems))


class NotTyped(Exception):
    """A batch of a streamed CSV does not allow the typed read: read the file the slow way."""


def read_ahead(reader, depth: int = 1):
    """The batches of an Arrow streaming reader, parsed by a thread of their own up to ``depth``
    batches ahead of the caller: Arrow's streaming CSV reader parses on the thread that asks for
    the next batch, without the interpreter lock, so the parse of batch n + 1 runs beside the
    caller's Python work on batch n (the checks and the typing of :mod:`settlement.cells`). The
    batches come in the file's order; the reader's exception is raised here, at the batch it
    stopped at. When the caller stops early (its own exception, or the generator closed), the
    thread is stopped and joined before this returns."""
    import queue
    import threading

    batches: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def parse() -> None:
        try:
            for batch in reader:
                if not put(batch):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 — handed to the caller, raised there
            put(exc)

    thread = threading.Thread(target=parse, name="csv-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def stream_typed(path: Path, schema: TableSchema, encoding: str, shape: Layout):
    """The records of a CSV in batches read with the schema's types: (RawTable, ...) one batch
    at a time, rows numbered as :func:`read_csv` numbers them; :class:`NotTyped` as soon as a
    batch holds a cell or line the typed read does not take (the caller then reads the file
    as text, which finds and names each one)."""
    types = _column_types(shape.names, schema)
    if all(t == pa.large_string() for t in types.values()):
        raise NotTyped
    read, parse, convert = _typed_options(encoding, shape.delimiter, shape.at, types)
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        first = shape.at + 2
        for batch in read_ahead(reader):
            table = pa.Table.from_batches([batch])
            if not _within_limits(table, shape.names, schema):
                raise NotTyped
            numbers = np.arange(first, first + table.num_rows)
            first += table.num_rows
            columns = dict(zip(shape.names, table.columns))
            keep = _non_blank_rows(table)
            if keep is not None:
                columns = {k: pc.filter(v, keep) for k, v in columns.items()}
                numbers = numbers[np.asarray(keep)]
            yield RawTable(columns, numbers)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise NotTyped from exc


def stream_text(path: Path, schema: TableSchema, encoding: str, shape: Layout):
    """The records of a CSV in batches with every field as text (for :mod:`settlement.cells`
    to parse the quirks the typed read refuses: ``2025/1/28``, ``１２３``, ``¥1,234``);
    :class:`NotTyped` when a line has the wrong number of fields or is blank, which only the
    whole-file read can number and repair."""
    names = [f"c{j}" for j in range(len(shape.names))]
    read = pacsv.ReadOptions(encoding="utf8" if encoding == "utf-8-sig" else encoding, block_size=CHUNK,
                             skip_rows=shape.at + 1, column_names=names)
    parse = pacsv.ParseOptions(delimiter=shape.delimiter, invalid_row_handler=lambda row: "error",
                               ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False, check_utf8=encoding != "utf-8-sig")
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        first = shape.at + 2
        for batch in read_ahead(reader):
            table = pa.Table.from_batches([batch])
            numbers = np.arange(first, first + table.num_rows)
            first += table.num_rows
            if _non_blank_rows(table) is not None:
                raise NotTyped  # a row of empty fields: the whole-file read drops it
            yield RawTable(dict(zip(shape.names, table.columns)), numbers)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise NotTyped from exc


def read_csv(path: Path, schema: TableSchema, encoding: str, problems: list[Problem]) -> CsvText | None:
    """The text of a CSV table, or None (the reason appended to ``problems``)."""
    shape = layout(path, schema, encoding, problems)
    if shape is None:
        return None
    delimiter, at, names = shape.delimiter, shape.at, shape.names
    table_text, numbers = _parse_typed(path, encoding, delimiter, at, _column_types(names, schema))
    if table_text is not None and not _within_limits(table_text, names, schema):
        table_text = None
    typed = table_text is not None
    if not typed:
        table_text, numbers = _parse(path, encoding, delimiter, at, len(names), problems, schema)
    if table_text is None:
        return None
    columns = dict(zip(names, table_text.columns))
    keep = _non_blank_rows(table_text)
    if keep is not None:
        columns = {k: pc.filter(v, keep) for k, v in columns.items()}
        numbers = numbers[np.asarray(keep)]
    return CsvText(RawTable(columns, numbers), at + 1, problems, typed)


def _within_limits(table: pa.Table, names: list[str], schema: TableSchema) -> bool:
    """Every typed column holds values the contract takes as they are (else: the text read)."""
    from settlement.native import fits

    by_name = {c.name: c for c in schema.columns}
    return all(fits(column, by_name[n]) for n, column in zip(names, table.columns)
               if n in by_name and column.type != pa.large_string())


def _parse_typed(path, encoding, delimiter, at, types: dict[str, pa.DataType]):
    """The records read with the schema's types, or (None, None) when any cell or line does
    not allow it (then nothing is reported here: the text read finds and names each one)."""
    if all(t == pa.large_string() for t in types.values()):
        return None, None  # nothing to type: the text read is the read
    read, parse, convert = _typed_options(encoding, delimiter, at, types)
    try:
        table = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None, None
    return table, np.arange(at + 2, at + 2 + table.num_rows)


def _typed_options(encoding: str, delimiter: str, at: int, types: dict[str, pa.DataType]):
    """Arrow's read, parse and convert options of the typed read (whole or streamed)."""
    from settlement.cells import FALSE_WORDS, TRUE_WORDS

    read = pacsv.ReadOptions(encoding="utf8" if encoding == "utf-8-sig" else encoding, block_size=CHUNK,
                             skip_rows=at + 1, column_names=list(types))
    parse = pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False)  # a blank line: text read
    convert = pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=False,
                                   quoted_strings_can_be_null=False, true_values=sorted(TRUE_WORDS),
                                   false_values=sorted(FALSE_WORDS), check_utf8=encoding != "utf-8-sig")
    return read, parse, convert


def _first_records(start: str, delimiter: str) -> list[list[str]]:
    """The first records of the file's beginning (a record cut off at its end may be partial)."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(start, newline=None), delimiter=delimiter)  # \r, \n or \r\n
    try:
        for row in itertools.islice(reader, HEADER_SEARCH_ROWS):
            rows.append(row)
    except csv.Error:  # a field longer than the csv module allows: the header is found already
        pass
    return rows


def _parse(path, encoding, delimiter, at, width, problems, schema):
    """Arrow parse of the records after the header; (table, record numbers) or (None, None)."""
    bad: list = []

    def invalid(row) -> str:
        bad.append((row.number, row.text or "", row.actual_columns))
        return "skip"

    names = [f"c{j}" for j in range(width)]
    read = pacsv.ReadOptions(encoding="utf8" if encoding == "utf-8-sig" else encoding, block_size=CHUNK,
                             skip_rows=at + 1, column_names=names)
    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid, ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False, check_utf8=encoding != "utf-8-sig")
    table = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    first = at + 2  # the user's row number of the first record after the header
    if not bad:
        return table, np.arange(first, first + table.num_rows)
    bad.clear()  # again on one thread (line numbers) and with quoted line breaks allowed
    read.use_threads = False
    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid, ignore_empty_lines=False,
                               newlines_in_values=True)
    table = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    return _repair(table, bad, first, width, delimiter, path.name, problems, schema)


def _repair(table, bad, first, width, delimiter, file, problems, schema):
    """Blank-looking lines are skipped; surplus empty fields dropped; other bad lines reported."""
    fixed, wrong = [], []
    for number, text, actual in bad:
        fields = next(csv.reader([text], delimiter=delimiter), [])
        if not "".join(fields).strip():
            continue  # spaces or commas only: a blank row
        if actual > width and not "".join(fields[width:]).strip():
            fixed.append((number, fields[:width]))
        else:
            wrong.append((number, text))
    for number, text in wrong[:MAX_ROWS_LISTED]:
        problems.append(Problem(
            "row.malformed", "error", schema.table,
            f"该行的字段数与表头（{width} 列）不一致（多了或少了逗号？），整张表未读入",
            f"the number of fields differs from the header ({width} columns); table not loaded",
            file=file, row=number, value=text[:100]))
    if wrong:
        return None, None
    skipped = {number for number, _, _ in bad}
    total = table.num_rows + len(skipped)
    numbers = np.array([n for n in range(first, first + total) if n not in skipped], dtype="int64") \
        if skipped else np.arange(first, first + table.num_rows)
    if fixed:
        extra = pa.table({name: [f[j] for _, f in fixed] for j, name in enumerate(table.column_names)})
        table = pa.concat_tables([table, extra.cast(table.schema)])
        numbers = np.concatenate([numbers, [n for n, _ in fixed]])
        order = np.argsort(numbers, kind="stable")
        table, numbers = table.take(pa.array(order)), numbers[order]
    return table, numbers


def _non_blank_rows(table: pa.Table):
    """Mask of rows with any non-blank cell, or None when every row has one (the usual case)."""
    if not table.num_columns or not table.num_rows:
        return None
    blank = None
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            empty = pc.or_(pc.equal(column, ""), pc.utf8_is_space(column))
        else:  # a typed column: an empty cell is null
            empty = pc.is_null(column)
        if blank is None and not pc.any(empty).as_py():
            return None  # the first column is never blank: nothing to drop
        blank = empty if blank is None else pc.and_(blank, empty)
    return pc.invert(blank) if pc.any(blank).as_py() else None
