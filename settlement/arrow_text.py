"""Arrow text columns (文本列): which arrays are text, typed columns as text, trimming cheaply.

* :func:`is_text` — ``string`` or ``large_string``;
* :func:`as_text` — a typed column as the text a file would hold (dates ISO ``2025-01-28``,
  booleans ``true``/``false``, numbers their exact digits), for the text parse path;
* :func:`trimmed` — cells without leading or trailing white space, the trim skipped for the
  columns that need none (most: ids, codes, ISO dates), found by a look at each cell's first
  and last byte;
* :func:`has_control` — whether any cell holds an ASCII control character (not TAB, LF, CR),
  by a look at the bytes (in UTF-8 those bytes are never part of another character).

>>> trimmed(pa.chunked_array([["01001", " 01002\u3000"]])).to_pylist()
['01001', '01002']
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A typed column as the text a file would hold: dates ISO, booleans true/false, numbers
    their exact digits (decimals as written, floats their shortest repr)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return pc.strftime(column.cast(pa.timestamp("s")) if pa.types.is_date(kind) else column, format="%Y-%m-%d")
    if is_text(kind):
        return column
    return column.cast(pa.string())


_TRIM_CANDIDATE = np.zeros(256, dtype=bool)
_TRIM_CANDIDATE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True
_TRIM_CANDIDATE[0x80:] = True  # a non-ASCII first or last character may be a wide space (U+3000)


def trimmed(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cells without leading or trailing white space (Unicode's, full-width included).

    Most columns (ids, codes, ISO dates) have none: a look at each cell's first and last
    byte (numpy over Arrow's buffers) shows that, and only other columns are trimmed."""
    return arr if not _may_need_trim(arr) else pc.utf8_trim_whitespace(arr)


def cell_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a text array's cells, no copy: cell ``i`` is ``body[at[i]:at[i+1]]``."""
    _, offsets, data = chunk.buffers()
    kind = "<i8" if pa.types.is_large_string(chunk.type) else "<i4"
    at = np.frombuffer(offsets, dtype=kind)[chunk.offset: chunk.offset + len(chunk) + 1] if len(chunk) \
        else np.zeros(1, dtype=kind)
    body = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return at - at[0], body[at[0]:at[-1]]


def _may_need_trim(arr: pa.ChunkedArray) -> bool:
    for chunk in arr.chunks:
        at, body = cell_bytes(chunk)
        nonempty = at[1:] > at[:-1]
        if not nonempty.any():
            continue
        if _TRIM_CANDIDATE[body[at[:-1][nonempty]]].any() or _TRIM_CANDIDATE[body[at[1:][nonempty] - 1]].any():
            return True
    return False


#: the control characters the cell rules report (cells._CONTROL): 01–08, 0B, 0C, 0E–1F, 7F
CONTROL_BYTE = np.zeros(256, dtype=bool)
CONTROL_BYTE[[*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]] = True


def has_control(arr: pa.ChunkedArray) -> bool:
    """Whether a cell holds a control character of :data:`CONTROL_BYTE` (numpy over Arrow's
    buffers: ~50× a regular expression over every cell)."""
    for chunk in arr.chunks:
        _, body = cell_bytes(chunk)
        low = (body < 0x20) | (body == 0x7F)
        if low.any() and CONTROL_BYTE[body[low]].any():
            return True
    return False
