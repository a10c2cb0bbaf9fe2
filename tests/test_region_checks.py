"""A region's own checks before it settles (issue 13 §7–9): ids in two counties, the big tables
read once and split by county, ``settlement validate --region``, a failing county saves nothing.

The region is generated at scale 0.01 (3 counties, CSV); the broken copy changes three cells
whose rows the tests compute from the CSV text: a case id of C02 written as a case id of C01,
a claim of C03 with an amount that is not a number, a unit id of C02 repeated for C03.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from fixtures.csv_rows import read_rows, write_rows
from settlement.cli import main
from settlement.region.inputs import split_big_tables
from settlement.region.split import region_problems

SCALE = 0.01


@pytest.fixture(scope="module")
def region_dir(tmp_path_factory) -> Path:
    from settlement.sample.region import generate_region

    out = tmp_path_factory.mktemp("region") / "data"
    generate_region(out, 3, scale=SCALE)
    return out


_rows, _write = read_rows, write_rows  # tests/fixtures/csv_rows.py


def _first_of(rows: list[list[str]], county: str) -> int:
    """Index (in ``rows``, header = 0) of the first data row of a community of ``county``."""
    at = rows[0].index("community_id")
    return next(i for i, r in enumerate(rows) if i and r[at].startswith(county))


@pytest.fixture(scope="module")
def broken(region_dir, tmp_path_factory):
    """(folder, {what: (CSV row number, value)}): the region with the three changed cells."""
    out = tmp_path_factory.mktemp("broken") / "data"
    shutil.copytree(region_dir, out)
    cases = _rows(out / "inpatient_cases.csv")
    c01, c02 = _first_of(cases, "C01"), _first_of(cases, "C02")
    cases[c02][0] = cases[c01][0]  # case_id is the first column
    _write(out / "inpatient_cases.csv", cases)
    claims = _rows(out / "outpatient_claims.csv")
    c03 = _first_of(claims, "C03")
    claims[c03][claims[0].index("total_cost")] = "十二元"
    _write(out / "outpatient_claims.csv", claims)
    # the CSV row number of rows[i] is i + 1 (the header is row 1)
    return out, {"case": (c01 + 1, c02 + 1, cases[c01][0]), "claim": (c03 + 1, claims[c03][0])}


@pytest.fixture(scope="module")
def validated(broken, tmp_path_factory):
    """``settlement validate --region`` on the broken region: (exit code, output, problem sheet)."""
    folder, _ = broken
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(main, ["validate", "--region", str(folder / "region.yaml"), "--data",
                                       str(folder), "--out", str(out)])
    sheet = pd.read_excel(out / "validation" / "问题清单.xlsx", sheet_name="问题清单", dtype=str)
    sheet.columns = [c.split()[-1] for c in sheet.columns]  # "行号 row" → "row"
    return result.exit_code, result.output, sheet, out


def test_a_case_id_in_two_counties_is_an_error_naming_both_counties_and_rows(broken, validated):
    _, changed = broken
    sheet = validated[2]
    (problem,) = sheet.loc[sheet["id"] == "region.id_two_counties"].to_dict("records")
    row1, row2, case_id = changed["case"]
    assert (problem["table"], problem["file"], problem["row"], problem["value"]) == (
        "inpatient_cases", "inpatient_cases.csv", str(row1), case_id)
    assert (f"县（区）C01（inpatient_cases.csv 第 {row1} 行）、县（区）C02（inpatient_cases.csv 第 {row2} 行）"
            in problem["rule"])


def test_validate_region_reports_every_county_and_the_region_and_records_nothing(broken, validated):
    folder, changed = broken
    exit_code, output, sheet, out = validated
    assert exit_code == 1, output
    row, _ = changed["claim"]
    bad = sheet.loc[(sheet["file"] == "outpatient_claims.csv") & (sheet["column"] == "total_cost")]
    assert bad["row"].tolist() == [str(row)] and bad["value"].tolist() == ["十二元"]  # C03's own check
    assert set(sheet["id"]) >= {"region.id_two_counties"}  # and the region's rule, one report
    assert "校验未通过" in output or "FAILED" in output
    assert not any(out.glob("**/*.db")) and not list(folder.glob("*.db")) and not (folder / ".split").exists()


def test_a_county_that_fails_validation_leaves_nothing_that_looks_finished(broken, tmp_path):
    import json

    folder, _ = broken
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(main, ["run", "--region", str(folder / "region.yaml"), "--data", str(folder),
                                       "--out", str(tmp_path / "out"), "--db", db, "--quiet"])
    assert result.exit_code == 1
    (run_dir,) = (tmp_path / "out").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed" and not manifest["row_counts"].get("results")
    left = {p.name for p in run_dir.iterdir()}
    assert not left & {"C01", "C02", "C03", "区域汇总.xlsx", ".split", ".stored"}, left


def test_the_big_tables_are_split_once_by_county_in_the_files_order(region_dir, tmp_path):
    from settlement.loader import load_folder

    small = load_folder(region_dir, tables=["communities"]).tables["communities"]
    split = split_big_tables(region_dir, small, ["C01", "C02", "C03"], tmp_path)
    home = dict(zip(small["community_id"], small["county_id"]))
    cases = pd.read_csv(region_dir / "inpatient_cases.csv", dtype=str)
    for county in ("C01", "C02", "C03"):
        path, rows = split.files["inpatient_cases"][county]
        part = pq.read_table(path, columns=["case_id", "community_id", "_row"]).to_pandas()
        expected = cases.loc[cases["community_id"].map(home).eq(county)]
        assert rows == len(part) == len(expected) > 0
        assert part["case_id"].tolist() == expected["case_id"].tolist()
        assert part["_row"].tolist() == (expected.index + 2).tolist()  # the CSV's own row numbers
    assert split.unassigned["inpatient_cases"] == (0, [])
    assert not (tmp_path / ".split" / "whole" / "inpatient_cases.parquet").exists()


def test_a_unit_id_written_for_two_counties_names_both():
    units = pd.DataFrame({"unit_id": ["U1", "U2", "U1"], "unit_name": ["甲", "乙", "丙"],
                          "community_id": [pd.NA] * 3, "category": ["external"] * 3,
                          "scope": ["county", "county", "county"], "county_id": ["C01", "C01", "C02"]},
                         index=[2, 3, 4])
    communities = pd.DataFrame({"community_id": ["G1", "G2"], "county_id": ["C01", "C02"]}, index=[2, 3])
    found = [p for p in region_problems({"units": units, "communities": communities}, ["C01", "C02"],
                                        "units.csv") if p.rule == "region.unit_two_counties"]
    assert [(p.row, p.value) for p in found] == [(2, "U1")]
    assert "县（区）C01（第 2 行）、县（区）C02（第 4 行）" in found[0].message_zh


@pytest.fixture(scope="module")
def parquet_region(tmp_path_factory) -> Path:
    from settlement.sample.region import generate_region

    out = tmp_path_factory.mktemp("region_pq") / "data"
    generate_region(out, 3, scale=SCALE, fmt="parquet")
    return out


def _communities(folder: Path) -> pd.DataFrame:
    from settlement.loader import load_folder

    return load_folder(folder, tables=["communities"]).tables["communities"]


def test_csv_and_parquet_regions_split_into_the_same_county_rows(region_dir, parquet_region, tmp_path):
    csv_split = split_big_tables(region_dir, _communities(region_dir), ["C01", "C02", "C03"], tmp_path / "c")
    pq_split = split_big_tables(parquet_region, _communities(parquet_region), ["C01", "C02", "C03"],
                                tmp_path / "p")
    for table, key in (("inpatient_cases", "case_id"), ("outpatient_claims", "claim_id")):
        for county in ("C01", "C02", "C03"):
            a, b = (pq.read_table(s.files[table][county][0]).to_pandas() for s in (csv_split, pq_split))
            assert a[key].tolist() == b[key].tolist() and len(a) > 0
            assert a.drop(columns="_row").equals(b.drop(columns="_row"))  # typed alike, to the fen


def _rewrite_part(path: Path, column: str, row: int, value: str) -> None:
    import pyarrow as pa

    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[row] = value
    table = table.set_column(table.column_names.index(column), column, pa.array(values, type=pa.string()))
    pq.write_table(table, path)


def test_ids_in_two_counties_and_rows_of_no_county_name_the_parquet_part_and_row(parquet_region, tmp_path,
                                                                               monkeypatch):
    import settlement.region.crossids as crossids
    from settlement.region.crossids import cross_county_problems
    from settlement.region.unassigned import split_problems

    folder = tmp_path / "data"
    shutil.copytree(parquet_region, folder)
    parts = folder / "inpatient_cases"
    first = pq.read_table(parts / "county_id=C01" / "part-0.parquet", columns=["case_id"]).column(0)[0].as_py()
    _rewrite_part(parts / "county_id=C03" / "part-0.parquet", "case_id", 4, first)  # its 5th row
    _rewrite_part(parts / "county_id=C02" / "part-0.parquet", "community_id", 1, "ZZ01")  # its 2nd row
    split = split_big_tables(folder, _communities(folder), ["C01", "C02", "C03"], tmp_path / "w")
    (twice,) = cross_county_problems(split, tmp_path / "w")
    assert (twice.rule, twice.file, twice.row, twice.value) == (
        "region.id_two_counties", "inpatient_cases/county_id=C01/part-0.parquet", 1, first)
    assert "县（区）C03（inpatient_cases/county_id=C03/part-0.parquet 第 5 行）" in twice.message_zh
    monkeypatch.setattr(crossids, "BUCKET_ROWS", 500)  # the hashes aggregated in ≈ 10 buckets
    assert cross_county_problems(split, tmp_path / "w2") == [twice]
    (nowhere,) = split_problems(split)
    assert (nowhere.rule, nowhere.file, nowhere.row, nowhere.value) == (
        "region.community_unassigned", "inpatient_cases/county_id=C02/part-0.parquet", 2, "ZZ01")


def test_validate_takes_exactly_one_of_config_and_region(tmp_path):
    result = CliRunner().invoke(main, ["validate", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "--region" in result.output
