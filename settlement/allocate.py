"""The one allocator (分配器): split an amount of fen among weighted recipients.

Largest-remainder method (最大余数法): each recipient first gets the whole-fen part of its
exact quota ``amount × weight / Σ weight``; the fen still left go one each to the largest
remainders, ties broken by recipient id (ascending). Σ parts == amount, always.

The quotas are computed exactly: weights (int, float or Decimal) are turned into integers
over a common denominator (every float is a fraction with a power-of-two denominator, every
Decimal one with a power of ten), so no rounding error can move a fen. The result does not
depend on the order of the input.

Rules, made explicit:

* zero weight → 0 (unless a floor gives more);
* negative weight → :class:`AllocationError` naming the recipient;
* all weights zero and amount ≠ 0 → :class:`AllocationError`;
* negative amount (an overrun to share) → the allocation of ``-amount``, negated;
* ``floors`` / ``caps`` (whole non-negative fen, per recipient; NaN = none) → water-filling on
  the exact quotas: recipients whose quota breaks a bound are held at it and the rest is
  re-split among the others by weight until every bound holds (floors and caps may be mixed);
  floors above the amount, or caps (plus floors of zero-weight recipients) below it →
  :class:`AllocationError`.

Example: 1 fen among three equal weights goes to the first id.

>>> allocate(1, pd.Series({"B": 1.0, "A": 1.0, "C": 1.0})).to_dict()
{'A': 1, 'B': 0, 'C': 0}
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd


class AllocationError(ValueError):
    """The split cannot be made as asked (negative weight, nothing to weigh, bounds too tight)."""


def allocate(
    amount: int,
    weights: pd.Series,
    floors: pd.Series | None = None,
    caps: pd.Series | None = None,
) -> pd.Series:
    """Split ``amount`` fen by ``weights`` (index = recipient id). Returns int64 fen, id-sorted.

    Weights may be int, float or Decimal; each is taken exactly. ``floors`` / ``caps`` are fen
    per recipient (missing or NaN = no bound). With bounds, the exact quotas are
    ``clamp(λ × weight, floor, cap)`` with λ chosen so they sum to the amount (water-filling);
    only the recipients left free share the fen of the largest remainders, so every bound holds
    after rounding too.
    """
    amount = int(amount)
    ids = [str(i) for i in weights.index]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise AllocationError(f"分配对象重复 duplicate recipients: {dup}")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ids = [ids[i] for i in order]
    values = weights.to_numpy(dtype=object)
    numerators = _exact_integers([values[i] for i in order], ids)
    if amount < 0:  # an overrun to bear: split its magnitude, bounds are magnitudes too
        return -allocate(-amount, weights, floors, caps)
    lo = _aligned(floors, ids, "保底 floor")
    hi = _aligned(caps, ids, "封顶 cap")
    _check_bounds(amount, ids, numerators, lo, hi)
    parts = _bounded_split(amount, ids, numerators, lo, hi)
    return pd.Series(parts, index=ids, dtype="int64")


def _aligned(bounds: pd.Series | None, ids: list[str], what: str) -> list[int | None]:
    """Bounds as a list aligned to ``ids``: int fen, or None where there is no bound."""
    if bounds is None:
        return [None] * len(ids)
    b = pd.Series(bounds.to_numpy(dtype=object), index=[str(i) for i in bounds.index])
    if b.index.has_duplicates:
        raise AllocationError(f"{what}重复 duplicate bounds for {sorted(set(b.index[b.index.duplicated()]))}")
    out: list[int | None] = []
    for rid in ids:
        v = b.get(rid)
        if v is None or pd.isna(v):
            out.append(None)
            continue
        if v != int(v) or v < 0:
            raise AllocationError(f"{what}应为非负整数分 {what} must be whole non-negative fen: {rid}={v}")
        out.append(int(v))
    return out


def _check_bounds(amount: int, ids: list[str], k: list[int], lo: list, hi: list) -> None:
    clash = [i for i, (a, b) in zip(ids, zip(lo, hi)) if a is not None and b is not None and a > b]
    if clash:
        raise AllocationError(f"保底高于封顶 floor above cap for {clash}")
    lo_sum = sum(a for a in lo if a is not None)
    if lo_sum > amount:
        raise AllocationError(f"保底合计 {lo_sum} 分超过待分配金额 {amount} 分 floors exceed amount")
    # the most the recipients can take: a cap, unlimited with a positive weight, else the floor
    most = 0
    for w, a, b in zip(k, lo, hi):
        if b is not None and w > 0:
            most += b
        elif w > 0:
            return
        else:
            most += a or 0
    if most < amount:
        if not any(k) and not any(a for a in lo if a):
            if not ids:
                raise AllocationError(f"无分配对象 nobody to receive {amount} fen")
            raise AllocationError(f"权重合计为 0，无法分配 {amount} 分 all weights are zero")
        raise AllocationError(f"封顶合计（含零权重对象的保底）{most} 分小于待分配金额 {amount} 分 "
                              f"caps below amount")


def _bounded_split(amount: int, ids: list[str], k: list[int], lo: list, hi: list) -> list[int]:
    """Water-filling on exact quotas, then the largest remainder among the free recipients.

    Each round compares the free recipients' exact quotas with their bounds. If the fen above
    caps are at least the fen below floors, the final λ is no smaller than this round's, so every
    recipient above its cap ends at its cap; otherwise every recipient below its floor ends at
    its floor. Fix that side, re-split the rest, repeat (at most one round per recipient).
    """
    fixed: dict[int, int] = {}
    free = list(range(len(ids)))
    while True:
        rest = amount - sum(fixed.values())
        total = sum(k[i] for i in free)
        scale = total if total > 0 else 1  # quotas compared as rest × k_i against bound × total
        quota = {i: (rest * k[i] if total > 0 else 0) for i in free}
        below = {i: lo[i] * scale - quota[i] for i in free
                 if lo[i] is not None and quota[i] < lo[i] * scale}
        above = {i: quota[i] - hi[i] * scale for i in free
                 if hi[i] is not None and quota[i] > hi[i] * scale}
        if not below and not above:
            break
        if sum(above.values()) >= sum(below.values()):
            fixed.update({i: hi[i] for i in above})
        else:
            fixed.update({i: lo[i] for i in below})
        free = [i for i in free if i not in fixed]
    parts = [0] * len(ids)
    for i, value in fixed.items():
        parts[i] = value
    for i, value in zip(free, _largest_remainder(rest, [ids[i] for i in free], [k[i] for i in free])):
        parts[i] = value
    return parts


def _largest_remainder(amount: int, ids: list[str], k: list[int]) -> list[int]:
    if len(ids) == 0:
        if amount != 0:
            raise AllocationError(f"无分配对象 nobody to receive {amount} fen")
        return []
    total = sum(k)
    if total == 0:
        if amount != 0:
            raise AllocationError(f"权重合计为 0，无法分配 {amount} 分 all weights are zero")
        return [0] * len(ids)
    shares, remainders = zip(*(divmod(amount * n, total) for n in k))
    shares = list(shares)
    left = amount - sum(shares)
    order = sorted(range(len(ids)), key=lambda i: (-remainders[i], ids[i]))
    for i in order[:left]:
        shares[i] += 1
    return shares


def _exact_integers(values: list, ids: list[str]) -> list[int]:
    """Weights → integers in the same exact proportion (common denominator of their fractions).

    Floats are fractions with a power-of-two denominator, Decimals with a power of ten, ints
    with 1: nothing is rounded, so no rounding error can move a fen.
    """
    fractions = []
    for rid, v in zip(ids, values):
        try:
            if isinstance(v, (bool, np.bool_)):
                raise TypeError("boolean weight")
            if isinstance(v, (int, np.integer)):
                f = Fraction(int(v))  # numpy ints would keep int64 numerators and overflow
            elif isinstance(v, (float, np.floating)):
                f = Fraction(float(v))
            else:
                f = Fraction(v)
                f = Fraction(int(f.numerator), int(f.denominator))
        except (TypeError, ValueError, OverflowError, ArithmeticError):
            raise AllocationError(f"权重缺失或无效 missing/invalid weight for {[rid]}: {v!r}") from None
        if f < 0:
            raise AllocationError(f"权重为负 negative weight for {[rid]}")
        fractions.append(f)
    denominator = math.lcm(*(f.denominator for f in fractions)) if fractions else 1
    return [f.numerator * (denominator // f.denominator) for f in fractions]


def share_floor(amount: int, share) -> int:
    """The fen a floor of ``share`` × ``amount`` guarantees: rounded toward the floor (up).

    A floor is a floor: villages ≥ 18 % of 1,000.01 元 (100,001 fen) is 18,000.18 fen, so the
    villages get at least 18,001 fen — never 18,000, one fen short. For a negative amount (an
    overrun to bear) the floor is of its magnitude, as :func:`allocate` takes its bounds.
    """
    exact = Fraction(abs(int(amount))) * Fraction(str(share))
    return -((-exact.numerator) // exact.denominator)  # ceil, exact


def allocate_frame(amount: int, frame: pd.DataFrame, id_col: str, weight_col: str,
                   floor_col: str | None = None, cap_col: str | None = None) -> pd.Series:
    """:func:`allocate` over a frame's columns; returns parts aligned to the frame's rows."""
    ids = frame[id_col].astype(str)
    parts = allocate(
        amount,
        pd.Series(frame[weight_col].to_numpy(), index=ids),
        None if floor_col is None else pd.Series(frame[floor_col].to_numpy(), index=ids),
        None if cap_col is None else pd.Series(frame[cap_col].to_numpy(), index=ids),
    )
    return pd.Series(parts.reindex(ids).to_numpy(), index=frame.index, dtype="int64")
