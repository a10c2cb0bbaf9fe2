"""Loader options for regions and large data: some tables, some rows, Parquet directories.

Each test writes the tiny county (tests/fixtures/tiny_county.py), reshapes one table into what
a region export writes (a directory of Parquet part files, hive partitions), and checks the
frame and the row numbers of the problems: a problem names the part file and the row inside it.
"""

from __future__ import annotations

import os
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fixtures.tiny_county import tiny_county, write_folder
from settlement.loader import load_folder
from settlement.validation import validate_dataset

YEAR = 2025


def claims_table(rows: list[dict]) -> pa.Table:
    """outpatient_claims rows as a typed Arrow table (money decimal, dates date32)."""
    return pa.table({
        "claim_id": [r["claim_id"] for r in rows], "person_id": [r["person_id"] for r in rows],
        "community_id": [r["community_id"] for r in rows], "unit_id": [r["unit_id"] for r in rows],
        "service_date": pa.array([pd.Timestamp(r["service_date"]).date() for r in rows], type=pa.date32()),
        "claim_type": [r["claim_type"] for r in rows],
        "total_cost": pa.array([Decimal(r["total_cost"]) for r in rows], type=pa.decimal128(12, 2)),
        "fund_paid": pa.array([Decimal(r["fund_paid"]) for r in rows], type=pa.decimal128(12, 2)),
    })


def partitioned_claims(tmp_path, claims=None):
    """outpatient_claims/community_id=C1/part-0.parquet (M001, M002) and …=C2/part-0.parquet
    (M003, M004): the partition column is not in the files, it is in the path."""
    folder = write_folder(tmp_path, skip=("outpatient_claims",))
    claims = claims or tiny_county()["outpatient_claims"]
    for community in ("C1", "C2"):
        part = folder / "outpatient_claims" / f"community_id={community}"
        part.mkdir(parents=True)
        table = claims_table([r for r in claims if r["community_id"] == community]).drop(["community_id"])
        pq.write_table(table, part / "part-0.parquet")
    return folder


def test_only_the_tables_asked_for_are_read_and_none_is_missing(tmp_path):
    folder = write_folder(tmp_path, skip=("inpatient_cases",))  # a required table absent
    result = load_folder(folder, tables=["units", "communities"])
    assert result.problems == []  # inpatient_cases is not asked for: not reported missing
    assert set(result.sources) == {"units", "communities"}
    assert set(result.file_hashes) == {"units.csv", "communities.csv"}
    assert result.tables["units"]["unit_id"].tolist() == [r["unit_id"] for r in tiny_county()["units"]]


def test_where_keeps_the_rows_of_the_values_with_the_users_row_numbers_csv(tmp_path):
    tables = tiny_county()
    tables["inpatient_cases"][4]["total_cost"] = "abc"  # K005 (row 6) is C1: not loaded, not reported
    tables["inpatient_cases"][2]["total_cost"] = "xyz"  # K003 (row 4) is C2: loaded and reported
    result = load_folder(write_folder(tmp_path, tables), where={"inpatient_cases": ("community_id", ["C2"])})
    cases = result.tables["inpatient_cases"]
    assert cases["case_id"].tolist() == ["K003", "K004", "K006"]
    assert cases.index.tolist() == [4, 5, 7]  # header row 1: K003 is row 4 of the user's file
    assert [(p.rule, p.row) for p in result.problems if p.severity == "error"] == [("money.format", 4)]
    assert len(result.tables["outpatient_claims"]) == 4  # other tables untouched


def test_a_directory_of_hive_partitions_is_one_table(tmp_path):
    result = load_folder(partitioned_claims(tmp_path))
    assert result.problems == []
    claims = result.tables["outpatient_claims"]
    assert claims["claim_id"].tolist() == ["M001", "M002", "M003", "M004"]
    assert claims["community_id"].tolist() == ["C1", "C1", "C2", "C2"]  # from the path
    # 62.35 + 120.00 + 35.00 + 500.00 元 = 717.35 元
    assert claims["total_cost"].dtype == "int64" and claims["total_cost"].sum() == 71735
    assert claims["service_date"].dtype == "datetime64[ns]"
    assert result.sources["outpatient_claims"].file == "outpatient_claims"
    assert set(result.file_hashes) >= {"outpatient_claims/community_id=C1/part-0.parquet",
                                       "outpatient_claims/community_id=C2/part-0.parquet"}


def test_where_on_a_partition_column_opens_only_that_partition(tmp_path):
    folder = partitioned_claims(tmp_path)
    (folder / "outpatient_claims" / "community_id=C1" / "part-0.parquet").write_bytes(b"not parquet")
    result = load_folder(folder, where={"outpatient_claims": ("community_id", ["C2"])})
    assert [p for p in result.problems if p.severity == "error"] == []  # the broken C1 part is never opened
    assert result.tables["outpatient_claims"]["claim_id"].tolist() == ["M003", "M004"]


def test_where_on_a_file_column_streams_and_keeps_row_numbers(tmp_path):
    folder = write_folder(tmp_path, skip=("outpatient_claims",))
    pq.write_table(claims_table(tiny_county()["outpatient_claims"]), folder / "outpatient_claims.parquet")
    result = load_folder(folder, where={"outpatient_claims": ("unit_id", ["T1", "X1"])})
    claims = result.tables["outpatient_claims"]
    assert claims["claim_id"].tolist() == ["M002", "M004"] and claims.index.tolist() == [2, 4]


def test_problems_in_a_part_name_the_part_file_and_its_own_row(tmp_path):
    claims = tiny_county()["outpatient_claims"]
    claims[3]["fund_paid"] = "600.00"  # M004 (C2, second row of its part): fund_paid 600 > total 500
    folder = partitioned_claims(tmp_path, claims)
    loaded = load_folder(folder)
    problems = loaded.problems + validate_dataset(loaded, YEAR, use_gx=False)
    found = [(p.rule, p.file, p.row, p.column) for p in problems if p.severity == "error"]
    assert found == [("amount.fund_paid", "outpatient_claims/community_id=C2/part-0.parquet", 2, "fund_paid")]


def test_a_partition_column_not_in_the_schema_is_dropped(tmp_path):
    folder = write_folder(tmp_path, skip=("outpatient_claims",))
    part = folder / "outpatient_claims" / "county_id=C01"
    part.mkdir(parents=True)
    pq.write_table(claims_table(tiny_county()["outpatient_claims"]), part / "part-0.parquet")
    result = load_folder(folder)
    assert result.problems == []
    assert "county_id" not in result.tables["outpatient_claims"].columns


def test_a_directory_without_parquet_files_is_not_a_table(tmp_path):
    folder = write_folder(tmp_path)
    (folder / "units").mkdir()
    (folder / "units" / "notes.txt").write_text("x")  # a folder named like a table, no Parquet
    result = load_folder(folder)
    assert result.problems == [] and result.sources["units"].file == "units.csv"


def test_a_part_file_linking_outside_the_folder_refuses_the_table(tmp_path):
    folder = partitioned_claims(tmp_path / "data")
    outside = tmp_path / "elsewhere.parquet"
    pq.write_table(claims_table(tiny_county()["outpatient_claims"][:1]), outside)
    os.symlink(outside, folder / "outpatient_claims" / "community_id=C2" / "part-1.parquet")
    result = load_folder(folder)
    assert ("file.symlink", "outpatient_claims") in [(p.rule, p.table) for p in result.problems]
    assert "outpatient_claims" not in result.sources
