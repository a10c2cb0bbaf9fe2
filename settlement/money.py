"""Exact money (金额): integer fen in, integer fen out.

Every amount the engine stores or reports is an ``int`` / int64 number of fen (分,
1 元 = 100 分). Yuan appear only at the edges: the loader parses them, the writers format
them. Points and ratios may be float64 or Decimal; the step from them to money is one
explicit rounding, :func:`round_fen` (arrays) or :func:`fen_of` (scalars), half away from
zero (四舍五入).

>>> parse_yuan(pd.Series(["12,345.60", "0.07", "-3", "1.234"])).fen.tolist()
[1234560, 7, -300, 0]
>>> format_yuan(pd.Series([1234560, -7])).tolist()
['12345.60', '-0.07']
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.number_text import normalise_numbers

FEN_PER_YUAN = 100
_PLAIN_RE = r"^[+-]?\d{1,15}(\.\d{0,2})?$"  # ≤ 10^15 yuan: fits decimal128(17, 2) and int64 fen
_FLOAT_EXACT_LIMIT = 1e13  # below this a float's shortest repr is recovered exactly from round(x × 100)


class ParsedMoney(NamedTuple):
    """Result of parsing a column of yuan: fen (0 where invalid or empty) and masks."""

    fen: pd.Series
    invalid: pd.Series  # non-empty text that is not an amount with ≤ 2 decimals
    missing: pd.Series  # empty cell


def parse_yuan(values: pd.Series) -> ParsedMoney:
    """Parse yuan amounts into int64 fen without ever going through binary float.

    Accepts a leading sign, at most two decimals (``1234.5000`` too: the extra digits are
    zeros), and what Chinese exports write around the digits: thousands separators in groups
    of three (``12,345.60``; ``1234,56`` is *not* read as 123456), ``¥``/``￥``/``元``,
    full-width digits and punctuation, accounting negatives ``(7.00)``
    (:func:`settlement.number_text.normalise_numbers`). Only an empty cell is missing: ``nan``,
    ``inf`` and ``NULL`` are invalid, never 0. Floats (direct callers) are read through their
    shortest repr, so 0.1 is 10 fen.
    Text is parsed by pyarrow compute (RE2, vectorised): 15 million amounts take seconds.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        return _parse_floats(values)
    if pd.api.types.is_integer_dtype(values.dtype):
        return _parse_text(values.astype("string"))
    return _parse_text(values)


def _parse_text(values: pd.Series) -> ParsedMoney:
    """Text → fen. Plain amounts (``-1234.5``: nearly every cell) are checked by one RE2 match
    and converted by Arrow's exact string → decimal128(17, 2) cast, whose unscaled integer *is*
    the amount in fen. The other cells (separators, currency signs, exponents, empty, words) are
    cleaned and re-checked on their own, so the common case never runs the slow steps."""
    text = _arrow_strings(values)
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_RE), False)
    index = values.index
    if pc.all(plain).as_py():  # the normal case: no copy of the text, chunk by chunk
        nothing = np.zeros(len(text), dtype=bool)
        return ParsedMoney(pd.Series(_decimal_fen(text), index=index, dtype="int64"),
                           pd.Series(nothing, index=index), pd.Series(nothing.copy(), index=index))
    text, plain, missing = _clean_unusual(text.combine_chunks(), plain.combine_chunks())
    ok = _np_bool(plain)
    fen = _decimal_fen(pc.if_else(plain, text, "0"))
    fen[~ok] = 0
    return ParsedMoney(pd.Series(fen, index=index, dtype="int64"),
                       pd.Series(~ok & ~missing, index=index, dtype=bool),
                       pd.Series(missing, index=index, dtype=bool))


def _clean_unusual(text: pa.Array, plain: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Cells that are not plain amounts: empty, full-width, currency signs, separators,
    trailing zeros, exponents (:func:`settlement.number_text.normalise_numbers`); returns the text
    with those cells rewritten where they became plain, the new plain mask, missing.

    Only an empty (or all-space) cell is missing: ``nan``, ``inf``, ``null`` are not amounts."""
    unusual = pc.invert(plain)
    trimmed = pc.utf8_trim_whitespace(pc.filter(text, unusual))
    is_missing = pc.or_(pc.is_null(trimmed), pc.fill_null(pc.equal(trimmed, ""), True))
    cleaned = pc.replace_substring_regex(normalise_numbers(trimmed), r"^([+-]?\d*\.\d\d)0+$", r"\1")
    sci = pc.fill_null(pc.match_substring_regex(cleaned, "^[^eE]*[0-9.][eE][+-]?[0-9]{1,4}$"), False)
    if pc.any(sci).as_py():  # rare: 1e-05 style reprs of tiny floats; exact through Decimal
        words, flags = cleaned.to_pylist(), sci.to_pylist()
        cleaned = pa.array([_decimal_text(w) if e else w for w, e in zip(words, flags)], type=pa.string())
    good = pc.and_(pc.fill_null(pc.match_substring_regex(cleaned, _PLAIN_RE), False), pc.invert(is_missing))
    where = _np_bool(unusual)
    new_plain = _np_bool(plain)
    new_plain[where] = _np_bool(good)
    missing = np.zeros(len(text), dtype=bool)
    missing[where] = _np_bool(is_missing)
    rewritten = pc.replace_with_mask(text.cast(pa.large_string()), pa.array(where),
                                     cleaned.cast(pa.large_string()))
    return rewritten, pa.array(new_plain), missing


def _decimal_fen(text: pa.Array) -> np.ndarray:
    """Plain amount text → int64 fen, exactly: the unscaled value of decimal128(17, 2).

    decimal128 stores a 128-bit little-endian two's-complement integer per value; amounts
    below 10^17 fen fit the low 64 bits, which read as int64 are the fen.
    """
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    fen = np.empty(len(text), dtype="int64")
    at = 0
    for chunk in chunks:  # chunk by chunk: the 16-byte decimals never exist for the whole column
        decimal = pc.cast(chunk, pa.decimal128(17, 2))
        words = np.frombuffer(decimal.buffers()[1], dtype="<i8")
        fen[at:at + len(decimal)] = words[2 * decimal.offset: 2 * (decimal.offset + len(decimal)): 2]
        at += len(decimal)
    return fen


def _parse_floats(values: pd.Series) -> ParsedMoney:
    """Float cells (Excel, Parquet): x means the decimal its shortest repr shows.

    For |x| < 10^13, repr(x) has at most two decimals exactly when x == k / 100 for
    k = round(x × 100) (IEEE division is correctly rounded), and then repr(x) == k / 100.
    Other cells go through their repr (and are rejected when it has more decimals).
    """
    x = values.to_numpy(dtype="float64")
    missing = np.isnan(x)
    k = np.round(np.where(missing, 0.0, x) * FEN_PER_YUAN)
    exact = ~missing & (np.abs(x) < _FLOAT_EXACT_LIMIT) & (k / FEN_PER_YUAN == x)
    fen = np.where(exact, k, 0).astype("int64")
    invalid = ~missing & ~exact
    if invalid.any():  # huge or more than 2 decimals: decide through the repr, like text
        slow = values[invalid]
        text = pd.Series([repr(float(v)) for v in slow], index=slow.index, dtype="string")
        again = _parse_text(text.str.replace(r"\.0$", "", regex=True))
        fen[invalid] = again.fen.to_numpy()
        invalid[invalid] = again.invalid.to_numpy()
    return ParsedMoney(pd.Series(fen, index=values.index, dtype="int64"),
                       pd.Series(invalid, index=values.index, dtype=bool),
                       pd.Series(missing, index=values.index, dtype=bool))


def _arrow_strings(values: pd.Series) -> pa.ChunkedArray:
    """The cells as Arrow strings (pyarrow-backed columns: the same buffers, no copy)."""
    array = values.astype("string[pyarrow]").array._pa_array
    return array if array.num_chunks else pa.chunked_array([pa.array([], type=array.type)])


def _np_bool(array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _np_int(array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, 0).to_numpy(zero_copy_only=False), dtype="int64")


def _decimal_text(text: str) -> str:
    try:
        return format(Decimal(text), "f")
    except InvalidOperation:
        return text


def format_yuan(fen: pd.Series) -> pd.Series:
    """int64 fen → yuan text with exactly two decimals, by integer arithmetic."""
    arr = fen.to_numpy(dtype="int64")
    absolute = np.abs(arr)
    whole = (absolute // FEN_PER_YUAN).astype(str)
    cents = np.char.zfill((absolute % FEN_PER_YUAN).astype(str), 2)
    sign = np.where(arr < 0, "-", "")
    out = np.char.add(np.char.add(np.char.add(sign, whole), "."), cents)
    return pd.Series(out, index=fen.index, dtype="string")


def yuan_str(fen: int) -> str:
    """One amount of fen as yuan text: ``1234560 -> '12345.60'``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


def yuan_display(fen: int) -> str:
    """Amount for people: thousands separators, ``1234560 -> '12,345.60'``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{cents:02d}"


def to_decimal_yuan(fen: int) -> Decimal:
    """fen → Decimal yuan (for writers that need a number with exactly two decimals)."""
    return Decimal(int(fen)).scaleb(-2)


class NonFiniteAmount(ValueError):
    """A money conversion was asked to round NaN, ±inf or an amount beyond int64 fen."""


MAX_FEN = 2**63 - 1  # int64: ±92,233,720,368,547,758.07 元


def round_fen(yuan: np.ndarray | pd.Series) -> np.ndarray:
    """The one rounding step from float yuan (points × point value …) to int64 fen.

    Half away from zero (四舍五入) on the value in fen. NaN, ±inf and amounts that do not fit
    int64 fen raise :class:`NonFiniteAmount` (a cast would silently give −9,223,372,036,854,775,808).
    """
    fen = np.asarray(yuan, dtype="float64") * FEN_PER_YUAN
    bad = ~(np.abs(fen) < 2.0**63)  # NaN compares False: caught too
    if bad.any():
        first = np.asarray(yuan, dtype="float64")[bad].ravel()[0]
        raise NonFiniteAmount(f"金额不是有限数值或超出范围，无法折算为分 non-finite or overflowing "
                              f"amount: {int(bad.sum())} value(s), e.g. {first!r}")
    return (np.sign(fen) * np.floor(np.abs(fen) + 0.5)).astype("int64")


def fen_of(yuan: Decimal | int | str) -> int:
    """Exact scalar: Decimal yuan → int fen, half away from zero (finite, within int64)."""
    value = _in_range(_finite(Decimal(yuan), "fen_of") * FEN_PER_YUAN, yuan)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def mul_fen(fen: int, factor: Decimal | int | str) -> int:
    """fen × an exact factor (rate, share, count), rounded half away from zero to fen."""
    value = _in_range(Decimal(int(fen)) * _finite(Decimal(factor), "mul_fen"), factor)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def average_fen(total_fen: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Exact per-item average in fen (次均费用): integer division, half away from zero.

    Money ÷ a count stays exact: 100,001 fen over 2 cases is 50,001 fen (500.005 元 → 500.01).
    A zero count gives -1 (callers mask it: no cases, no average).
    """
    total, n = np.asarray(total_fen, dtype="int64"), np.asarray(count, dtype="int64")
    safe = np.where(n > 0, n, 1)
    q, r = np.divmod(np.abs(total), safe)
    q = q + (2 * r >= safe)
    return np.where(n > 0, np.sign(total) * q, -1).astype("int64")


def _finite(value: Decimal, where: str) -> Decimal:
    if not value.is_finite():
        raise NonFiniteAmount(f"金额或系数不是有限数值（{value}），无法折算为分 "
                              f"non-finite value in {where}: {value}")
    return value


def _in_range(fen: Decimal, given) -> Decimal:
    if abs(fen) > MAX_FEN:
        raise NonFiniteAmount(f"金额超出可表示范围（{given}），无法折算为分 amount overflows int64 fen: "
                              f"{given}")
    return fen
