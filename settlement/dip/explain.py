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

Each case class of the vocabulary (:data:`settlement.vocabulary.CASE_CLASSES`) has one entry
of :data:`CLASS_TEXTS`: its rule sentence and its per-case sentence; the comparison signs
of the bounds, the coefficient's source and the special-case rule are lookup tables too, so
no function branches on a class, a coefficient source or a parameter's value (a new class is
one more entry; ``tests/test_dip_explain.py`` checks that every class has one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.params import DipParams
from settlement.dip.scoring import (
    BY_APPROVAL, BY_BASIC, BY_LEVEL, BY_UNIT, CLASS_ZH, CLASSES, LEVEL_ZH, REASONS,
    UNMATCHED, Bounds, active_bounds, payment_method,
)

AT_COST_KIND = UNMATCHED + 1  # kinds: class 0–3; 5 unmatched paid at cost; 5 + reason excluded
KINDS = 16  # room for the kinds in a rule key (5 + reason < 16)

#: the sign between the low bound and the ratio of a normal case (bound inclusive → ≤)
NORMAL_SIGN = {True: "≤", False: "<"}
#: the sign of a low case (ratio below an inclusive bound: <) and of a high case
LOW_SIGN = {True: "<", False: "≤"}
HIGH_SIGN = {True: ">", False: "≥"}


@dataclass(frozen=True)
class RuleTerms:
    """What a rule sentence reads: the parameters and the coefficient of one rule key."""

    params: DipParams
    source: int  # coefficient source (scoring.COEF_SOURCES)
    label: object  # the level, or the unit's own coefficient
    review: bool
    reason: int  # why an unmatched case is excluded (0: paid at cost)

    @cached_property
    def bounds(self) -> Bounds:
        return active_bounds(self.params)

    @cached_property
    def score(self) -> str:
        return payment_method(self.params).score_label(self.params)

    @cached_property
    def coef(self) -> str:
        return COEF_RULE_TEXT[self.source](self.label, self.params)


def _level_text(level, params: DipParams) -> str:
    return f"等级系数（{LEVEL_ZH.get(str(level), level)}）{params.level_coefficients.get(str(level), '缺失')}"


#: coefficient source → how a rule names the coefficient
COEF_RULE_TEXT: dict[int, Callable[[object, DipParams], str]] = {
    BY_LEVEL: _level_text, BY_APPROVAL: _level_text,
    BY_UNIT: lambda coef, params: f"机构系数 {coef:g}",
    BY_BASIC: lambda coef, params: "基层病种系数 1",
}


def _review_text(bounds: Bounds) -> str:
    return f"；倍率超过 {bounds.extreme} 倍，待专家评议"


def _normal_rule(t: RuleTerms) -> str:
    b = t.bounds
    return (f"{CLASS_ZH['normal']}（{b.low} {NORMAL_SIGN[b.low_inclusive]} 倍率 "
            f"{NORMAL_SIGN[b.high_inclusive]} {b.high}）：分值 = {t.score} × {t.coef}")


def _low_rule(t: RuleTerms) -> str:
    b = t.bounds
    return (f"{CLASS_ZH['low']}（倍率 {LOW_SIGN[b.low_inclusive]} {b.low}）：分值 = {t.score} × "
            f"倍率 × {t.coef}")


def _high_rule(t: RuleTerms) -> str:
    b = t.bounds
    return (f"{CLASS_ZH['high']}（倍率 {HIGH_SIGN[b.high_inclusive]} {b.high}）：分值 = {t.score} × "
            f"(倍率 − {b.high} + 1) × {t.coef}" + (_review_text(b) if t.review else ""))


#: special_points_apply_coefficient → the rule of a special case
SPECIAL_RULE: dict[bool, Callable[[RuleTerms], str]] = {
    True: lambda t: f"特例单议病例：分值 = 核定分值 × {t.coef}",
    False: lambda t: "特例单议病例：按核定分值结算，不适用倍率和系数",
}


def _unmatched_rule(t: RuleTerms) -> str:
    return (f"{CLASS_ZH['unmatched']}：不予结算（{REASONS[t.reason]}）" if t.reason
            else "未入组病例：不计分值，按即时结算基金支付结算")


@dataclass(frozen=True)
class CaseTerms:
    """What the per-case sentences of one kind read: its rows of ``dip_cases``."""

    rows: np.ndarray
    cases: pd.DataFrame
    params: DipParams
    reason: int

    def values(self, name: str) -> np.ndarray:
        return self.cases[name].to_numpy()[self.rows]

    @cached_property
    def bounds(self) -> Bounds:
        return active_bounds(self.params)

    @cached_property
    def points(self) -> pa.Array:
        return _num(self.values("points"))

    @cached_property
    def coef(self) -> pa.Array:
        return _coefficient_labels(self.rows, self.cases, self.params)

    def formula(self, class_name: str, condition: list, factor: list) -> pa.Array:
        """'<class>：倍率 r <condition>，分值 = <score label> s × <factor> × coef = p 分'."""
        method = payment_method(self.params)
        score = _num_few(self.values("base_score"))
        parts = [f"{CLASS_ZH[class_name]}：倍率 ", self.ratio, *condition,
                 f"，分值 = {method.score_label(self.params)}{method.label_gap}", score,
                 *factor, " × ", self.coef, " = ", self.points, " 分"]
        return pc.binary_join_element_wise(*parts, "")

    @cached_property
    def ratio(self) -> pa.Array:
        return _num(self.values("ratio"), 4)


def _normal_case(t: CaseTerms) -> pa.Array:
    b = t.bounds
    return t.formula("normal", [f"（{b.low} {NORMAL_SIGN[b.low_inclusive]} 倍率 "
                                f"{NORMAL_SIGN[b.high_inclusive]} {b.high}）"], [])


def _low_case(t: CaseTerms) -> pa.Array:
    return t.formula("low", [f" {LOW_SIGN[t.bounds.low_inclusive]} {t.bounds.low}"],
                     [" × 倍率 ", t.ratio])


def _high_case(t: CaseTerms) -> pa.Array:
    b = t.bounds
    text = t.formula("high", [f" {HIGH_SIGN[b.high_inclusive]} {b.high}"],
                     [" × (倍率 ", t.ratio, f" − {b.high} + 1)"])
    review = pa.array(t.values("review_flag"))
    return pc.binary_join_element_wise(
        text, pc.if_else(review, pa.scalar(_review_text(b)), pa.scalar("")), "")


#: special_points_apply_coefficient → the sentence of each special case
SPECIAL_CASE: dict[bool, Callable[[CaseTerms], pa.Array]] = {
    True: lambda t: pc.binary_join_element_wise(
        "特例单议病例：核定分值 ", _num(t.values("approved_points")), " × ", t.coef, " = ", t.points,
        " 分", ""),
    False: lambda t: pc.binary_join_element_wise(
        "特例单议病例：按核定分值 ", _num(t.values("approved_points")), " 分结算，不适用倍率和系数", ""),
}


def _unmatched_case(t: CaseTerms) -> pa.Array:
    if t.reason:
        return pa.array(np.full(len(t.rows), _unmatched_rule(t)), pa.string())
    return pc.binary_join_element_wise("未入组病例：不计分值，按即时结算基金支付 ",
                                       _yuan(t.values("claim_fund_paid")), " 元结算", "")


@dataclass(frozen=True)
class ClassText:
    """How one case class is explained: the rule sentence, and one sentence per case."""

    rule: Callable[[RuleTerms], str]
    case: Callable[[CaseTerms], pa.Array]


#: case class (vocabulary.CASE_CLASSES) → its sentences
CLASS_TEXTS: dict[str, ClassText] = {
    "normal": ClassText(_normal_rule, _normal_case),
    "low": ClassText(_low_rule, _low_case),
    "high": ClassText(_high_rule, _high_case),
    "special": ClassText(lambda t: SPECIAL_RULE[t.params.special_points_apply_coefficient](t),
                         lambda t: SPECIAL_CASE[t.params.special_points_apply_coefficient](t)),
    "unmatched": ClassText(_unmatched_rule, _unmatched_case),
}


def _class_of(kind: int) -> tuple[str, int]:
    """(class, reason) of a kind: classes 0–3 as coded; 5 + reason unmatched."""
    return (CLASSES[kind], 0) if kind < UNMATCHED else ("unmatched", kind - AT_COST_KIND)


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
    """Class code 0–3 of scored cases; 5 = unmatched paid at cost; 5 + reason = excluded."""
    kind = dip_cases["case_class"].cat.codes.to_numpy().astype("int16")
    not_scored = np.flatnonzero(dip_cases["settlement"].cat.codes.to_numpy() != 0)
    kind[not_scored] += _kind_offsets(dip_cases, not_scored)
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


def _kind_text(kind: int, rows: np.ndarray, dip_cases: pd.DataFrame,
               params: DipParams) -> pa.Array:
    name, reason = _class_of(kind)
    return CLASS_TEXTS[name].case(CaseTerms(rows, dip_cases, params, reason))


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
    key += case_kinds(dip_cases)
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
    name, reason = _class_of(kind)
    return CLASS_TEXTS[name].rule(RuleTerms(params, source, labels[coef], bool(review), reason))


def _coefficient_labels(rows: np.ndarray, dip_cases: pd.DataFrame, params: DipParams) -> pa.Array:
    """'等级系数（三级）1.0' / '机构系数 0.95' / '基层病种系数 1' for the given rows."""
    level = dip_cases["level"].cat
    labels = [_level_text(lv, params) for lv in level.categories]
    text = pa.array(labels + ["—"], pa.string()).take(pa.array(level.codes.to_numpy()[rows]))
    source = dip_cases["coefficient_source"].cat.codes.to_numpy()[rows]
    by_unit = source == BY_UNIT
    if by_unit.any():
        coef = dip_cases["coefficient"].to_numpy()[rows[by_unit]]
        unit_text = pc.binary_join_element_wise("机构系数 ", _num_few(coef), "")
        text = pc.replace_with_mask(text, pa.array(by_unit), unit_text)
    return pc.if_else(pa.array(source == BY_BASIC), pa.scalar("基层病种系数 1"), text)
