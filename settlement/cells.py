"""Cell typing (单元格转换): raw text columns → the contract's dtypes, a problem per bad cell.

Every reader (CSV, Parquet, xlsx) hands over a :class:`RawTable`: the column names resolved
by :mod:`settlement.headers`, one Arrow text array per column and the user's row numbers.
:func:`typed` converts column by column (each raw column is freed once typed)::

    money  → int64 fen, exact (settlement.money.parse_yuan)   "１，２３４．５６", "¥1,234元" accepted
    int    → int64        "30,000", "30000.00" accepted; NaN, inf, 1e400, 2^63 rejected
    float  → float64      NaN, ±inf and overflow (1e400) rejected: every number is finite
    date   → datetime64   settlement.dates: 2025/1/28, 2025年1月28日, 20250128, Excel serials
    bool   → bool         true/false, 1/0, 是/否, Y/N, yes/no, √/×
    id     → string       leading zeros kept; an id Excel turned into 4.40102E+17 is rejected
    enum   → string       case, spaces and full-width letters normalised (``Lead_Hospital``)

A value that does not convert is a :class:`~settlement.problems.Problem` at the user's row,
with the text the user wrote (an overflowing integer shows ``9223372036854775808``, never
``-9223372036854775808``); the cells reported are remembered in ``flagged`` so later checks
do not report them twice. Only the failing cells take slower paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement import native
from settlement.arrow_text import as_text, has_control, is_text, trimmed
from settlement.dates import parse_dates
from settlement.money import parse_yuan
from settlement.number_text import exact_int, invalid_reasons, normalise_numbers
from settlement.problems import Problem
from settlement.schema import STRING_TYPES, Column, TableSchema

MAX_ROWS_LISTED = 1000  # per (table, column, rule); the rest is summarised in one line
TRUE_WORDS = {"true", "1", "1.0", "是", "yes", "y", "t", "真", "√", "✓"}
FALSE_WORDS = {"false", "0", "0.0", "否", "no", "n", "f", "假", "×", "✗"}
_EXCEL_SCIENTIFIC = r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$"

KIND_ZH = {"money": "金额", "int": "整数", "float": "数值"}
REASON_ZH = {
    "nonfinite": ("number.nonfinite", "「{label}」不是有限的数（NaN、无穷大 inf 或 Excel 错误值如 #DIV/0!、#N/A），请填写实际{kind}",
                  "{name} is not a finite number (NaN, inf or an Excel error value)"),
    "overflow": ("number.overflow", "「{label}」数值过大，超出可处理范围（{limit}），请检查单位或是否多写了位数",
                 "{name} is too large ({limit})"),
    "decimals": ("money.format", "「{label}」最多两位小数（金额精确到分）", "{name} has more than 2 decimals"),
    "fraction": ("int.format", "「{label}」应为整数，不能有小数", "{name} must be a whole number"),
    "scientific": ("int.format", "「{label}」是科学计数法（如 3E+04），请写成完整的整数",
                   "{name} is in scientific notation; write the whole number"),
}
FORMAT_ZH = {
    "money": ("money.format", "「{label}」不是有效金额（元，最多两位小数，可含千分位逗号、¥ 或 元）",
              "{name} is not an amount in yuan with at most 2 decimals"),
    "int": ("int.format", "「{label}」应为整数", "{name} must be an integer"),
    "float": ("float.format", "「{label}」应为数值", "{name} must be a number"),
}
LIMIT_ZH = {"money": "±10^15 元", "int": "±9223372036854775807", "float": "±1.8×10^308"}


@dataclass
class RawTable:
    """A table as read: column name → Arrow array (text, or already typed), the user's row numbers."""

    columns: dict[str, pa.ChunkedArray]
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def where(self, column: str, values) -> "RawTable":
        """Only the rows whose ``column`` (trimmed, as text) is one of ``values``; none without it."""
        if column not in self.columns:
            keep = pa.array(np.zeros(len(self), dtype=bool))
        else:
            text = pc.utf8_trim_whitespace(as_text(self.columns[column]))
            keep = pc.fill_null(pc.is_in(text, value_set=pa.array([str(v) for v in values], type=text.type)), False)
        return RawTable({k: pc.filter(v, keep) for k, v in self.columns.items()}, self.index[_np(keep)])


def empty_frame(schema: TableSchema) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series([], dtype=_dtype(c)) for c in schema.columns})


def _dtype(col: Column) -> str:
    if col.nullable and col.default is None and col.type in ("int", "money"):
        return "Int64"
    return {"int": "int64", "money": "int64", "float": "float64", "date": "datetime64[ns]",
            "bool": "bool"}.get(col.type, "string")


def typed(raw: RawTable, schema: TableSchema, file: str, problems: list[Problem],
          flagged: dict) -> pd.DataFrame:
    """The typed frame of one table; problems appended, flagged cells recorded."""
    report = Reporter(schema.table, file, problems, flagged)
    index = pd.Index(raw.index, name="row")
    for extra in [c for c in raw.columns if c not in schema.column_names]:
        if not extra.startswith(("_blank", "_duplicate")):
            report.table_level("column.unknown", "warning", extra, f"未知列「{extra}」将被忽略",
                               f"unknown column {extra} ignored")
        elif extra.startswith("_blank") and _has_text(as_text(raw.columns[extra])):
            report.table_level("column.unnamed", "warning", "", f"第 {int(extra[6:]) + 1} 列没有列名但有数据，已忽略",
                               f"column {int(extra[6:]) + 1} has data but no header; ignored")
    out = {}
    for col in schema.columns:
        if col.name not in raw.columns:
            if col.required:
                report.table_level("column.missing", "error", col.name,
                                   f"缺少必需列「{col.name}」（{col.label_zh}）", f"required column {col.name} missing")
            fill = pa.chunked_array([pa.nulls(len(raw), pa.string()) if col.default is None
                                     else pa.repeat(pa.scalar(col.default), len(raw))])
            out[col.name] = convert(fill, index, col, Reporter(schema.table, file, []))
            continue
        out[col.name] = typed_column(raw.columns.pop(col.name), index, col, report)
    return pd.DataFrame(out, index=index, copy=False)


def typed_column(arr: pa.ChunkedArray, index, col: Column, report: "Reporter") -> pd.Series:
    """A column as read → its contract dtype: a typed column of the right kind as it is
    (:mod:`settlement.native`), any other through its text (trimmed, then :func:`convert`)."""
    if not is_text(arr.type):
        fast = native.as_contract(arr, index, col, report, _default_value(col))
        if fast is not None:
            return fast
        arr = as_text(arr)
    return convert(trimmed(arr), index, col, report)


def _default_value(col: Column):
    """The column's default as its typed value (``"0"`` → 0 fen, ``"false"`` → False), or None."""
    if col.default is None or col.type in STRING_TYPES:
        return None
    value = convert(pa.chunked_array([pa.array([col.default])]), pd.Index([0]), col, Reporter("", "", []))
    return value.iloc[0]


def _has_text(arr: pa.ChunkedArray) -> bool:
    return bool(pc.any(pc.fill_null(pc.invert(pc.utf8_is_space(pc.if_else(pc.equal(arr, ""), " ", arr))),
                                    False)).as_py())


def _np(array) -> np.ndarray:
    return np.array(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)  # writable


def _text(arr: pa.ChunkedArray, index) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=index, copy=False)


def convert(arr: pa.ChunkedArray, index, col: Column, report: "Reporter") -> pd.Series:
    """One trimmed text column → its typed Series (empty cells: default, or <NA>/NaN/NaT)."""
    empty_arr = pc.or_kleene(pc.is_null(arr), pc.equal(arr, ""))
    empty = _np(empty_arr)
    if col.default is not None and empty.any():
        arr = pc.if_else(empty_arr, col.default, arr)
        empty_arr, empty = pc.and_(empty_arr, False), np.zeros(len(arr), dtype=bool)
    text = _text(arr, index)
    if not col.nullable:
        report.rows("value.required", col, empty, text, f"「{col.label_zh}」不能为空", f"{col.name} must not be empty")
    if col.type in STRING_TYPES:
        return _strings(arr, empty_arr, empty, text, col, report)
    if col.type == "money":
        parsed = parse_yuan(text)
        _number_problems(parsed.invalid.to_numpy(), arr, text, col, report)
        if col.nullable and col.default is None:  # e.g. official_package: empty means "not given", not 0
            return parsed.fen.astype("Int64").mask(empty | parsed.invalid.to_numpy(), pd.NA)
        return parsed.fen
    if col.type == "int":
        values, bad = _integers(arr, empty)
        _number_problems(bad, arr, text, col, report)
        if col.nullable and col.default is None:
            return pd.Series(values, index=index).astype("Int64").mask(empty | bad, pd.NA)
        return pd.Series(np.where(bad, 0, values), index=index, dtype="int64")
    if col.type == "float":
        values = _floats(arr)
        bad = ~empty & ~np.isfinite(values)
        _number_problems(bad, arr, text, col, report)
        return pd.Series(np.where(bad | empty, np.nan, values), index=index, dtype="float64")
    if col.type == "date":
        day = parse_dates(arr, index)
        report.rows("date.format", col, day.isna().to_numpy() & ~empty, text,
                    f"「{col.label_zh}」应为日期，如 2025-01-28（也可写 2025/1/28、2025年1月28日）",
                    f"{col.name} must be a date YYYY-MM-DD")
        return day
    return _booleans(arr, empty, text, col, report)


def _number_problems(bad: np.ndarray, arr, text: pd.Series, col: Column, report: "Reporter") -> None:
    """Problems of the cells that are not numbers, grouped by why (non-finite, overflow …)."""
    if not bad.any():
        return
    where = np.flatnonzero(bad)
    reasons = invalid_reasons(pc.take(arr, pa.array(where)), col.type)
    for reason in dict.fromkeys(reasons):
        rule, zh, en = REASON_ZH.get(reason, FORMAT_ZH[col.type])
        mask = np.zeros(len(bad), dtype=bool)
        mask[where[reasons == reason]] = True
        fill = {"label": col.label_zh, "name": col.name, "kind": KIND_ZH[col.type], "limit": LIMIT_ZH[col.type]}
        report.rows(rule, col, mask, text, zh.format(**fill), en.format(**fill))


def _integers(arr: pa.ChunkedArray, empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 values and the mask of non-empty cells that are not whole numbers within int64."""
    text = arr
    plain = _np(pc.match_substring_regex(text, r"^[+-]?\d{1,18}$"))
    if not plain[~empty].all():  # unusual cells: full-width, 30,000, 30000.00
        normal = pc.replace_substring_regex(normalise_numbers(text), r"^([+-]?\d+)\.0*$", r"\1")
        text = pc.if_else(pa.array(plain), text, normal)
        plain = _np(pc.match_substring_regex(text, r"^[+-]?\d{1,18}$"))
    values = pc.cast(pc.if_else(pa.array(plain), text, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    values = np.array(values, dtype="int64")
    bad = ~plain & ~empty
    for i in np.flatnonzero(bad & _np(pc.match_substring_regex(text, r"^[+-]?\d{19}$"))):
        exact = exact_int(text[int(i)].as_py())  # 19 digits: within int64 or not, exactly
        if exact is not None:
            values[i], bad[i] = exact, False
    return values, bad


def _floats(arr: pa.ChunkedArray) -> np.ndarray:
    """float64 values; NaN where empty or not a number, ±inf where written so (the caller rejects
    every non-finite value of a non-empty cell: a written ``nan`` is not an empty cell)."""
    cells = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    try:
        values = pc.cast(cells, pa.float64())
    except pa.ArrowInvalid:
        number = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
        plain = pc.fill_null(pc.match_substring_regex(cells, number), False)
        normal = pc.if_else(plain, cells, normalise_numbers(cells))
        good = pc.fill_null(pc.match_substring_regex(normal, number), False)
        values = pc.cast(pc.if_else(good, normal, pa.scalar(None, pa.string())), pa.float64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype="float64")


def _booleans(arr, empty, text, col: Column, report: "Reporter") -> pd.Series:
    is_true = _np(pc.is_in(arr, value_set=pa.array(sorted(TRUE_WORDS))))
    is_false = _np(pc.is_in(arr, value_set=pa.array(sorted(FALSE_WORDS))))
    other = ~(is_true | is_false) & ~empty
    if other.any():  # TRUE, Ｙ, １: folded, for those cells only
        where = np.flatnonzero(other)
        folded = pc.utf8_lower(pc.utf8_normalize(pc.take(arr, pa.array(where)), "NFKC"))
        is_true[where] = _np(pc.is_in(folded, value_set=pa.array(sorted(TRUE_WORDS))))
        is_false[where] = _np(pc.is_in(folded, value_set=pa.array(sorted(FALSE_WORDS))))
    report.rows("bool.format", col, ~(is_true | is_false) & ~empty, text,
                f"「{col.label_zh}」应为 是/否（true/false、1/0、Y/N）", f"{col.name} must be true/false, 1/0 or 是/否")
    return pd.Series(is_true, index=text.index)


_CONTROL = r"[\x{01}-\x{08}\x{0b}\x{0c}\x{0e}-\x{1f}\x{7f}]"  # arrow_text.CONTROL_BYTE


def _strings(arr, empty_arr, empty, text, col: Column, report: "Reporter") -> pd.Series:
    if has_control(arr):  # every text column of every table, whatever its length or batch
        control = _np(pc.match_substring_regex(arr, _CONTROL))
        if control.any():  # the value shown with the characters made visible (never an ESC on a console)
            shown = _text(pc.replace_substring_regex(arr, _CONTROL, "�"), text.index)
            report.rows("text.control", col, control, shown,
                        f"「{col.label_zh}」含不可见的控制字符（如退格、换页、ESC），请删除后重新导出",
                        f"{col.name} contains control characters")
    if col.type == "id" and pc.any(pc.match_substring(arr, "+")).as_py():  # 4.40102E+17 has a "+"
        report.rows("id.scientific", col, _np(pc.match_substring_regex(arr, _EXCEL_SCIENTIFIC)), text,
                    f"「{col.label_zh}」被 Excel 显示成了科学计数法（如 4.40102E+17），编码的后几位已经丢失。"
                    "请在原始数据中把该列设为「文本」格式后再粘贴或导出（导入 CSV 时把该列的类型选为「文本」），"
                    "或在编码前加英文单引号 '", f"{col.name} was turned into scientific notation by Excel; "
                    "format the column as Text before pasting or importing")
    elif col.enum:
        arr = _enum_spelling(arr, col.enum)
        text = _text(arr, text.index)
    elif col.pattern:
        arr = _period_spelling(arr, col.pattern)
        text = _text(arr, text.index)
    if not empty.any():
        return text
    return _text(pc.if_else(empty_arr, pa.scalar(None, arr.type), arr), text.index)


def _enum_spelling(arr: pa.ChunkedArray, allowed: tuple[str, ...]) -> pa.ChunkedArray:
    """``Lead_Hospital``, ``ｃｏｕｎｔｙ`` → the code as the schema writes it (other text unchanged)."""
    values = pa.array(list(allowed))
    if _np(pc.is_in(arr, value_set=values)).all() or not len(arr):
        return arr
    folded = pc.utf8_lower(pc.utf8_normalize(pc.fill_null(arr, ""), "NFKC"))
    known = pc.fill_null(pc.is_in(folded, value_set=pa.array([a.lower() for a in allowed])), False)
    return pc.if_else(known, folded, arr) if all(a == a.lower() for a in allowed) else arr


_PERIOD_FORMS = [(r"^(\d{4})\s*年?\s*第?\s*([1-4])\s*季度?$", r"\1Q\2"),  # 2025年第1季度, 2025Q1
                 (r"^(\d{4})\s*[-/.年]\s*(\d)\s*月?$", r"\1-0\2"),  # 2025年1月, 2025/1
                 (r"^(\d{4})\s*[-/.年]\s*(\d\d)\s*月?$", r"\1-\2"),
                 (r"^(\d{4})(0[1-9]|1[0-2])$", r"\1-\2")]  # 202501


def _period_spelling(arr: pa.ChunkedArray, pattern: str) -> pa.ChunkedArray:
    """``2025q1``, ``2025年第1季度`` → ``2025Q1``; ``2025年1月``, ``2025/1``, ``202501`` → ``2025-01``."""
    fine = _np(pc.or_(pc.match_substring_regex(arr, pattern), pc.equal(arr, "")))
    if fine.all():
        return arr
    folded = pc.utf8_upper(pc.utf8_normalize(pc.fill_null(arr, ""), "NFKC"))
    for form, rewrite in _PERIOD_FORMS:
        folded = pc.replace_substring_regex(folded, form, rewrite)
    return pc.if_else(pa.array(fine), arr, folded)


@dataclass
class Reporter:
    table: str
    file: str
    problems: list[Problem]
    flagged: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def table_level(self, rule, severity, column, zh, en):
        self.problems.append(Problem(rule, severity, self.table, zh, en, file=self.file, column=column))

    def rows(self, rule: str, col: Column, mask, values: pd.Series, zh: str, en: str):
        """One problem per bad row (the first MAX_ROWS_LISTED), then one summary line."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        mask = pd.Series(mask, index=values.index)
        if add_row_problems(self.problems, rule, self.table, self.file, col.name, mask, values, zh, en):
            rows = mask.index[mask.to_numpy()].to_numpy()
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
