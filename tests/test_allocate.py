"""The one allocator: largest remainder, ties by id, exact, bounded, order independent."""

from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from settlement.allocate import AllocationError, allocate, allocate_frame


def w(**weights) -> pd.Series:
    return pd.Series(weights, dtype="object")


# ------------------------------------------------------------------ worked examples
def test_one_fen_among_three_equal_weights_goes_to_the_first_id():
    # quotas 1/3 each: whole parts 0, 0, 0; one fen left; remainders tie → smallest id "A"
    assert allocate(1, pd.Series({"B": 1.0, "A": 1.0, "C": 1.0})).to_dict() == {"A": 1, "B": 0, "C": 0}


def test_two_fen_among_three_equal_weights():
    assert allocate(2, pd.Series({"C": 1, "B": 1, "A": 1})).to_dict() == {"A": 1, "B": 1, "C": 0}


def test_largest_remainder_example():
    # 100 fen by 1 : 2 → quotas 33.33… and 66.66…; whole parts 33 + 66 = 99; the fen left goes
    # to the larger remainder (.66… of b) → 33 / 67
    assert allocate(100, w(a=1, b=2)).to_dict() == {"a": 33, "b": 67}


def test_six_three_one_split_of_the_issue():
    # 15,740,000.00 元 = 1,574,000,000 fen by 6 : 3 : 1 → 944,400,000 / 472,200,000 / 157,400,000
    parts = allocate(1_574_000_000, w(county=6, township=3, village=1))
    assert parts.to_dict() == {"county": 944_400_000, "township": 472_200_000, "village": 157_400_000}


def test_weights_are_taken_exactly_float_int_and_decimal():
    # 0.1 + 0.2 != 0.3 in binary float, but each float is an exact fraction; Decimals are exact
    # decimal fractions: 6 fen by 0.1 : 0.2 : 0.3 → 1 / 2 / 3 exactly
    assert allocate(6, w(a=Decimal("0.1"), b=Decimal("0.2"), c=Decimal("0.3"))).tolist() == [1, 2, 3]
    assert allocate(600, w(a=1, b=2, c=3)).tolist() == [100, 200, 300]
    # floats: 0.1 is 3602879701896397/2**55 — a hair above 1/10, so a's quota edges above
    assert allocate(3, pd.Series({"a": 0.1, "b": 0.1, "c": 0.1})).tolist() == [1, 1, 1]


def test_negative_amount_splits_the_magnitude_and_negates():
    # an overrun of 100 fen borne 1 : 2 → −33 / −67
    assert allocate(-100, w(a=1, b=2)).to_dict() == {"a": -33, "b": -67}


def test_zero_weight_gets_nothing():
    assert allocate(10, w(a=0, b=1)).to_dict() == {"a": 0, "b": 10}


def test_zero_amount_among_zero_weights_is_fine():
    assert allocate(0, w(a=0, b=0)).to_dict() == {"a": 0, "b": 0}


def test_empty_split_of_zero():
    assert allocate(0, pd.Series([], dtype="float64")).empty


@pytest.mark.parametrize("weights, message", [
    (w(a=-1, b=2), "权重为负"),
    (w(a=0, b=0), "权重合计为 0"),
    (w(a=float("nan"), b=1), "权重缺失或无效"),
    (w(a=float("inf"), b=1), "权重缺失或无效"),
    (w(a=None, b=1), "权重缺失或无效"),
    (pd.Series([1, 2], index=["a", "a"]), "重复"),
    (pd.Series([1, 2], index=[1, "1"]), "重复"),
    (pd.Series([], dtype="float64"), "无分配对象"),
])
def test_explicit_errors(weights, message):
    with pytest.raises(AllocationError, match=message):
        allocate(5, weights)


# ------------------------------------------------------------------ floors and caps
def test_floor_lifts_a_recipient_and_the_rest_is_resplit():
    # 100 fen by 8 : 1 : 1 with c ≥ 30: quotas 80 / 10 / 10 → c held at 30, the other 70 by 8 : 1
    # → 62.22… / 7.77… → 62 / 8
    assert allocate(100, w(a=8, b=1, c=1), floors=pd.Series({"c": 30})).to_dict() == \
        {"a": 62, "b": 8, "c": 30}


def test_floor_for_a_zero_weight_recipient():
    assert allocate(100, w(a=1, b=0, c=1), floors=pd.Series({"b": 30})).to_dict() == \
        {"a": 35, "b": 30, "c": 35}


def test_cap_holds_and_the_excess_goes_to_the_others():
    # 100 by 10 : 1 : 1, a ≤ 40 → a 40, the other 60 by 1 : 1
    assert allocate(100, w(a=10, b=1, c=1), caps=pd.Series({"a": 40})).to_dict() == \
        {"a": 40, "b": 30, "c": 30}


def test_floors_and_caps_mixed():
    # quotas 83.3 / 8.3 / 8.3; a above its cap of 40 by 43.3, b below its floor of 30 by 21.7:
    # the cap excess is larger, so a is capped first; then 60 by 1 : 1 → 30 / 30 (b's floor holds)
    assert allocate(100, w(a=10, b=1, c=1), floors=pd.Series({"b": 30}),
                    caps=pd.Series({"a": 40})).to_dict() == {"a": 40, "b": 30, "c": 30}


def test_mixed_bounds_floor_first_then_cap():
    # 100 by 1 : 1 : 2, a ≥ 50, c ≤ 40: quotas 25 / 25 / 50 — a short by 25, c over by 10 →
    # fix a at 50 first; then 50 by 1 : 2 → 16.67 / 33.33 (c's cap no longer binds) → 17 / 33
    assert allocate(100, w(a=1, b=1, c=2), floors=pd.Series({"a": 50}),
                    caps=pd.Series({"c": 40})).to_dict() == {"a": 50, "b": 17, "c": 33}


def test_rounding_never_breaks_a_bound():
    # quotas 1/3 fen each; a's floor 0 and cap 0 → a 0, the fen goes to b (next id)
    assert allocate(1, w(a=1, b=1, c=1), caps=pd.Series({"a": 0})).to_dict() == {"a": 0, "b": 1, "c": 0}


@pytest.mark.parametrize("floors, caps, message", [
    ({"a": 60, "b": 60}, None, "保底合计"),
    (None, {"a": 10, "b": 10}, "封顶合计"),
    ({"a": 20}, {"a": 10}, "保底高于封顶"),
    ({"a": -1}, None, "非负整数"),
    (None, {"a": 1.5}, "非负整数"),
])
def test_infeasible_or_malformed_bounds(floors, caps, message):
    with pytest.raises(AllocationError, match=message):
        allocate(100, w(a=1, b=1), floors=None if floors is None else pd.Series(floors),
                 caps=None if caps is None else pd.Series(caps))


def test_caps_plus_zero_weight_recipients_cannot_take_the_amount():
    # a capped at 10 and b has no weight: nobody can take the other 90
    with pytest.raises(AllocationError, match="封顶合计"):
        allocate(100, w(a=1, b=0), caps=pd.Series({"a": 10}))


def test_allocate_frame_aligns_to_rows():
    frame = pd.DataFrame({"unit": ["U2", "U1"], "pop": [3, 1], "floor": [0, 50]}, index=[7, 3])
    parts = allocate_frame(100, frame, "unit", "pop", floor_col="floor")
    assert parts.to_dict() == {7: 50, 3: 50}


# ------------------------------------------------------------------ properties
ids = st.text(alphabet="ABCDEFGH0123456789", min_size=1, max_size=3)
weights_st = st.dictionaries(ids, st.one_of(st.integers(0, 10**6),
                                            st.floats(0, 1e6, allow_nan=False, allow_infinity=False)),
                             min_size=1, max_size=12)
amounts = st.integers(-10**12, 10**12)


def reference(amount: int, weights: dict) -> dict:
    """Largest remainder with Fractions, written the slow obvious way."""
    total = sum(Fraction(v) for v in weights.values())
    quota = {k: Fraction(amount) * Fraction(v) / total for k, v in weights.items()}
    base = {k: q.numerator // q.denominator for k, q in quota.items()}
    left = amount - sum(base.values())
    for k in sorted(quota, key=lambda k: (-(quota[k] - base[k]), k))[:left]:
        base[k] += 1
    return base


@settings(max_examples=200, deadline=None)
@given(amounts, weights_st)
def test_conservation_and_reference(amount, weights):
    assume(any(v > 0 for v in weights.values()))
    parts = allocate(amount, pd.Series(weights, dtype="object"))
    assert int(parts.sum()) == amount
    assert parts.dtype == "int64"
    if amount >= 0:
        assert parts.to_dict() == reference(amount, weights)
    else:
        assert parts.to_dict() == {k: -v for k, v in reference(-amount, weights).items()}


@settings(max_examples=150, deadline=None)
@given(amounts, weights_st, st.randoms(use_true_random=False))
def test_order_independence(amount, weights, rnd):
    assume(any(v > 0 for v in weights.values()))
    items = list(weights.items())
    rnd.shuffle(items)
    shuffled = pd.Series(dict(items), dtype="object")
    original = pd.Series(weights, dtype="object")
    assert allocate(amount, shuffled).to_dict() == allocate(amount, original).to_dict()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**10), weights_st, st.data())
def test_monotone_in_weight(amount, weights, data):
    assume(any(v > 0 for v in weights.values()))
    key = data.draw(st.sampled_from(sorted(weights)))
    bump = data.draw(st.integers(1, 10**6))
    before = allocate(amount, pd.Series(weights, dtype="object"))[key]
    more = dict(weights, **{key: weights[key] + bump})
    after = allocate(amount, pd.Series(more, dtype="object"))[key]
    assert after >= before


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 12), st.integers(1, 10**6))
def test_deterministic_ties_go_to_smallest_ids(amount, n, weight):
    names = [f"U{i:02d}" for i in range(n)]
    parts = allocate(amount, pd.Series({k: weight for k in reversed(names)}, dtype="object"))
    base, left = divmod(amount, n)
    assert parts.tolist() == [base + (1 if i < left else 0) for i in range(n)]
    assert list(parts.index) == names


@st.composite
def bounded_problem(draw):
    weights = draw(weights_st)
    names = sorted(weights)
    amount = draw(st.integers(0, 10**8))
    floors, caps = {}, {}
    for k in names:
        if draw(st.booleans()):
            floors[k] = draw(st.integers(0, amount // len(names)))
        if draw(st.booleans()):
            caps[k] = floors.get(k, 0) + draw(st.integers(0, 10**8))
    most = sum(caps[k] if k in caps and weights[k] > 0 else
               (floors.get(k, 0) if weights[k] == 0 else 10**18) for k in names)
    assume(most >= amount)
    return amount, weights, floors, caps


@settings(max_examples=250, deadline=None)
@given(bounded_problem())
def test_floors_and_caps_respected_and_amount_conserved(problem):
    amount, weights, floors, caps = problem
    parts = allocate(amount, pd.Series(weights, dtype="object"),
                     floors=pd.Series(floors, dtype="object") if floors else None,
                     caps=pd.Series(caps, dtype="object") if caps else None)
    parts = {k: int(v) for k, v in parts.items()}
    assert sum(parts.values()) == amount
    for k, floor in floors.items():
        assert parts[k] >= floor
    for k, cap in caps.items():
        assert parts[k] <= cap
    # water-filling: a recipient strictly inside its bounds is not "short-changed" relative to
    # one held at its floor, nor favoured relative to one held at its cap (per unit of weight,
    # within a fen of rounding)
    free = [k for k in weights if weights[k] > 0 and floors.get(k, -1) < parts[k] < caps.get(k, 10**18)]
    pinned = {k for k in floors if caps.get(k) == floors[k]}  # floor == cap: held either way
    for k in free:
        for j in floors:
            if parts[j] == floors[j] and weights[j] > 0 and j not in pinned:
                assert Fraction(parts[j] + 1) / Fraction(weights[j]) >= \
                    Fraction(parts[k] - 1) / Fraction(weights[k])
        for j in caps:
            if parts[j] == caps[j] and weights[j] > 0 and j not in pinned:
                assert Fraction(parts[j] - 1) / Fraction(weights[j]) <= \
                    Fraction(parts[k] + 1) / Fraction(weights[k])
