"""Result tables as CSV (``reports/<run_id>/results/*.csv``), money as yuan with two decimals.

The contract tables (CONTRACT.md "Outputs of a run") are written with exactly the columns the
database stores (contract columns + ``explanation``, ``unit_statement.payer``), so a CSV and
the database agree row for row; the supporting tables (the DIP ledger, per-fund balances, the
bureau view, the checks) are written whole. Money is known by column kind, never guessed from a dtype: the contract's
kinds come from :data:`settlement.store.tables.RESULT_SPECS`, the supporting tables' money
columns are listed below. Text that starts with ``=``, ``+``, ``-``, ``@``, tab or CR (a unit
named ``=HYPERLINK(…)``) is written with a leading ``'`` (OWASP CSV injection); money columns
are never touched, so ``-12.50`` stays a number. No run id and no timestamp appear in a file, so the same inputs and
config give identical bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.money import format_yuan
from settlement.store.tables import RESULT_SPECS

SUPPORTING_MONEY: dict[str, tuple[str, ...]] = {
    "dip_ledger": ("amount",),
    "unit_funds": ("entitlement", "prepaid", "balance"),
    "bureau_units": ("dip", "package", "chronic", "public_health", "paid_by_fund",
                     "paid_by_community", "paid_by_health_commission", "net", "total"),
    "community_flows": tuple(),  # every column but the id
    "reconciliation_checks": ("left", "right"),
    "public_health_pools": ("gross", "reserved", "amount", "allocated", "unallocated"),
    "public_health_plan": ("quarter_pool", "planned", "prepaid", "difference"),  # issue 10.5
    "chronic_units": ("surplus_share", "overrun_share", "net"),
    "expenditure": tuple(),  # filled below: every expenditure_* column
    "bureau_communities": tuple(),  # every column but ids and names
    # issue 11 (H6): claims audit and package lines
    "claims_audit_totals": ("overpaid", "underpaid", "difference"),
    "family_doctor_fees": ("amount",),
    "dual_targets": ("retained_before", "retained_after", "returned"),
    "village_guarantee": ("guarantee", "guaranteed", "settlement_income", "family_doctor_fees",
                          "subsidy"),
}
_TEXT = {"community_id", "community_name", "unit_id", "unit_name"}


def money_columns(name: str, frame: pd.DataFrame) -> list[str]:
    if name in RESULT_SPECS:
        return [c for c, kind in RESULT_SPECS[name].columns if kind == "money" and c in frame]
    if name == "expenditure":
        return [c for c in frame.columns if c.startswith("expenditure")]
    if name in ("bureau_communities", "community_flows"):
        return [c for c in frame.columns if c not in _TEXT]
    return [c for c in SUPPORTING_MONEY.get(name, ()) if c in frame]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: cells Excel would run
#: the same starts as one regular expression (one pass over a column instead of six)
_FORMULA_START_RE = "^[" + "".join("\\-" if c == "-" else c for c in FORMULA_START) + "]"


def escape_formula(values: pd.Series) -> pd.Series:
    """Text cells starting with = + - @ (or tab / CR) get a leading ``'`` so Excel shows them
    as text and never evaluates them (OWASP "CSV injection"); other cells are unchanged."""
    text = values.astype("string")
    risky = text.str.startswith(FORMULA_START).fillna(False).astype(bool)
    if not risky.any():
        return values
    return values.astype(object).where(~risky, "'" + text.astype(object))


def csv_frame(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as written: the stored columns for contract tables, yuan text for money,
    text that could run as a formula escaped (amounts stay plain numbers)."""
    if name in RESULT_SPECS:
        frame = frame[[c for c in RESULT_SPECS[name].column_names if c in frame.columns]]
    out = frame.copy()
    money = money_columns(name, out)
    for column in out.columns:
        if column not in money and (pd.api.types.is_string_dtype(out[column])
                                    or out[column].dtype == object):
            out[column] = escape_formula(out[column])
    for column in money if len(out) else ():  # an empty table has nothing to format
        values = out[column]
        text = format_yuan(values.fillna(0).astype("int64"))
        out[column] = text.where(values.notna(), "")
    return out


def write_results(results_dir: Path, tables: Mapping[str, pd.DataFrame],
                  names: list[str]) -> dict[str, Path]:
    """Write the named tables as UTF-8 CSV (with BOM, so Excel opens Chinese correctly)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        if name not in tables:
            continue
        path = results_dir / f"{name}.csv"
        write_table(path, name, tables[name])
        paths[name] = path
    return paths


#: rows of a table formatted at a time (:func:`write_table`): a slice's text is ≈ 10 MB for
#: the case list, where the whole list's was ≈ 270 MB on top of the frame (scale 10, 726 k rows)
SLICE_ROWS = 50_000


def write_table(path: Path, name: str, frame: pd.DataFrame, rows: int = SLICE_ROWS) -> None:
    """``name``'s CSV (:func:`csv_columns`, :func:`write_csv`) formatted ``rows`` rows at a time,
    so that the text of a long table (the case list, the audit listing) is never held whole;
    the bytes are those of the whole table at once: every rule is per cell, but for the one
    that looks at a whole column — dates written with their time when any cell has one —,
    whose text is made for the whole column first."""
    if name in RESULT_SPECS:
        frame = frame[[c for c in RESULT_SPECS[name].column_names if c in frame.columns]]
    dated = {c: csv_text(frame[c]) for c in frame.columns
             if pd.api.types.is_datetime64_any_dtype(frame[c].dtype)}
    names = list(frame.columns)
    with open(path, "wb") as out:
        out.write(_header(names))
        for begin in range(0, len(frame), rows):
            part = frame.iloc[begin:begin + rows]
            written = {c: a.slice(begin, rows) for c, a in dated.items()}
            _write_lines(out, csv_columns(name, part, written))


def csv_columns(name: str, frame: pd.DataFrame,
                written: Mapping[str, pa.Array] | None = None) -> dict[str, pa.Array]:
    """The columns as written (:func:`csv_frame`'s rule) as Arrow text, null = an empty cell:
    stored columns only for contract tables, money as yuan text, text that could run as a
    formula escaped. ``written``: columns whose text is already made (not escaped yet)."""
    if name in RESULT_SPECS:
        frame = frame[[c for c in RESULT_SPECS[name].column_names if c in frame.columns]]
    money = set(money_columns(name, frame))
    written = written or {}
    out = {}
    for column in frame.columns:
        values = frame[column]
        if column in written:
            out[column] = _escaped(written[column]) if _is_text(values) else written[column]
        elif column in money:
            out[column] = yuan_text(values)
        elif _is_text(values):
            out[column] = _escaped(csv_text(values))
        else:
            out[column] = csv_text(values)
    return out


def yuan_text(fen: pd.Series) -> pa.Array:
    """int64 fen → yuan with exactly two decimals (``-1250 → "-12.50"``), null stays null:
    the digits of |fen| padded to three, a point before the last two, the sign."""
    arr = _int64(fen)
    digits = pc.utf8_lpad(pc.cast(pc.abs(arr), pa.string()), width=3, padding="0")
    text = pc.binary_join_element_wise(pc.utf8_slice_codeunits(digits, 0, -2),
                                       pc.utf8_slice_codeunits(digits, -2, 2**31 - 1), ".")
    return pc.if_else(pc.less(arr, 0), pc.binary_join_element_wise("-", text, ""), text)


def _int64(values: pd.Series) -> pa.Array:
    if values.dtype == np.int64:
        return pa.array(values.to_numpy())
    return pa.array(values.astype("Int64"), type=pa.int64())


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values) or values.dtype == object


def escaped_text(values: pd.Series) -> pa.Array:
    """A text column as written: formula-like text escaped (:func:`escape_formula`'s rule)."""
    return _escaped(csv_text(values))


def _per_value(function):
    """``function`` applied to a dictionary array's dictionary (its few distinct values)."""
    def apply(text: pa.Array) -> pa.Array:
        text = _array(text)
        if pa.types.is_dictionary(text.type):
            return pa.DictionaryArray.from_arrays(text.indices, function(text.dictionary))
        return function(text)
    apply.__doc__ = function.__doc__
    return apply


@_per_value
def _escaped(text: pa.Array) -> pa.Array:
    """A leading ``'`` before text that starts like a formula (:data:`FORMULA_START`)."""
    risky = pc.fill_null(pc.match_substring_regex(text, _FORMULA_START_RE), False)  # one pass
    return pc.if_else(risky, pc.binary_join_element_wise("'", text, ""), text)


def csv_text(values: pd.Series) -> pa.Array:
    """A column as pandas ``to_csv`` writes it (True/False, repr of floats, ISO dates); each
    distinct value is formatted once."""
    dtype = values.dtype
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(_int64(values), pa.string())
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = pd.to_datetime(values)
        dated = (stamps.dropna() == stamps.dropna().dt.normalize()).all()
        texts = stamps.dt.strftime("%Y-%m-%d" if dated else "%Y-%m-%d %H:%M:%S")
        return pa.array(texts.astype(object).tolist(), type=pa.string(), mask=stamps.isna().to_numpy())
    if isinstance(dtype, pd.StringDtype):
        return pa.array(values, type=pa.string())
    if pd.api.types.is_float_dtype(dtype):
        return float_text(values.to_numpy(dtype="float64", na_value=np.nan))
    if isinstance(dtype, pd.CategoricalDtype):  # the categories formatted, escaped, quoted once
        shown = _array(csv_text(pd.Series(dtype.categories)))
        codes = values.cat.codes.to_numpy()
        return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32(), mask=codes < 0),
                                              shown)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if pd.api.types.is_bool_dtype(uniques.dtype):
        shown = ["True" if v else "False" for v in uniques]
    else:
        shown = [str(v) for v in uniques]
    return pc.take(pa.array(shown, type=pa.string()),
                   pa.array(codes, type=pa.int64(), mask=codes < 0))


def float_text(values: np.ndarray) -> pa.Array:
    """``repr`` of each float (NaN → null): Arrow's shortest round-trip digits where ``repr``
    writes the same fixed notation (1e-4 ≤ |x| < 1e16, ``.0`` added to whole numbers),
    ``repr`` itself for the rest (1e-05, 1e+16)."""
    arrow = pc.cast(pa.array(values, from_pandas=True), pa.string())
    size = np.abs(values)
    plain = ((size >= 1e-4) & (size < 1e16)) | (values == 0)
    plain &= ~pc.fill_null(pc.match_substring(arrow, "e"), True).to_numpy(zero_copy_only=False)
    fixed = pc.if_else(pc.match_substring(arrow, "."), arrow,
                       pc.binary_join_element_wise(arrow, ".0", ""))
    rest = np.flatnonzero(~plain & ~np.isnan(values))
    if not len(rest):
        return fixed
    texts = fixed.to_pylist()
    for i in rest:
        texts[i] = repr(float(values[i]))
    return pa.array(texts, type=pa.string())


QUOTE_WHEN = ('"', ",", "\n")  # pandas' rule: csv.QUOTE_MINIMAL with lineterminator "\n"
_QUOTE_WHEN_RE = "[" + "".join(QUOTE_WHEN) + "]"


@_per_value
def _quoted(text: pa.Array) -> pa.Array:
    needs = pc.fill_null(pc.match_substring_regex(text, _QUOTE_WHEN_RE), False)  # one pass
    if not pc.any(needs).as_py():
        return text
    doubled = pc.replace_substring(text, '"', '""')
    return pc.if_else(needs, pc.binary_join_element_wise('"', doubled, '"', ""), text)


def write_csv(path: Path, columns: Mapping[str, pa.Array], chunk: int = 200_000) -> None:
    """UTF-8 CSV with BOM, ``\n`` line ends, quoted only where needed: the bytes
    ``DataFrame.to_csv(index=False, encoding="utf-8-sig", lineterminator="\n")`` writes,
    assembled by Arrow (pandas' writer is ≈ 10× slower on a million-row case list)."""
    with open(path, "wb") as out:
        out.write(_header(list(columns)))
        _write_lines(out, columns, chunk)


def _header(names: list[str]) -> bytes:
    """The BOM and the header line."""
    return ("\ufeff" + ",".join(_quoted(pa.array(names, type=pa.string())).to_pylist())
            + "\n").encode("utf-8")


def _write_lines(out, columns: Mapping[str, pa.Array], chunk: int = 200_000) -> None:
    """The rows of ``columns`` (text, null = empty), one line each, quoted where needed."""
    quoted = [_decoded(_quoted(values)) for values in columns.values()]
    rows = len(quoted[0]) if quoted else 0
    for begin in range(0, rows, chunk):
        parts = [q.slice(begin, chunk) for q in quoted]
        lines = pc.binary_join_element_wise(*parts, ",", null_handling="replace",
                                            null_replacement="")
        if len(quoted) == 1:  # csv writes a row of one empty field as ""
            lines = pc.if_else(pc.equal(lines, ""), '""', lines)
        out.write(_buffer(pc.binary_join_element_wise(lines, "\n", "")))


def _decoded(text: pa.Array) -> pa.Array:
    return text.dictionary_decode() if pa.types.is_dictionary(text.type) else text


def _array(values) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _buffer(lines: pa.Array) -> bytes:
    """The bytes of a string array's values one after the other (each line ends in \n)."""
    lines = _array(lines)
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    return lines.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
