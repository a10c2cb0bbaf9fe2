"""Typed reads: a clean CSV is read with the schema's types, Parquet columns are used as they
are, and both give exactly the frames the text path (read every field as text, then parse)
gives. The quirk classes still take the text path (tests/test_hostile_inputs.py), so only the
speed differs, never a value, a dtype or a row number.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fixtures.tiny_county import tiny_county, write_folder
from settlement import csv_reader
from settlement.loader import load_folder
from settlement.sample import generate


@pytest.fixture(scope="module")
def small_county(tmp_path_factory):
    """The sample county at 1/20 scale, as CSV and as Parquet (same seed, same rows)."""
    root = tmp_path_factory.mktemp("small")
    generate(root / "csv", scale=0.05, fmt="csv")
    generate(root / "parquet", scale=0.05, fmt="parquet")
    return root


def text_path_only(monkeypatch):
    monkeypatch.setattr(csv_reader, "_parse_typed", lambda *a, **k: (None, None))


def assert_same_frames(a, b, reindex=False):
    assert a.keys() == b.keys()
    for name in a:
        left, right = a[name], b[name]
        if reindex:
            left, right = left.reset_index(drop=True), right.reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=name)


def test_clean_csv_is_read_typed_and_equals_the_text_path(small_county, monkeypatch):
    typed = load_folder(small_county / "csv")
    assert typed.problems == []
    assert typed.sources["outpatient_claims"].typed and typed.sources["inpatient_cases"].typed
    text_path_only(monkeypatch)
    text = load_folder(small_county / "csv")
    assert not text.sources["outpatient_claims"].typed
    assert_same_frames(typed.tables, text.tables)


def test_parquet_as_it_is_equals_the_csv(small_county):
    from_csv, from_parquet = load_folder(small_county / "csv"), load_folder(small_county / "parquet")
    assert from_parquet.problems == []
    # same rows; CSV row numbers start at 2 (header = row 1), Parquet at 1
    assert from_parquet.tables["inpatient_cases"].index[0] == 1 and from_csv.tables["inpatient_cases"].index[0] == 2
    assert_same_frames(from_csv.tables, from_parquet.tables, reindex=True)


def test_the_tiny_county_typed_equals_the_text_path(tmp_path, monkeypatch):
    folder = write_folder(tmp_path)
    typed = load_folder(folder)
    assert typed.sources["inpatient_cases"].typed  # empty dip_group, special_points: still typed
    text_path_only(monkeypatch)
    assert_same_frames(typed.tables, load_folder(folder).tables)


@pytest.mark.parametrize("column, text", [("total_cost", "１２３４．５６"), ("total_cost", "¥1,234.00"),
                                          ("discharge_date", "2025年1月28日"), ("total_cost", "1,234.00"),
                                          ("referral", "TRUE"), ("total_cost", "10000000000000000")])
def test_a_quirk_cell_sends_the_file_to_the_text_path(tmp_path, column, text):
    tables = tiny_county()
    tables["inpatient_cases"][0][column] = text
    result = load_folder(write_folder(tmp_path, tables))
    assert not result.sources["inpatient_cases"].typed
    assert result.sources["units"].typed  # other files of the folder stay typed


def test_an_empty_required_cell_of_a_typed_column_is_reported_once(tmp_path):
    tables = tiny_county()
    tables["inpatient_cases"][1]["admission_date"] = ""  # row 3
    result = load_folder(write_folder(tmp_path, tables))
    assert result.sources["inpatient_cases"].typed
    assert [(p.rule, p.row, p.column, p.value) for p in result.problems] == [
        ("value.required", 3, "admission_date", "")]
    assert result.flagged[("inpatient_cases", "admission_date")].tolist() == [3]


def test_parquet_typed_columns_decimal_integer_money_and_timestamps(tmp_path):
    folder = write_folder(tmp_path, skip=("prepayments",))
    rows = tiny_county()["prepayments"]
    pq.write_table(pa.table({
        "payment_id": [r["payment_id"] for r in rows], "payee_id": [r["payee_id"] for r in rows],
        "fund": [r["fund"] for r in rows], "period": [r["period"] for r in rows],
        # 668905.00 元 as decimal(20, 1), 1000000 元 as an integer, -500 元: 66890500, 100000000, -50000 fen
        "amount": pa.array([Decimal("668905.0"), Decimal("1000000.0"), Decimal("-500.0")], type=pa.decimal128(20, 1)),
    }), folder / "prepayments.parquet")
    result = load_folder(folder)
    assert result.problems == []
    assert result.tables["prepayments"]["amount"].tolist() == [66890500, 100000000, -50000]


def test_parquet_money_with_more_than_two_decimals_is_reported_as_written(tmp_path):
    folder = write_folder(tmp_path, skip=("prepayments",))
    rows = tiny_county()["prepayments"]
    pq.write_table(pa.table({
        "payment_id": [r["payment_id"] for r in rows], "payee_id": [r["payee_id"] for r in rows],
        "fund": [r["fund"] for r in rows], "period": [r["period"] for r in rows],
        "amount": pa.array([Decimal("1.235"), Decimal("2.000"), Decimal("-500.000")], type=pa.decimal128(12, 3)),
    }), folder / "prepayments.parquet")
    result = load_folder(folder)
    assert [(p.rule, p.row, p.value) for p in result.problems] == [("money.format", 1, "1.235")]
    assert result.tables["prepayments"]["amount"].tolist()[1:] == [200, -50000]
