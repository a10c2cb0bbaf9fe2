"""Numbers as Chinese spreadsheets write them (数值文本): one normal form, then exact parsing.

Exports from Excel/WPS and bureau systems write the same number in many ways. Cells that are
not plain ASCII numbers (nearly every cell is: those take the fast path and never come here)
are rewritten to one normal form by vectorised Arrow string functions::

    "１２３４．５６"  →  "1234.56"      full-width digits and punctuation (NFKC)
    "－５", "−5"      →  "-5"           full-width / typographic minus
    "￥1,234元"       →  "1234"         currency signs, 元, thousands separators in groups of 3
    "(1,234.00)"     →  "-1234.00"     accounting negative
    ".5"             →  "0.5"

A separator that is not a thousands separator (``1234,56``, ``1,2,3``) is *not* removed: the
cell stays invalid instead of silently becoming another number. :func:`invalid_reasons` says
why a cell is still not a number (non-finite, overflow, too many decimals, scientific
notation in an integer) for the Chinese message, also vectorised, on the failing cells only.

>>> normalise_numbers(pa.array(["１，２３４．５", "(7.00)", "1234,56"])).to_pylist()
['1234.5', '-7.00', '1234,56']
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INT64_MAX = 2**63 - 1
FLOAT_MAX = float(np.finfo(np.float64).max)
MONEY_LIMIT_YUAN = 10**15  # amounts below 10^15 yuan fit decimal128(17, 2) and int64 fen
#: cells that are not finite numbers: NaN and infinity in their spellings, Excel error values
NONFINITE_WORDS = frozenset({
    "nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "∞", "-∞",
    "#num!", "#div/0!", "#value!", "#n/a", "#ref!", "#name?", "#null!", "#nan", "#inf"})
_GROUPED = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"


def normalise_numbers(cells: pa.Array) -> pa.Array:
    """Rewrite unusual number text to its normal form (see the module docstring)."""
    text = pc.utf8_normalize(pc.fill_null(cells, ""), "NFKC")
    text = pc.replace_substring(text, "\u2212", "-")
    text = pc.replace_substring_regex(text, r"^\s*(?i:人民币|rmb|cny)", "")
    text = pc.replace_substring_regex(text, r"[¥$元\s]", "")
    text = pc.replace_substring_regex(text, r"^\((.*)\)$", r"-\1")
    text = pc.replace_substring_regex(text, r"^([+-]?)\.(\d)", r"\10.\2")
    grouped = pc.fill_null(pc.match_substring_regex(text, _GROUPED), False)
    return pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)


def _np(array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_SCIENTIFIC = r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$"
_LIMIT = {"money": float(MONEY_LIMIT_YUAN), "int": 2.0**63, "float": FLOAT_MAX}


def invalid_reasons(cells: pa.Array, kind: str) -> np.ndarray:
    """Why each cell is not a valid ``kind`` (money | int | float) number, vectorised.

    ``nonfinite`` (NaN, ±inf, an Excel error value such as #DIV/0!), ``overflow`` (finite but
    beyond what the engine holds: 10^15 yuan, int64, float64), ``decimals`` (money with more
    than 2 decimals), ``fraction`` (an integer column with decimals), ``scientific`` (an integer
    written in E-notation) or ``format``. Call it on the failing cells only.
    """
    text = normalise_numbers(cells)
    lowered = pc.utf8_lower(text)
    nonfinite = _np(pc.or_(pc.is_in(lowered, value_set=pa.array(sorted(NONFINITE_WORDS))),
                           pc.starts_with(text, "#")))
    number = _np(pc.match_substring_regex(text, _NUMBER))
    scientific = _np(pc.match_substring_regex(text, _SCIENTIFIC))
    numeric = number | scientific
    magnitude = np.abs(pc.cast(pc.if_else(pa.array(numeric), text, "0"), pa.float64()).to_numpy(
        zero_copy_only=False))
    reason = np.full(len(text), "format", dtype=object)
    fraction = _np(pc.match_substring_regex(text, r"\.\d*[1-9]"))
    if kind == "money":
        reason[number & _np(pc.match_substring_regex(text, r"\.\d\d\d*[1-9]"))] = "decimals"
    elif kind == "int":
        reason[scientific] = "scientific"
        reason[number & fraction] = "fraction"
    reason[numeric & ~(magnitude < _LIMIT[kind])] = "overflow"
    reason[nonfinite] = "nonfinite"
    return reason


def exact_int(cell: str) -> int | None:
    """A normalised integer cell (``"30000"``, ``"30000.00"``) as int, or None when it is not a
    whole number within int64 (written in plain digits)."""
    try:
        value = Decimal(cell)
    except InvalidOperation:
        return None
    if not value.is_finite() or "e" in cell.lower() or value != value.to_integral_value():
        return None
    return int(value) if abs(value) <= INT64_MAX else None
