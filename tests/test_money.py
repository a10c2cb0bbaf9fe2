"""Money parsing and formatting: exact fen, never through binary float."""

from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from settlement.money import fen_of, format_yuan, mul_fen, parse_yuan, round_fen, yuan_display, yuan_str


def test_parse_text_amounts_exactly():
    parsed = parse_yuan(pd.Series(["12,345.60", "0.07", "-3", "1.2", " 8 ", "1,000,000.01"]))
    # 12,345.60 元 = 12345 × 100 + 60 fen; 1.2 元 = 120 fen; 1,000,000.01 = 100000001 fen
    assert parsed.fen.tolist() == [12345 * 100 + 60, 7, -300, 120, 800, 100_000_001]
    assert not parsed.invalid.any()


def test_parse_rejects_more_than_two_decimals_and_words():
    parsed = parse_yuan(pd.Series(["1.234", "abc", "1.2.3", "", None]))
    assert parsed.invalid.tolist() == [True, True, True, False, False]
    assert parsed.missing.tolist() == [False, False, False, True, True]


def test_parse_floats_through_their_shortest_repr():
    # 0.1 + 0.2 != 0.3 in binary, but a cell holding 0.29 means 29 fen, and 12345.6 means 1234560.
    parsed = parse_yuan(pd.Series([0.29, 12345.6, 0.1, 1100.0]))
    assert parsed.fen.tolist() == [29, 1234560, 10, 110000]


@given(st.integers(min_value=-10**13, max_value=10**13))
def test_format_then_parse_round_trips(fen):
    text = format_yuan(pd.Series([fen]))
    assert parse_yuan(text).fen.tolist() == [fen]
    assert yuan_str(fen) == text.iloc[0]


def test_display_and_scalar_helpers():
    assert yuan_display(1234567890) == "12,345,678.90"
    assert fen_of(Decimal("20.005")) == 2001  # half away from zero
    assert fen_of(Decimal("-0.005")) == -1
    # 12,800,000.00 元 × 5 % = 640,000.00 元
    assert mul_fen(1_280_000_000, Decimal("0.05")) == 64_000_000


def test_round_fen_is_half_away_from_zero():
    assert round_fen(np.array([0.005, -0.005, 1.234999, 2.5])).tolist() == [1, -1, 123, 250]


def test_average_fen_is_exact_and_rounds_half_away_from_zero():
    from settlement.money import average_fen

    # 100,001 fen over 2 = 50,000.5 → 50,001; 100,000 over 3 = 33,333.33 → 33,333;
    # −5 over 2 = −2.5 → −3; no cases → −1 (masked by callers)
    got = average_fen(np.array([100_001, 100_000, -5, 7]), np.array([2, 3, 2, 0]))
    assert got.tolist() == [50_001, 33_333, -3, -1]
    # beyond float precision: 2**60 + 1 fen over 1 case stays exact
    assert average_fen(np.array([2**60 + 1]), np.array([1])).tolist() == [2**60 + 1]
