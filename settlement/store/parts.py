"""A result table given in parts (分批保存): stored part by part inside the one save transaction.

A region run's result tables are every county's tables one after the other (≈ 9 M ``dip_cases``
rows for a province): the caller never holds them whole. It hands
:meth:`~settlement.store.runs.RunStore.save_results` a :class:`TableParts` instead of a
DataFrame: an empty frame with the parts' columns and dtypes (checked before the transaction,
as a frame is) and a function that yields the parts, read one at a time inside the transaction.
``row_no`` runs on across the parts, so the stored rows are exactly those of the parts
concatenated. Every part is checked again as it is inserted; a part that does not fit, or a
failure while the parts are read, rolls the whole save back (nothing of the run is stored).

Example::

    TableParts(first.iloc[:0], lambda: (pd.read_parquet(f) for f in county_files))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import pandas as pd


@dataclass(frozen=True)
class TableParts:
    """``empty``: a zero-row frame with the parts' columns and dtypes; ``read()``: the parts."""

    empty: pd.DataFrame
    read: Callable[[], Iterable[pd.DataFrame]]


def shape_of(table: "pd.DataFrame | TableParts") -> pd.DataFrame:
    """What the checks before the transaction look at: the frame, or the parts' empty frame."""
    return table.empty if isinstance(table, TableParts) else table
