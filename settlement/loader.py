"""Loader (数据读取): a data folder → typed DataFrames, one per contract table.

A table is ``<name>.csv``, ``<name>.parquet`` or a sheet named ``<name>`` in any ``.xlsx``
workbook of the folder. CSV may be UTF-8 (with or without BOM) or GBK/GB18030 (what Chinese
Excel saves); the encoding is detected by validating the bytes as UTF-8. Excel sheets may
have title rows above the header: the header is the first row (of the first 20) that holds
most of the schema's column names.

Every cell is read as text first and converted by the schema's logical type
(:mod:`settlement.schema`): money → int64 fen through :func:`settlement.money.parse_yuan`
(never through binary float), ids keep leading zeros, dates ISO, booleans
``true/false/1/0/是/否``. A cell that cannot be converted, a missing table or column, an
empty required cell become :class:`~settlement.problems.Problem` records — all of them,
not the first — with the row number as the user sees it in their own file. The frame's
index *is* that row number.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from settlement.money import parse_yuan
from settlement.problems import Problem
from settlement.schema import STRING_TYPES, Column, TableSchema, contract

MAX_ROWS_LISTED = 1000  # per (table, column, rule); the rest is summarised in one line
TRUE_WORDS = {"true", "1", "是", "yes", "y", "t", "真"}
FALSE_WORDS = {"false", "0", "否", "no", "n", "f", "假"}
_CHUNK = 16 * 1024 * 1024


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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' when the whole file is valid UTF-8, else 'gb18030' (superset of GBK)."""
    return _scan_file(path)[1]


def _scan_file(path: Path) -> tuple[str, str]:
    """(SHA-256, encoding) in one pass over the file."""
    h = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return h.hexdigest(), "utf-8-sig" if utf8 else "gb18030"


def load_folder(folder: str | Path, schemas: dict[str, TableSchema] | None = None) -> LoadResult:
    """Load every contract table found in ``folder``; problems are collected, never raised."""
    folder = Path(folder)
    schemas = schemas or contract()
    result = LoadResult()
    if not folder.is_dir():
        result.problems.append(Problem("folder.missing", "error", "", f"数据目录不存在：{folder}",
                                       f"data folder not found: {folder}", file=str(folder)))
        return result
    sheets = _workbook_sheets(folder, result)
    for name, schema in schemas.items():
        reported = len(result.problems)
        raw, source = _read_table(folder, name, sheets, result)
        if raw is None:
            if schema.required and len(result.problems) == reported:  # not found (vs. unreadable)
                result.problems.append(Problem(
                    "table.missing", "error", name,
                    f"缺少必需的数据表「{schema.label_zh}」（{name}.csv / {name}.parquet / Excel 工作表 {name}）",
                    f"required table {name} not found", file=str(folder)))
            result.tables[name] = empty_frame(schema)
            continue
        result.sources[name] = source
        result.tables[name] = _typed(raw, schema, source, result.problems, result.flagged)
        del raw
    pa.default_memory_pool().release_unused()  # give the raw text's memory back to the system
    return result


# ---------------------------------------------------------------- reading raw text
def _workbook_sheets(folder: Path, result: LoadResult) -> dict[str, tuple[Path, str]]:
    found: dict[str, tuple[Path, str]] = {}
    for book in sorted(folder.glob("*.xlsx")):
        if book.name.startswith("~$"):
            continue
        import openpyxl

        try:
            wb = openpyxl.load_workbook(book, read_only=True)
        except Exception as exc:  # corrupt or not a workbook
            result.problems.append(Problem("file.unreadable", "error", "", f"无法打开 Excel 文件：{exc}",
                                           f"cannot open workbook: {exc}", file=book.name))
            continue
        for sheet in wb.sheetnames:
            found.setdefault(sheet.strip(), (book, sheet))
        wb.close()
    return found


def _read_table(folder: Path, name: str, sheets, result: LoadResult):
    candidates = [p for p in (folder / f"{name}.csv", folder / f"{name}.parquet") if p.exists()]
    if name in sheets:
        candidates.append(sheets[name][0])
    if len(candidates) > 1:
        result.problems.append(Problem(
            "table.ambiguous", "error", name,
            f"数据表 {name} 同时出现在多个文件中：{', '.join(p.name for p in candidates)}，请只保留一个",
            f"table {name} found in several files", file=candidates[0].name))
        return None, None
    if not candidates:
        return None, None
    path = candidates[0]
    if path.name not in result.file_hashes and path.suffix != ".csv":  # CSV: hashed while read
        result.file_hashes[path.name] = sha256_file(path)
    try:
        if path.suffix == ".csv":
            return _read_csv(path, name, result)
        if path.suffix == ".parquet":
            frame = _arrow_to_text(pq.read_table(path))
            return frame, Source(name, path.name, "parquet", header_row=0, rows=len(frame))
        return _read_sheet(path, sheets[name][1], name, result)
    except Exception as exc:  # unreadable file: one clear problem, no traceback
        result.problems.append(Problem("file.unreadable", "error", name,
                                       f"无法读取文件：{exc}", f"cannot read file: {exc}",
                                       file=path.name))
        return None, None


def _read_csv(path: Path, name: str, result: LoadResult):
    result.file_hashes[path.name], encoding = _scan_file(path)
    if path.stat().st_size == 0:
        result.problems.append(Problem("file.empty", "error", name, "文件为空（没有表头）",
                                       "empty file (no header)", file=path.name))
        return None, None
    utf8 = encoding == "utf-8-sig"
    # the scan has validated the bytes as UTF-8 already: Arrow need not check them again
    read_opts = pacsv.ReadOptions(encoding="utf8" if utf8 else "gb18030", block_size=_CHUNK)
    with open(path, "rb") as fh:
        first = fh.readline().decode(encoding, errors="replace").lstrip("\ufeff")
    if not first.strip():
        result.problems.append(Problem("file.empty", "error", name, "文件第一行（表头）为空",
                                       "the first line (header) is empty", file=path.name))
        return None, None
    header = [h.strip() for h in next(iter(pd.read_csv(pd.io.common.StringIO(first), header=None,
                                                          dtype=str).itertuples(index=False)))]
    _duplicate_header(header, name, path.name, result.problems)
    bad_rows: list[tuple[int | None, str]] = []

    def malformed(row) -> str:  # a line with too many or too few fields
        bad_rows.append((row.number, row.text))
        return "skip"

    convert = pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                   strings_can_be_null=False, quoted_strings_can_be_null=False,
                                   check_utf8=not utf8)
    parse = pacsv.ParseOptions(invalid_row_handler=malformed)
    table = pacsv.read_csv(path, read_options=read_opts, parse_options=parse, convert_options=convert)
    if bad_rows and any(number is None for number, _ in bad_rows):  # threaded reads lose the line numbers
        bad_rows.clear()
        read_opts.use_threads = False
        pacsv.read_csv(path, read_options=read_opts, parse_options=parse, convert_options=convert)
    if bad_rows:
        for number, text in bad_rows[:MAX_ROWS_LISTED]:
            result.problems.append(Problem(
                "row.malformed", "error", name,
                f"该行的字段数与表头（{len(header)} 列）不一致（多了或少了逗号？），整张表未读入",
                f"the number of fields differs from the header ({len(header)} columns); table not loaded",
                file=path.name, row=number, value=(text or "")[:100]))
        return None, None
    table = table.rename_columns([str(c).lstrip("\ufeff").strip() for c in table.column_names])
    frame = _RawText(table, np.arange(2, table.num_rows + 2))
    enc = "UTF-8" if utf8 else "GB18030/GBK"
    return frame, Source(name, path.name, "csv", header_row=1, encoding=enc, rows=len(frame))


class _RawText:
    """The text columns of a CSV as Arrow arrays, handed to :func:`_typed` one at a time.

    Kept in Arrow (32-bit offsets) rather than as a pandas frame so that each column is
    trimmed, widened, typed and freed in turn: at 15 million rows, the raw text of every
    column at once in pandas' 64-bit-offset strings would add about 0.5 GB to the peak.
    """

    def __init__(self, table: pa.Table, index: np.ndarray):
        self._columns = dict(zip(table.column_names, table.columns))
        self.columns = pd.Index(table.column_names)
        self.index = pd.Index(index)

    def __len__(self) -> int:
        return len(self.index)

    def pop(self, name: str) -> pd.Series:
        return _series(self._columns.pop(name), self.index)


def _arrow_to_text(table: pa.Table) -> pd.DataFrame:
    """Arrow table → all-text frame; decimals and floats keep their exact written value."""
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            cols[name] = pd.Series(pd.arrays.ArrowStringArray(col), copy=False)
        elif pa.types.is_floating(col.type):
            cols[name] = pd.Series(col.to_numpy(zero_copy_only=False)).astype("float64")
        elif pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
            cols[name] = pd.Series(pd.to_datetime(col.to_pandas())).dt.strftime("%Y-%m-%d").astype("string")
        elif pa.types.is_boolean(col.type):
            cols[name] = col.to_pandas().map({True: "true", False: "false"}).astype("string")
        else:  # ints, decimals: exact text
            cols[name] = col.cast(pa.string()).to_pandas().astype("string")
    frame = pd.DataFrame(cols)
    frame.index = np.arange(1, len(frame) + 1)
    return frame


def _duplicate_header(header: list[str], table: str, file: str, problems: list[Problem]) -> None:
    for twice in sorted({h for h in header if header.count(h) > 1 and h}):
        problems.append(Problem("column.duplicate", "error", table, f"列名「{twice}」出现了不止一次",
                                f"column {twice} appears more than once", file=file, column=twice))


def _read_sheet(path: Path, sheet: str, name: str, result: LoadResult):
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = list(wb[sheet].iter_rows(values_only=True))
    wb.close()
    if not any(any(v not in (None, "") for v in row) for row in rows):
        result.problems.append(Problem("file.empty", "error", name, f"工作表「{sheet}」为空（没有表头）",
                                       f"sheet {sheet} is empty (no header)", file=path.name))
        return None, None
    expected = {c.name for c in contract()[name].columns}
    header_at = 0
    for i, row in enumerate(rows[:20]):
        names = {str(v).strip() for v in row if v is not None}
        if len(names & expected) >= max(1, len(expected) // 2):
            header_at = i
            break
    header = [str(v).strip() if v is not None else f"_blank{j}" for j, v in enumerate(rows[header_at])]
    _duplicate_header(header, name, path.name, result.problems)
    body = [r for r in rows[header_at + 1:]]
    numbers = [header_at + 2 + k for k in range(len(body))]
    keep = [k for k, r in enumerate(body) if any(v not in (None, "") for v in r)]
    data = {h: [_cell_text(body[k][j] if j < len(body[k]) else None) for k in keep]
            for j, h in enumerate(header)}
    frame = pd.DataFrame(data, dtype="object")
    for h in header:
        frame[h] = _text_column(frame[h])
    frame.index = [numbers[k] for k in keep]
    return frame, Source(name, path.name, "xlsx", sheet=sheet, header_row=header_at + 1, rows=len(frame))


def _cell_text(v):
    import datetime as dt

    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dt.datetime, dt.date)):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, float):
        return v  # kept as float: parse_yuan reads its shortest repr exactly
    return str(v)


def _text_column(values: pd.Series) -> pd.Series:
    return pd.Series([repr(v) if isinstance(v, float) else v for v in values],
                     index=values.index, dtype="string").str.replace(r"\.0$", "", regex=True) \
        if any(isinstance(v, float) for v in values) else values.astype("string")


# ---------------------------------------------------------------- typing
def empty_frame(schema: TableSchema) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series([], dtype=_dtype(c)) for c in schema.columns})


def _dtype(col: Column) -> str:
    if col.nullable and col.default is None and col.type in ("int", "money"):
        return "Int64"
    return {"int": "int64", "money": "int64", "float": "float64", "date": "datetime64[ns]",
            "bool": "bool"}.get(col.type, "string")


def _typed(raw: pd.DataFrame, schema: TableSchema, source: Source, problems: list[Problem],
           flagged: dict | None = None) -> pd.DataFrame:
    report = _Reporter(schema.table, source.file, problems, flagged if flagged is not None else {})
    present = set(raw.columns)
    for extra in sorted(present - set(schema.column_names)):
        if not extra.startswith("_blank"):
            report.table_level("column.unknown", "warning", extra,
                               f"未知列「{extra}」将被忽略", f"unknown column {extra} ignored")
    out = {}
    for col in schema.columns:
        if col.name not in present:
            if col.required:
                report.table_level("column.missing", "error", col.name,
                                   f"缺少必需列「{col.name}」（{col.label_zh}）",
                                   f"required column {col.name} missing")
            text = pd.Series(col.default if col.default is not None else pd.NA,
                             index=raw.index, dtype="string")
            quiet = _Reporter(schema.table, source.file, [])  # the column's absence is the problem
            out[col.name] = _convert(text, col, quiet)
            continue
        text = _pop_stripped(raw, col.name)  # popped: the raw text is freed column by column
        out[col.name] = _convert(text, col, report)
        del text
    frame = pd.DataFrame(out, index=raw.index, copy=False)
    frame.index.name = "row"
    return frame


def _arrow(text: pd.Series) -> pa.ChunkedArray:
    """The Arrow array behind a pyarrow-backed string column (no copy)."""
    array = text.array
    if not isinstance(array, pd.arrays.ArrowStringArray):
        array = pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(
            text.astype(object).where(text.notna(), None).tolist(), type=pa.large_string())]))
    return array._pa_array


def _series(array: pa.ChunkedArray, index) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(array), index=index, copy=False)


def _numpy_bool(array, index) -> pd.Series:
    values = pc.fill_null(array, False).to_numpy()
    return pd.Series(np.asarray(values, dtype=bool), index=index)


def _strip(values: pd.Series) -> pd.Series:
    """Text with surrounding whitespace removed (pyarrow compute; floats from Excel kept)."""
    text = values.astype("string") if not isinstance(values.array, pd.arrays.ArrowStringArray) else values
    return _series(pc.utf8_trim_whitespace(_arrow(text)), values.index)


def _pop_stripped(raw, name: str) -> pd.Series:
    """Pop a raw column and strip it; its raw text is freed before the next column is typed."""
    if isinstance(raw, _RawText):  # trim the narrow Arrow text, then widen it for pandas
        return _series(pc.utf8_trim_whitespace(raw._columns.pop(name)), raw.index)
    return _strip(raw.pop(name))


def _convert(text: pd.Series, col: Column, report: "_Reporter") -> pd.Series:
    arr = _arrow(text)
    empty_arr = pc.or_kleene(pc.is_null(arr), pc.equal(arr, ""))
    empty = _numpy_bool(empty_arr, text.index)
    if col.default is not None and empty.any():
        arr = pc.if_else(empty_arr, col.default, arr)
        text = _series(arr, text.index)
    if col.default is not None:
        empty = pd.Series(False, index=text.index)
        empty_arr = pa.chunked_array([pa.array(np.zeros(len(text), dtype=bool))])
    if not col.nullable:
        report.rows("value.required", col, empty, text,
                    f"「{col.label_zh}」不能为空", f"{col.name} must not be empty")
    if col.type in STRING_TYPES:
        if not empty.any():
            return text
        return _series(pc.if_else(empty_arr, pa.scalar(None, arr.type), arr), text.index)
    if col.type == "money":
        parsed = parse_yuan(text)
        report.rows("money.format", col, parsed.invalid, text,
                    f"「{col.label_zh}」不是有效金额（元，最多两位小数，可含千分位逗号）",
                    f"{col.name} is not an amount in yuan with at most 2 decimals")
        if col.nullable and col.default is None:  # e.g. official_package: empty means "not given", not 0
            return parsed.fen.astype("Int64").mask(empty | parsed.invalid, pd.NA)
        return parsed.fen
    if col.type in ("int", "float"):
        number = pd.to_numeric(text.mask(empty, None), errors="coerce")
        bad = number.isna() & ~empty
        if col.type == "int":
            bad |= number.notna() & (number != np.floor(number.fillna(0)))
            report.rows("int.format", col, bad, text, f"「{col.label_zh}」应为整数",
                        f"{col.name} must be an integer")
            if col.nullable and col.default is None:
                return number.where(~bad).round().astype("Int64")
            return number.where(~bad).fillna(0).astype("int64")
        report.rows("float.format", col, bad, text, f"「{col.label_zh}」应为数值",
                    f"{col.name} must be a number")
        return number.astype("float64")
    if col.type == "date":
        day = _parse_dates(arr, text, empty)
        report.rows("date.format", col, day.isna() & ~empty, text,
                    f"「{col.label_zh}」应为日期，格式 YYYY-MM-DD", f"{col.name} must be a date YYYY-MM-DD")
        return day
    lowered = pc.utf8_lower(arr)
    is_true = _numpy_bool(pc.is_in(lowered, value_set=pa.array(sorted(TRUE_WORDS))), text.index)
    is_false = _numpy_bool(pc.is_in(lowered, value_set=pa.array(sorted(FALSE_WORDS))), text.index)
    report.rows("bool.format", col, ~(is_true | is_false) & ~empty, text,
                f"「{col.label_zh}」应为 是/否（true/false、1/0）", f"{col.name} must be true/false, 1/0 or 是/否")
    return is_true


_ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"


def _parse_dates(arr: pa.ChunkedArray, text: pd.Series, empty: pd.Series) -> pd.Series:
    """ISO dates → datetime64[ns]; NaT where empty or invalid (2025-02-30 is invalid).

    A column of strict ``YYYY-MM-DD`` dates (the normal case) is one exact Arrow cast to
    date32. Otherwise each cell is checked: zero-padded ISO through Arrow's strptime (which
    rolls 2025-02-30 over to 2025-03-02, so the parsed day and month must equal the written
    ones), the few other cells (``2025-1-5``) through pandas' parser.
    """
    try:  # strict ISO, all cells or an exception
        cells = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr) if empty.any() else arr
        days = pc.cast(cells, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _parse_dates_cell_by_cell(arr, text, empty)
    number = days.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype("int64")
    outside = (number < _MIN_DAY) | (number > _MAX_DAY)  # NaT (int64 min) included
    number *= _NS_PER_DAY  # in place: days → nanoseconds
    number[outside] = np.iinfo(np.int64).min  # NaT
    return pd.Series(number.view("datetime64[ns]"), index=text.index)


_NS_PER_DAY = 86_400 * 10**9
_MIN_DAY = int(np.datetime64("1678-01-01", "D").astype("int64"))  # datetime64[ns] holds 1678 … 2261
_MAX_DAY = int(np.datetime64("2261-12-31", "D").astype("int64"))


def _parse_dates_cell_by_cell(arr: pa.ChunkedArray, text: pd.Series, empty: pd.Series) -> pd.Series:
    iso = pc.fill_null(pc.match_substring_regex(arr, _ISO_DAY), False)
    stamp = pc.strptime(pc.if_else(iso, arr, "1970-01-01"), format="%Y-%m-%d", unit="s",
                        error_is_null=True)
    day_ok = pc.and_(iso, pc.and_(
        pc.equal(pc.month(stamp), _int_slice(arr, iso, 5, 7)),
        pc.equal(pc.day(stamp), _int_slice(arr, iso, 8, 10))))
    year = pc.year(stamp)  # datetime64[ns] holds 1678 … 2261; 9999-12-31 is not a date here
    day_ok = pc.fill_null(pc.and_(day_ok, pc.and_(pc.greater(year, 1677), pc.less(year, 2262))), False)
    values = pc.cast(pc.if_else(day_ok, stamp, pa.scalar(None, stamp.type)), pa.timestamp("ns"))
    out = pd.Series(values.to_numpy(), index=text.index).astype("datetime64[ns]")
    other = ~_numpy_bool(iso, text.index).to_numpy() & ~empty.to_numpy()
    if other.any():  # rare: non-padded or otherwise unusual text
        parsed = pd.to_datetime(text[other], format="%Y-%m-%d", errors="coerce")
        parsed = parsed.where((parsed.dt.year > 1677) & (parsed.dt.year < 2262))
        out[other] = parsed.astype("datetime64[ns]")
    return out


def _int_slice(arr: pa.ChunkedArray, valid: pa.ChunkedArray, start: int, stop: int) -> pa.ChunkedArray:
    digits = pc.if_else(valid, pc.utf8_slice_codeunits(arr, start, stop), "0")
    return pc.cast(digits, pa.int64())


@dataclass
class _Reporter:
    table: str
    file: str
    problems: list[Problem]
    flagged: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def table_level(self, rule, severity, column, zh, en):
        self.problems.append(Problem(rule, severity, self.table, zh, en, file=self.file, column=column))

    def rows(self, rule: str, col: Column, mask: pd.Series, values: pd.Series, zh: str, en: str):
        """One problem per bad row (the first MAX_ROWS_LISTED), then one summary line."""
        if add_row_problems(self.problems, rule, self.table, self.file, col.name, mask, values, zh, en):
            rows = mask.index[mask.fillna(False).to_numpy(dtype=bool)].to_numpy()
            key = (self.table, col.name)
            self.flagged[key] = np.union1d(self.flagged.get(key, rows[:0]), rows)


def add_row_problems(problems: list[Problem], rule: str, table: str, file: str, column: str,
                     mask: pd.Series, values: pd.Series, zh: str, en: str,
                     severity: str = "error") -> int:
    """Append one Problem per row where ``mask`` holds (index = user row); returns the count."""
    mask = mask.fillna(False).astype(bool)
    count = int(mask.sum())
    if not count:
        return 0
    bad_rows = mask.index[mask.to_numpy()]
    shown = bad_rows[:MAX_ROWS_LISTED]
    shown_values = values.reindex(shown).astype("string").fillna("").tolist()
    for row, value in zip(shown.tolist(), shown_values):
        problems.append(Problem(rule, severity, table, zh, en, file=file, row=int(row),
                                column=column, value=str(value)[:100]))
    if count > len(shown):
        problems.append(Problem(rule, severity, table,
                                f"{zh}（另有 {count - len(shown)} 行同类问题未逐行列出）",
                                f"{en} ({count - len(shown)} more rows not listed)",
                                file=file, column=column))
    return count
