"""A month run's big tables may be frames, Parquet paths or the loader's spilled tables
(issue 10 performance; issue 13's loader): the pre-settlement and the bulletin are the same
to the fen whichever they are, and a month run reads and checks only the year to date.

The sample county (sample_data/) is the input; its big tables are written as the contract's
Parquet (money decimal(18, 2) yuan, dates date32), as the generator and the spill write them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from settlement.monthly.bulletin_inputs import bulletin_for_month
from settlement.monthly.month_inputs import DATED, load_month, year_to_date_where
from settlement.monthly.presettle import presettle_month
from settlement.pipeline import load_and_validate
from test_scan_engines import contract_parquet

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "sample-county.yaml"
DATA = ROOT / "sample_data"
BIG = tuple(DATED)


@pytest.fixture(scope="module")
def sample():
    _, resolved, loaded, problems = load_and_validate(CONFIG, DATA)
    assert not [p for p in problems if p.severity == "error"]
    return resolved, loaded.tables


@pytest.fixture(scope="module")
def parquet_folder(sample, tmp_path_factory):
    """sample_data with the two big tables as Parquet files (the small ones stay CSV)."""
    _, t = sample
    folder = tmp_path_factory.mktemp("parquet_county")
    for f in DATA.iterdir():
        if f.is_file() and f.stem not in BIG:
            shutil.copy(f, folder / f.name)
    for name in BIG:
        contract_parquet(t[name], folder / f"{name}.parquet")
    return folder


def _bulletins_equal(a, b) -> None:
    for field in a._fields:
        x, y = getattr(a, field), getattr(b, field)
        if isinstance(x, pd.DataFrame):
            assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True), obj=field)
    assert [w.message_zh for w in a.warnings] == [w.message_zh for w in b.warnings]


def test_paths_give_the_frames_presettlement_and_bulletin(sample, parquet_folder):
    resolved, t = sample
    paths = {**t, **{name: parquet_folder / f"{name}.parquet" for name in BIG}}
    dip, dated = resolved.params.dip, resolved.section_segments("dip")
    frames = presettle_month(t, dip, "2025-05", None, dated)
    parquet = presettle_month(paths, dip, "2025-05", None, dated)
    assert len(frames.table) and frames.table["paid"].sum() > 0
    assert_frame_equal(parquet.table, frames.table)
    assert_frame_equal(parquet.cases.reset_index(drop=True), frames.cases.reset_index(drop=True))
    _bulletins_equal(bulletin_for_month(paths, resolved, "2025-06")[0],
                     bulletin_for_month(t, resolved, "2025-06")[0])


def test_spilled_tables_give_the_frames_month(sample, parquet_folder, tmp_path):
    """The loader's spill (every big table spilled here, whatever its size): the month run's
    own loading gives SpilledTable objects, and the same pre-settlement and bulletin."""
    from settlement.spill import SpilledTable, SpillPolicy

    resolved, t = sample
    policy = SpillPolicy(tmp_path / "spill", min_bytes=0, min_rows=0)
    _, _, loaded, problems = load_month(CONFIG, parquet_folder, "2025-04", policy)
    assert not [p for p in problems if p.severity == "error"]
    assert all(isinstance(loaded.tables[name], SpilledTable) for name in BIG)
    dip, dated = resolved.params.dip, resolved.section_segments("dip")
    assert_frame_equal(presettle_month(loaded.tables, dip, "2025-04", None, dated).table,
                       presettle_month(t, dip, "2025-04", None, dated).table)
    _bulletins_equal(bulletin_for_month(loaded.tables, resolved, "2025-04")[0],
                     bulletin_for_month(t, resolved, "2025-04")[0])


def _to_date(frame: pd.DataFrame, column: str, last: str) -> int:
    dates = frame[column]
    return int(((dates <= pd.Timestamp(last)) | dates.isna()).sum())


def test_a_month_run_reads_only_the_year_to_date_of_parquet(sample, parquet_folder):
    _, t = sample
    where = year_to_date_where(parquet_folder, "2025-03")
    assert set(where) == set(BIG) and where["outpatient_claims"][1][0] == "2025-01-01"
    assert where["outpatient_claims"][1][-1] == "2025-03-31" and len(where["inpatient_cases"][1]) == 90
    _, _, loaded, problems = load_month(CONFIG, parquet_folder, "2025-03")
    assert not [p for p in problems if p.severity == "error"]
    for name, column in DATED.items():
        expected = _to_date(t[name], column, "2025-03-31")
        assert 0 < expected < len(t[name])  # the sample year has rows after March
        assert len(loaded.tables[name]) == loaded.sources[name].rows == expected


def test_a_month_run_of_csv_reads_all_and_checks_the_year_to_date(sample):
    _, t = sample
    assert year_to_date_where(DATA, "2025-03") == {}  # CSV: a date must be typed before compared
    _, _, loaded, _ = load_month(CONFIG, DATA, "2025-03")
    for name, column in DATED.items():
        assert len(loaded.tables[name]) == _to_date(t[name], column, "2025-03-31")


def test_text_dates_in_parquet_are_not_filtered_while_read(sample, tmp_path):
    """A Parquet date column stored as text may hold 2025/3/1: no read-time filter then."""
    _, t = sample
    cases = t["inpatient_cases"].assign(discharge_date=t["inpatient_cases"]["discharge_date"]
                                        .dt.strftime("%Y/%-m/%-d"))
    contract_parquet(cases, tmp_path / "inpatient_cases.parquet")
    assert "inpatient_cases" not in year_to_date_where(tmp_path, "2025-03")


def test_row_groups_without_a_day_of_the_months_are_skipped_and_rows_keep_their_numbers(
        sample, parquet_folder, tmp_path, monkeypatch):
    """Claims sorted by date in row groups of 1,000: the groups after March are not read (their
    statistics hold no day of January–March); every kept row keeps its number in the file."""
    import pyarrow.parquet as pq

    from settlement.spill import SpillPolicy

    _, t = sample
    folder = tmp_path / "data"
    shutil.copytree(parquet_folder, folder)
    claims = t["outpatient_claims"].sort_values("service_date", kind="stable").reset_index(drop=True)
    contract_parquet(claims, folder / "outpatient_claims.parquet")
    table = pq.read_table(folder / "outpatient_claims.parquet")
    pq.write_table(table, folder / "outpatient_claims.parquet", row_group_size=1_000)
    assert pq.ParquetFile(folder / "outpatient_claims.parquet").metadata.num_row_groups > 3
    from settlement import parquet_reader

    verdicts, real = [], parquet_reader._group_may_hold
    monkeypatch.setattr(parquet_reader, "_group_may_hold",
                        lambda *a: verdicts.append(real(*a)) or verdicts[-1])
    policy = SpillPolicy(tmp_path / "spill", min_bytes=0, min_rows=0)
    _, _, loaded, problems = load_month(CONFIG, folder, "2025-03", policy)
    assert not [p for p in problems if p.severity == "error"]
    assert True in verdicts and verdicts.count(False) >= len(verdicts) // 2  # April–December unread
    expected = (claims.index[claims["service_date"] <= pd.Timestamp("2025-03-31")] + 1).to_numpy()
    assert list(loaded.tables["outpatient_claims"].index) == list(expected)
