"""Shared helpers of the sample generator: seeded streams, the year's calendar, ids, a Table.

Determinism: every module draws from its own named stream, ``stream(seed, "cases")``,
a ``numpy.random.Generator(PCG64)`` seeded from ``(seed, crc32(name))``. Streams are
independent of each other and of the scale for the structural tables, so the unit list
of seed 7 is the same at scale 0.01 and at scale 10.

A :class:`Table` is a table in memory: columns in contract order, each with its kind
(``id``/``text``/``money``/``date``/``bool``/``int``/``float``). Money columns hold int64
fen, dates ``datetime64[D]``, missing values ``None`` (small tables) or a null mask.

>>> ids("T", np.array([1, 20]), 3).to_pylist()
['T001', 'T020']
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

YEAR = 2025
YEAR_START = np.datetime64(f"{YEAR}-01-01", "D")
YEAR_END = np.datetime64(f"{YEAR}-12-31", "D")
DAYS_IN_YEAR = int((YEAR_END - YEAR_START).astype(int)) + 1
LEVELS = ("tertiary", "secondary", "primary")
PERSONS_PER_COMMUNITY = 10**8  # person code = (community position + 1) × 10^8 + index

#: relative activity by month (winter peaks), used to spread dates over the year
MONTH_WEIGHTS = np.array([1.10, 0.92, 1.00, 0.96, 0.95, 0.92, 0.95, 0.96, 0.96, 1.00, 1.06, 1.14])


def stream(seed: int, name: str) -> np.random.Generator:
    """The named random stream of a generator step (independent of the other steps)."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), key])))


def day_weights() -> np.ndarray:
    """Probability of each day of the year (365 values) under the monthly seasonality."""
    days = np.arange(YEAR_START, YEAR_END + 1, dtype="datetime64[D]")
    month = days.astype("datetime64[M]").astype(int) % 12
    weights = MONTH_WEIGHTS[month]
    return weights / weights.sum()


def random_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """n dates of the settlement year, seasonal."""
    offsets = rng.choice(DAYS_IN_YEAR, size=n, p=day_weights())
    return YEAR_START + offsets.astype("timedelta64[D]")


def month_index(dates: np.ndarray) -> np.ndarray:
    """0..11: month of each date of the settlement year."""
    return dates.astype("datetime64[M]").astype(int) % 12


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Vectorised ``f"{prefix}{n:0{width}d}"`` as an Arrow string array."""
    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()),
                        width=width, padding="0")
    if not prefix:
        return text
    return pc.binary_join_element_wise(pa.scalar(prefix), text, "")


def person_ids(codes: np.ndarray) -> pa.Array:
    """Person ids ``P`` + code, e.g. 100000042 → ``P100000042`` (person 42 of GT01)."""
    return ids("P", codes, 9)


def take(values: list[str] | pa.Array, index: np.ndarray, null: np.ndarray | None = None
         ) -> pa.Array:
    """values[index] as Arrow strings; rows where ``null`` is true are null."""
    mask = None if null is None else np.asarray(null, dtype=bool)
    return pc.take(pa.array(values, type=pa.string()),
                   pa.array(np.asarray(index, dtype=np.int64), mask=mask))


def split_counts(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights`` (largest remainder)."""
    weights = np.asarray(weights, dtype=np.float64)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    order = np.lexsort((np.arange(len(exact)), -(exact - counts)))
    counts[order[:short]] += 1
    return counts


def to_fen(yuan: np.ndarray) -> np.ndarray:
    """Float yuan → int64 fen, half away from zero (only used while generating)."""
    fen = np.asarray(yuan, dtype=np.float64) * 100.0
    return (np.sign(fen) * np.floor(np.abs(fen) + 0.5)).astype(np.int64)


def whole_yuan(fen: np.ndarray) -> np.ndarray:
    """Round fen to whole yuan (payments are made in whole yuan)."""
    return (np.asarray(fen, dtype=np.int64) + 50) // 100 * 100


@dataclass
class Table:
    """An output table: ordered columns and the kind of each."""

    name: str
    columns: dict[str, object] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, kind: str, values: object) -> "Table":
        self.columns[name] = values
        self.kinds[name] = kind
        return self

    @property
    def rows(self) -> int:
        first = next(iter(self.columns.values()))
        return len(first)
