"""Why each case got its points (病例分值说明), in Chinese, built column-wise.

Two levels of detail, both read from a ``dip_cases`` frame:

* :func:`explain_rules` — the rule the case fell under, with the parameter values (class,
  bounds, formula, coefficient and its source), as a categorical column: a handful of distinct
  sentences for a million cases, built in milliseconds. The case's own ratio, score,
  coefficient and points stand in the same row::

    费用偏高病例（倍率 > 2.0）：分值 = 病种分值 × (倍率 − 2.0 + 1) × 等级系数（三级）1.0

* :func:`explain_cases` — one sentence per case with its own numbers (for statements and case
  lists; ~300 bytes of text per case), e.g.::

    费用偏高病例：倍率 2.5 > 2.0，分值 = 病种分值 500 × (倍率 2.5 − 2.0 + 1) × 等级系数（三级）1.0 = 750 分
    正常病例：倍率 0.9（0.5 ≤ 倍率 ≤ 2.0），分值 = 病种分值 500 × 基层病种系数 1 = 500 分
    未入组病例：不计分值，按即时结算基金支付 3000.00 元结算

The sentences are assembled with Arrow string kernels, one template per kind of case applied
to that kind's rows only (no Python loop over cases), so writers can also call it on one
unit's cases. Numbers are shown as stored (ratio rounded to 4 decimals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.params import DipParams
from settlement.dip.scoring import (
    AT_COST, BY_BASIC, BY_UNIT, CLASS_ZH, HIGH, LEVEL_ZH, LOW, NORMAL,
    REASONS, SPECIAL, Bounds, active_bounds, payment_method,
)

EXCLUDED_KIND = 10  # kinds 10 + reason code: excluded cases; kind 5: unmatched paid at cost
KINDS = 16  # rule keys: class 0–3, 5 at cost, 5 + reason (excluded) < 16


def _num(values: np.ndarray, decimals: int | None = None) -> pa.Array:
    arr = pa.array(values, type=pa.float64())
    return pc.cast(pc.round(arr, decimals) if decimals is not None else arr, pa.string())


def _num_few(values: np.ndarray) -> pa.Array:
    """Format a column with few distinct values (scores): format the uniques, then take."""
    codes, uniques = pd.factorize(values)
    return _num(np.asarray(uniques, dtype="float64")).take(pa.array(codes))


def _yuan(fen: np.ndarray) -> pa.Array:
    whole = pc.cast(pa.array(fen // 100), pa.string())
    cents = pc.utf8_lpad(pc.cast(pa.array(fen % 100), pa.string()), width=2, padding="0")
    return pc.binary_join_element_wise(whole, ".", cents, "")


def case_kinds(dip_cases: pd.DataFrame) -> np.ndarray:
    """Class code 0–4; 5 = unmatched paid at cost; 10 + reason = excluded."""
    kind = dip_cases["case_class"].cat.codes.to_numpy().astype("int16")
    kind[dip_cases["settlement"].cat.codes.to_numpy() == AT_COST] = 5
    reason = dip_cases["excluded_reason"].cat.codes.to_numpy()
    kind[reason > 0] = EXCLUDED_KIND + reason[reason > 0]
    return kind


def explain_cases(dip_cases: pd.DataFrame, params: DipParams) -> pd.Series:
    """One Chinese sentence per row of ``dip_cases`` (same index)."""
    kind = case_kinds(dip_cases)
    present = np.unique(kind)
    positions = [np.flatnonzero(kind == k) for k in present]
    pieces = [_kind_text(int(k), rows, dip_cases, params) for k, rows in zip(present, positions)]
    text = pa.concat_arrays(pieces) if pieces else pa.array([], pa.string())
    order = np.concatenate(positions) if positions else np.zeros(0, dtype="int64")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return pd.Series(pd.arrays.ArrowStringArray(text.take(pa.array(inverse))),
                     index=dip_cases.index, name="explanation")


def explain_rules(dip_cases: pd.DataFrame, params: DipParams) -> pd.Categorical:
    """The rule sentence of every row, as a categorical (one category per distinct rule).

    Each row gets an integer rule key ((coefficient source, kind, review) × coefficient: the
    level, or the unit's own coefficient); the distinct keys are found with a bincount and each
    is turned into its sentence once.
    """
    source = dip_cases["coefficient_source"].cat.codes.to_numpy()
    levels = list(dip_cases["level"].cat.categories)
    by_unit = np.flatnonzero(source == BY_UNIT)
    override, unit_values = pd.factorize(dip_cases["coefficient"].to_numpy()[by_unit], sort=True)
    n_coef = len(levels) + 1 + len(unit_values)
    key = source.astype("int32")  # ((source × KINDS + kind) × 2 + review) × n_coef + coef
    key *= KINDS
    key += dip_cases["case_class"].cat.codes.to_numpy()
    not_scored = np.flatnonzero(dip_cases["settlement"].cat.codes.to_numpy() != 0)
    key[not_scored] += _kind_offsets(dip_cases, not_scored)  # at cost 5, excluded 5 + reason
    key *= 2
    key += dip_cases["review_flag"].to_numpy()
    key *= n_coef
    level = dip_cases["level"].cat.codes.to_numpy()  # the level coefficient, −1 = none
    coef = np.where(level < 0, len(levels), level).astype("int32")
    coef[by_unit] = len(levels) + 1 + override  # the unit's own coefficient
    key += coef
    codes, present = _distinct(key)
    labels = levels + [None] + list(unit_values)
    texts = [_rule_text(int(k), n_coef, labels, params) for k in present]
    text_codes, categories = pd.factorize(pd.Series(texts, dtype=object))
    return pd.Categorical.from_codes(text_codes[codes], categories, validate=False)


def _kind_offsets(dip_cases: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Added to the class code (unmatched = 4) of non-scored rows: → 5 at cost, 5 + reason."""
    reason = dip_cases["excluded_reason"].cat.codes.to_numpy()[rows]
    return np.where(reason > 0, 1 + reason, 1)


def _distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct keys): a bincount when the keys are small, else a hash factorize."""
    if len(key) == 0 or key.max() > 50_000_000:
        codes, uniques = pd.factorize(key)
        return codes, np.asarray(uniques)
    present = np.flatnonzero(np.bincount(key))
    slot = np.zeros(present[-1] + 1, dtype="int64")
    slot[present] = np.arange(len(present))
    return slot[key], present


def _rule_text(key: int, n_coef: int, labels: list, params: DipParams) -> str:
    """Decode one rule key (see :func:`explain_rules`) into its sentence."""
    key, coef = divmod(key, n_coef)
    key, review = divmod(key, 2)
    source, kind = divmod(key, KINDS)
    if kind >= 5:
        reason = kind - 5
        return (f"{CLASS_ZH['unmatched']}：不予结算（{REASONS[reason]}）" if reason
                else "未入组病例：不计分值，按即时结算基金支付结算")
    if source == BY_BASIC:
        coef_text = "基层病种系数 1"
    elif source == BY_UNIT:
        coef_text = f"机构系数 {labels[coef]:g}"
    else:
        level = labels[coef]
        coef_text = (f"等级系数（{LEVEL_ZH.get(str(level), level)}）"
                     f"{params.level_coefficients.get(str(level), '缺失')}")
    if kind == SPECIAL:
        return (f"特例单议病例：分值 = 核定分值 × {coef_text}"
                if params.special_points_apply_coefficient
                else "特例单议病例：按核定分值结算，不适用倍率和系数")
    b = active_bounds(params)
    score = payment_method(params).score_label(params)
    if kind == NORMAL:
        le_low, le_high = ("≤" if b.low_inclusive else "<"), ("≤" if b.high_inclusive else "<")
        return (f"{CLASS_ZH['normal']}（{b.low} {le_low} 倍率 {le_high} {b.high}）："
                f"分值 = {score} × {coef_text}")
    if kind == LOW:
        op = "<" if b.low_inclusive else "≤"
        return f"{CLASS_ZH['low']}（倍率 {op} {b.low}）：分值 = {score} × 倍率 × {coef_text}"
    op = ">" if b.high_inclusive else "≥"
    text = (f"{CLASS_ZH['high']}（倍率 {op} {b.high}）：分值 = {score} × (倍率 − {b.high} + 1)"
            f" × {coef_text}")
    return text + (f"；倍率超过 {b.extreme} 倍，待专家评议" if review else "")


def _coefficient_labels(rows: np.ndarray, dip_cases: pd.DataFrame, params: DipParams) -> pa.Array:
    """'等级系数（三级）1.0' / '机构系数 0.95' / '基层病种系数 1' for the given rows."""
    level = dip_cases["level"].cat
    labels = [f"等级系数（{LEVEL_ZH.get(str(lv), lv)}）{params.level_coefficients.get(str(lv), '缺失')}"
              for lv in level.categories]
    text = pa.array(labels + ["—"], pa.string()).take(pa.array(level.codes.to_numpy()[rows]))
    source = dip_cases["coefficient_source"].cat.codes.to_numpy()[rows]
    by_unit = source == BY_UNIT
    if by_unit.any():
        coef = dip_cases["coefficient"].to_numpy()[rows[by_unit]]
        unit_text = pc.binary_join_element_wise("机构系数 ", _num_few(coef), "")
        text = pc.replace_with_mask(text, pa.array(by_unit), unit_text)
    return pc.if_else(pa.array(source == BY_BASIC), pa.scalar("基层病种系数 1"), text)


def _kind_text(kind: int, rows: np.ndarray, dip_cases: pd.DataFrame,
               params: DipParams) -> pa.Array:
    if kind >= EXCLUDED_KIND:
        reason = REASONS[kind - EXCLUDED_KIND]
        return pa.array(np.full(len(rows), f"{CLASS_ZH['unmatched']}：不予结算（{reason}）"),
                        pa.string())
    if kind == 5:
        fund = dip_cases["claim_fund_paid"].to_numpy()[rows]
        return pc.binary_join_element_wise("未入组病例：不计分值，按即时结算基金支付 ", _yuan(fund),
                                           " 元结算", "")
    points = _num(dip_cases["points"].to_numpy()[rows])
    if kind == SPECIAL:
        approved = _num(dip_cases["approved_points"].to_numpy()[rows])
        if params.special_points_apply_coefficient:
            coef = _coefficient_labels(rows, dip_cases, params)
            return pc.binary_join_element_wise("特例单议病例：核定分值 ", approved, " × ", coef,
                                               " = ", points, " 分", "")
        return pc.binary_join_element_wise("特例单议病例：按核定分值 ", approved,
                                           " 分结算，不适用倍率和系数", "")
    return _formula_text(kind, rows, dip_cases, params, points)


def _formula_text(kind: int, rows: np.ndarray, dip_cases: pd.DataFrame, params: DipParams,
                  points: pa.Array) -> pa.Array:
    b: Bounds = active_bounds(params)
    ratio = _num(dip_cases["ratio"].to_numpy()[rows], 4)
    score = _num_few(dip_cases["base_score"].to_numpy()[rows])
    coef = _coefficient_labels(rows, dip_cases, params)
    method = payment_method(params)
    score_label = method.score_label(params) + method.label_gap
    low, high = str(b.low), str(b.high)
    if kind == NORMAL:
        le_low, le_high = ("≤" if b.low_inclusive else "<"), ("≤" if b.high_inclusive else "<")
        parts = [f"{CLASS_ZH['normal']}：倍率 ", ratio,
                 f"（{low} {le_low} 倍率 {le_high} {high}），分值 = {score_label}", score, " × ", coef]
    elif kind == LOW:
        op = "<" if b.low_inclusive else "≤"
        parts = [f"{CLASS_ZH['low']}：倍率 ", ratio, f" {op} {low}，分值 = {score_label}", score,
                 " × 倍率 ", ratio, " × ", coef]
    else:
        op = ">" if b.high_inclusive else "≥"
        parts = [f"{CLASS_ZH['high']}：倍率 ", ratio, f" {op} {high}，分值 = {score_label}", score,
                 " × (倍率 ", ratio, f" − {high} + 1) × ", coef]
    parts += [" = ", points, " 分"]
    if kind == HIGH:
        review = pa.array(dip_cases["review_flag"].to_numpy()[rows])
        parts.append(pc.if_else(review, pa.scalar(f"；倍率超过 {b.extreme} 倍，待专家评议"),
                                pa.scalar("")))
    return pc.binary_join_element_wise(*parts, "")
