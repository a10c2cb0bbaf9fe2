"""A month run reads only the months whose bulletin figures are not recorded (issue 10, month runs).

Each month run records its own month's figures (settlement/monthly/month_figures.py: the
indicator, expenditure and case-flow scans of the month, and the DIP cases' exact point sums)
in the run store; a later month run takes the months recorded on the same basis (code, config,
small tables, scan engine) by each month's run in force and reads only the other months' rows
of the two big tables. Every expected number below is counted in the test from the rows.

Data: the sample county (sample_data) with the two big tables as Parquet (dates as date32, so
the loader's ``where`` keeps only the months read), the small tables as CSV.
"""

from __future__ import annotations

import re
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from settlement.monthly import month_figures as mf
from settlement.monthly.month_inputs import DATED, months_to_read, to_date
from settlement.monthly.run_month import run_month
from settlement.pipeline import load_and_validate
from settlement.store import RunStore
from test_scan_engines import contract_parquet
from test_store import db_url  # noqa: F401 — SQLite, and PostgreSQL where configured

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "sample-county.yaml"
DATA = ROOT / "sample_data"
BIG = tuple(DATED)
NOTE = "取自各月已记录的月度预结算运行"


@pytest.fixture(scope="module")
def sample():
    _, _, loaded, problems = load_and_validate(CONFIG, DATA)
    assert not [p for p in problems if p.severity == "error"]
    return loaded.tables


def parquet_copy(tables: dict, folder: Path, big: dict | None = None) -> Path:
    """sample_data's small tables (CSV) and the big tables (``big`` or the sample's) as Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in DATA.iterdir():
        if f.is_file() and f.stem not in BIG:
            shutil.copy(f, folder / f.name)
    for name in BIG:
        contract_parquet((big or {}).get(name, tables[name]), folder / f"{name}.parquet")
    return folder


@pytest.fixture(scope="module")
def folder(sample, tmp_path_factory):
    return parquet_copy(sample, tmp_path_factory.mktemp("increment") / "data")


class Runs:
    """Month runs against one store and reports folder."""

    def __init__(self, root: Path, config: Path = CONFIG):
        self.root, self.config = root, config
        self.db = f"sqlite:///{root / 'runs.db'}"
        root.mkdir(parents=True, exist_ok=True)

    def month(self, data: Path, month: str):
        out = run_month(self.config, data, self.root / "reports", self.db, month, progress=False,
                        echo=lambda *a, **k: None)
        return out

    def record(self, run_id: str):
        return RunStore.open(self.db).get_run(run_id)


def rows_in(frame: pd.DataFrame, column: str, months: list[str]) -> int:
    return int(frame[column].dt.strftime("%Y-%m").isin(months).sum())


def outputs(run_dir: Path, run_id: str) -> dict:
    """Every results/*.csv's bytes and every cell of 月度通报.xlsx (run id masked; the note that
    names the recorded months left out)."""
    out = {f"results/{p.name}": p.read_bytes().replace(run_id.encode(), b"RUN")
           for p in sorted((run_dir / "results").glob("*.csv"))}
    book = openpyxl.load_workbook(run_dir / "月度通报.xlsx")
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, str):
                    if NOTE in value:
                        continue
                    value = value.replace(run_id, "RUN")
                if value is not None:
                    out[f"{ws.title}!{cell.coordinate}"] = value
    return out


def same_but_paid_to_date(a: dict, b: dict) -> list[str]:
    """The outputs that differ, but dip_presettlement.csv (its paid_to_date is the store's)."""
    assert a.keys() == b.keys()
    return [k for k in a if a[k] != b[k] and k != "results/dip_presettlement.csv"]


def note_of(run_dir: Path) -> str:
    ws = openpyxl.load_workbook(run_dir / "月度通报.xlsx")["口径说明"]
    return " ".join(str(c.value) for row in ws.iter_rows() for c in row
                    if isinstance(c.value, str) and NOTE in c.value)


def test_exact_sums_are_the_fractions_sums():
    values = np.array([0.1, 0.2, 0.3, 1e-9, 123456.789, -0.5, np.nan, 2.0 ** 60])
    codes = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    got = mf.exact_sums(values, codes, 3)
    assert got[0] == Fraction(0.1) + Fraction(0.2) + Fraction(0.3)  # not 0.6000000000000001
    assert got[1] == Fraction(1e-9) + Fraction(123456.789) - Fraction(1, 2)  # NaN counts 0
    assert got[2] == 2 ** 60


def test_months_to_read():
    assert months_to_read("2025-03", {"2025-01": "a", "2025-02": "b"}, persons=False) == ["2025-03"]
    assert months_to_read("2025-03", {"2025-01": "a"}, persons=False) == ["2025-02", "2025-03"]
    assert months_to_read("2025-03", {"2025-01": "a", "2025-02": "b"}, persons=True) == [
        "2025-01", "2025-02", "2025-03"]


@pytest.fixture(scope="module")
def from_scratch(folder, tmp_path_factory):
    """January … April in order in one store, every month's figures deleted before the next
    month runs: each run reads its year to date from the data (same paid_to_date as in_order)."""
    runs = Runs(tmp_path_factory.mktemp("scratch"))
    out = {}
    for month in ("2025-01", "2025-02", "2025-03", "2025-04"):
        with sa.create_engine(runs.db).begin() as conn:
            if month != "2025-01":
                conn.execute(sa.text("DELETE FROM month_figures"))
        done = runs.month(folder, month)
        assert done.ok
        out[month] = (done, runs)
    return out


@pytest.fixture(scope="module")
def in_order(folder, tmp_path_factory):
    """January, February, March, April run in order in one store."""
    runs = Runs(tmp_path_factory.mktemp("in_order"))
    done = {m: runs.month(folder, m) for m in ("2025-01", "2025-02", "2025-03", "2025-04")}
    assert all(d.ok for d in done.values())
    return runs, done


def test_a_month_run_reads_only_its_own_month_when_the_months_before_are_recorded(sample, in_order,
                                                                                   from_scratch):
    runs, done = in_order
    for month in ("2025-02", "2025-03", "2025-04"):
        read = runs.record(done[month].run_id).input_rows
        for name, column in DATED.items():
            assert read[name] == rows_in(sample[name], column, [month]) > 0, (month, name)
    # the same month from scratch reads the year to date
    scratch = from_scratch["2025-03"][1].record(from_scratch["2025-03"][0].run_id).input_rows
    for name, column in DATED.items():
        assert scratch[name] == rows_in(sample[name], column, ["2025-01", "2025-02", "2025-03"])
    # the note names the recorded months and their runs
    note = note_of(done["2025-03"].run_dir)
    assert "2025-01" in note and "2025-02" in note and done["2025-01"].run_id in note
    assert not note_of(from_scratch["2025-03"][0].run_dir)


def test_the_year_to_date_from_recorded_months_is_the_one_read_from_the_data(in_order, from_scratch):
    _, done = in_order
    for month in ("2025-03", "2025-04"):  # a quarter's end (本季度) and the month after
        scratch = from_scratch[month][0]
        a, b = outputs(done[month].run_dir, done[month].run_id), outputs(scratch.run_dir, scratch.run_id)
        assert a.keys() == b.keys()
        assert [k for k in a if a[k] != b[k]] == []


def test_the_recorded_figures_are_exact_and_the_months_scans(sample, in_order):
    runs, done = in_order
    engine = RunStore.open(runs.db).engine
    with engine.connect() as conn:
        basis = conn.execute(sa.text("SELECT DISTINCT basis FROM month_figures")).scalars().all()
    assert len(basis) == 1  # one data folder, one config, one code
    got = mf.recorded_figures(engine, "示例县", 2025, "base", "2025-04", basis[0])
    assert got.runs == {m: done[m].run_id for m in ("2025-01", "2025-02", "2025-03")}
    # the county's inpatient cases of February: the rows discharged in February
    counts = mf.counts_frame(got.frames, ["2025-02"]).set_index("scope")
    cases = sample["inpatient_cases"]
    assert counts.loc["county", "ip_all"] == rows_in(cases, "discharge_date", ["2025-02"])
    claims = sample["outpatient_claims"]
    february = claims["service_date"].dt.strftime("%Y-%m") == "2025-02"
    assert counts.loc["county", "op_cost"] == int(claims.loc[february, "total_cost"].sum())
    points = got.frames["dip"]["points"]
    assert all(isinstance(p, Fraction) for p in points) and len(points)


def _fail(db: str, run_id: str) -> None:
    with sa.create_engine(db).begin() as conn:
        conn.execute(sa.text("UPDATE runs SET status = 'failed' WHERE run_id = :r"), {"r": run_id})


def _spoil(db: str, run_id: str) -> None:
    """Figures that no data gives: a run that used them would show them."""
    with sa.create_engine(db).begin() as conn:
        conn.execute(sa.text("UPDATE month_figures SET v1 = v1 * 1000 + 7, v2 = v2 * 1000 + 7 "
                             "WHERE run_id = :r AND figure <> 'month'"), {"r": run_id})


def test_an_unrecorded_earlier_month_is_read_from_the_data(sample, folder, from_scratch, tmp_path):
    runs = Runs(tmp_path)
    assert runs.month(folder, "2025-01").ok
    march = runs.month(folder, "2025-03")  # February never run
    assert march.ok
    read = runs.record(march.run_id).input_rows
    for name, column in DATED.items():
        assert read[name] == rows_in(sample[name], column, ["2025-02", "2025-03"])
    scratch = from_scratch["2025-03"][0]
    a, b = outputs(march.run_dir, march.run_id), outputs(scratch.run_dir, scratch.run_id)
    assert same_but_paid_to_date(a, b) == []
    assert "2025-01" in note_of(march.run_dir) and "2025-02" not in note_of(march.run_dir)


def test_a_superseded_or_failed_month_run_is_not_used(sample, folder, from_scratch, tmp_path):
    runs = Runs(tmp_path)
    first = runs.month(folder, "2025-01")
    again = runs.month(folder, "2025-01")  # supersedes the first
    february = runs.month(folder, "2025-02")
    assert first.ok and again.ok and february.ok
    _spoil(runs.db, first.run_id)  # superseded: never read
    _fail(runs.db, february.run_id)  # failed: February read from the data
    march = runs.month(folder, "2025-03")
    assert march.ok
    read = runs.record(march.run_id).input_rows
    assert read["inpatient_cases"] == rows_in(sample["inpatient_cases"], "discharge_date",
                                              ["2025-02", "2025-03"])
    note = note_of(march.run_dir)
    assert again.run_id in note and first.run_id not in note and february.run_id not in note
    scratch = from_scratch["2025-03"][0]
    a, b = outputs(march.run_dir, march.run_id), outputs(scratch.run_dir, scratch.run_id)
    assert same_but_paid_to_date(a, b) == []


def test_a_changed_small_table_or_config_makes_the_recorded_months_not_count(sample, tmp_path):
    data = parquet_copy(sample, tmp_path / "data")
    runs = Runs(tmp_path / "a")
    assert runs.month(data, "2025-01").ok and runs.month(data, "2025-02").ok
    units = data / "units.csv"
    units.write_text(units.read_text(encoding="utf-8").replace("卫生院", "卫生院 ", 1), encoding="utf-8")
    march = runs.month(data, "2025-03")
    assert march.ok
    ytd = ["2025-01", "2025-02", "2025-03"]
    assert runs.record(march.run_id).input_rows["inpatient_cases"] == rows_in(
        sample["inpatient_cases"], "discharge_date", ytd)
    assert not note_of(march.run_dir)
    # the same small tables again, the config changed (one comment more: another SHA-256)
    config = tmp_path / "county.yaml"
    config.write_text(CONFIG.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    other = Runs(tmp_path / "a", config)
    april = other.month(data, "2025-04")
    assert april.ok
    assert other.record(april.run_id).input_rows["inpatient_cases"] == rows_in(
        sample["inpatient_cases"], "discharge_date", [*ytd, "2025-04"])
    # and with that config, the months it recorded count for the next month
    may = other.month(data, "2025-05")  # January … March were recorded with the other config
    assert other.record(may.run_id).input_rows["inpatient_cases"] == rows_in(
        sample["inpatient_cases"], "discharge_date", [*ytd, "2025-05"])


def test_a_key_repeated_from_a_recorded_month_is_reported(sample, tmp_path):
    claims = sample["outpatient_claims"].reset_index(drop=True).copy()
    months = claims["service_date"].dt.strftime("%Y-%m")
    january_id = claims.loc[months == "2025-01", "claim_id"].iloc[5]
    at = claims.index[months == "2025-03"][3]
    claims.loc[at, "claim_id"] = january_id
    data = parquet_copy(sample, tmp_path / "data", {"outpatient_claims": claims})
    runs = Runs(tmp_path / "a")
    assert runs.month(data, "2025-01").ok and runs.month(data, "2025-02").ok
    march = runs.month(data, "2025-03")
    assert not march.ok
    repeated = [p for p in march.problems if p.rule == "key.duplicate"]
    assert [(p.table, p.value) for p in repeated] == [("outpatient_claims", str(january_id))]
    assert "2025-01" in repeated[0].message_zh
    # named where the user finds it: March's row (position + 1 in the Parquet file, as written)
    assert (repeated[0].file, repeated[0].row) == ("outpatient_claims.parquet", int(at) + 1)
    # read from scratch, the validation's own key check finds it
    scratch = Runs(tmp_path / "b").month(data, "2025-03")
    assert not scratch.ok and any(p.rule == "key.duplicate" and p.table == "outpatient_claims"
                                  for p in scratch.problems)


def test_a_key_repeated_in_a_frame_of_the_year_to_date_is_reported():
    from settlement.loader import LoadResult

    dates = pd.to_datetime(["2025-01-03", "2025-02-04", "2025-03-05", "2025-03-06"])
    claims = pd.DataFrame({"claim_id": ["a", "b", "a", "c"], "service_date": dates},
                          index=pd.Index([2, 3, 4, 5], name="row"))  # the user's rows (header = 1)
    loaded = LoadResult()
    loaded.tables["outpatient_claims"] = claims
    problems = to_date(loaded, "2025-03", ["2025-03"])
    assert [(p.rule, p.value, p.row) for p in problems] == [("key.duplicate", "a", 4)]
    assert "2025-01" in problems[0].message_zh
    assert list(loaded.tables["outpatient_claims"]["claim_id"]) == ["a", "c"]


def test_the_persons_basis_reads_the_year_to_date(sample, folder, tmp_path):
    text = CONFIG.read_text(encoding="utf-8")
    basis = re.compile(r"(visit_rate_basis:.*?values: \{2023-01-01: )visits\}", re.S)
    assert basis.search(text)
    config = tmp_path / "persons.yaml"
    config.write_text(basis.sub(r"\1persons}", text, count=1), encoding="utf-8")
    runs = Runs(tmp_path / "a", config)
    assert runs.month(folder, "2025-01").ok and runs.month(folder, "2025-02").ok
    march = runs.month(folder, "2025-03")
    assert march.ok
    read = runs.record(march.run_id).input_rows
    for name, column in DATED.items():
        assert read[name] == rows_in(sample[name], column, ["2025-01", "2025-02", "2025-03"])
    scratch = Runs(tmp_path / "b", config).month(folder, "2025-03")
    a, b = outputs(march.run_dir, march.run_id), outputs(scratch.run_dir, scratch.run_id)
    assert same_but_paid_to_date(a, b) == []
    assert not note_of(march.run_dir)


def test_the_recorded_figures_read_back_are_the_scanned_ones(db_url, tmp_path):
    """Round trip through the run store (SQLite, and PostgreSQL's binary COPY where configured):
    the tiny county (CSV, frames) January and May (K004 at the city's X1) as recorded = as
    scanned from the data."""
    from pandas.testing import assert_frame_equal

    from fixtures.tiny_county import write_folder
    from settlement.monthly.presettle import year_to_date_cases
    from settlement.scan import resolve

    data = write_folder(tmp_path / "tiny")
    for month in ("2025-01", "2025-05"):
        assert run_month(CONFIG, data, tmp_path / "reports", db_url, month, progress=False,
                         echo=lambda *a, **k: None).ok
    engine = RunStore.open(db_url).engine
    with engine.connect() as conn:
        basis = conn.execute(sa.text("SELECT DISTINCT basis FROM month_figures")).scalars().all()
    got = mf.recorded_figures(engine, "示例县", 2025, "base", "2025-06", basis[0])
    assert sorted(got.runs) == ["2025-01", "2025-05"]
    _, resolved, loaded, _ = load_and_validate(CONFIG, data)
    dip = year_to_date_cases(loaded.tables, resolved.params.dip, "2025-05", resolved.section_segments("dip"))
    want = mf.from_data(loaded.tables, dip, ["2025-01", "2025-05"], engine=resolve(None))
    for figure, (keys, _) in mf.FIGURES.items():
        order = ["month", *keys]
        a = got.frames[figure].sort_values(order, na_position="last").reset_index(drop=True)
        b = want[figure].sort_values(order, na_position="last").reset_index(drop=True)
        assert len(b) > 0, figure
        assert_frame_equal(a, b, obj=figure)


def test_the_head_of_the_migration_files_is_alembics_and_a_current_database_skips_alembic(tmp_path,
                                                                                        monkeypatch):
    from settlement.store import db

    assert db.head_of_files() == db.head_revision() == "0009"
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = RunStore.open(url)
    assert store.upgrade() == (None, "0009")  # a new database: Alembic creates the tables
    import alembic.command

    def refused(*a, **k):
        raise AssertionError("Alembic asked to upgrade a database at the head")

    monkeypatch.setattr(alembic.command, "upgrade", refused)
    assert store.upgrade() == ("0009", "0009")


# ------------------------------------------------------------------ recorded months whose rows changed
CHANGED = "有变化"


def outputs_but_notes(run_dir: Path, run_id: str) -> dict:
    """:func:`outputs` without the 口径 note of the months read again (the one difference)."""
    return {k: v for k, v in outputs(run_dir, run_id).items()
            if not (isinstance(v, str) and CHANGED in v)}


def _february(frame: pd.DataFrame, column: str) -> pd.Index:
    return frame.index[(frame[column].dt.strftime("%Y-%m") == "2025-02").to_numpy(bool)]


def _corrected(sample: dict, change: str) -> dict:
    """The big tables with one correction of February: an amount re-adjudicated, a case
    deleted, a late claim added."""
    cases = sample["inpatient_cases"].reset_index(drop=True).copy()
    claims = sample["outpatient_claims"].reset_index(drop=True).copy()
    if change == "amount":
        at = _february(claims, "service_date")[7]
        claims.loc[at, "fund_paid"] = claims.loc[at, "fund_paid"] - 1  # one fen less
    elif change == "deleted":
        cases = cases.drop(index=_february(cases, "discharge_date")[3]).reset_index(drop=True)
    else:  # a late claim of February, exported in March
        late = claims.loc[[_february(claims, "service_date")[11]]].copy()
        late["claim_id"] = late["claim_id"].astype(str) + "L"
        claims = pd.concat([claims, late], ignore_index=True)
    return {"inpatient_cases": cases, "outpatient_claims": claims}


@pytest.mark.parametrize("change", ["amount", "deleted", "late"])
def test_a_recorded_month_whose_rows_changed_is_read_again(sample, tmp_path, change):
    data = parquet_copy(sample, tmp_path / "data")
    runs = Runs(tmp_path / "a")
    january, february = runs.month(data, "2025-01"), runs.month(data, "2025-02")
    assert january.ok and february.ok
    assert not [p for p in february.problems if p.rule == "month.data_changed"]  # January unchanged
    big = _corrected(sample, change)
    for name in BIG:
        contract_parquet(big[name], data / f"{name}.parquet")
    march = runs.month(data, "2025-03")
    assert march.ok
    # February (changed) and March read from the data; January (unchanged) from its run
    read = runs.record(march.run_id).input_rows
    for name, column in DATED.items():
        assert read[name] == rows_in(big[name], column, ["2025-02", "2025-03"]), name
    said = [p for p in march.problems if p.rule == "month.data_changed"]
    assert len(said) == 1 and said[0].severity == "warning"
    assert said[0].message_zh.startswith("2025-02 的数据") and "已按现数据重新计算" in said[0].message_zh
    assert february.run_id in said[0].message_zh
    note = note_of(march.run_dir)
    assert "2025-01" in note and "2025-02" not in note
    book = openpyxl.load_workbook(march.run_dir / "月度通报.xlsx")["口径说明"]
    changed = [c.value for row in book.iter_rows() for c in row
               if isinstance(c.value, str) and CHANGED in c.value]
    assert len(changed) == 1 and "2025-02" in changed[0] and "重新读取" in changed[0]
    # the figures are the ones read from scratch on the corrected data
    scratch = Runs(tmp_path / "b").month(data, "2025-03")
    assert scratch.ok and not [p for p in scratch.problems if p.rule == "month.data_changed"]
    a = outputs_but_notes(march.run_dir, march.run_id)
    b = outputs_but_notes(scratch.run_dir, scratch.run_id)
    assert same_but_paid_to_date(a, b) == []
    # and March recorded February's figures? no: only its own month, on the corrected rows
    engine = RunStore.open(runs.db).engine
    with engine.connect() as conn:
        on = conn.execute(sa.text("SELECT DISTINCT basis FROM month_figures")).scalars().all()
    got = mf.recorded_figures(engine, "示例县", 2025, "base", "2025-04", on[0])
    assert got.runs == {"2025-01": january.run_id, "2025-02": february.run_id, "2025-03": march.run_id}


def test_unchanged_rows_in_another_order_read_nothing_again(sample, tmp_path, in_order):
    _, done = in_order
    assert not [p for d in done.values() for p in d.problems if p.rule == "month.data_changed"]
    data = parquet_copy(sample, tmp_path / "data")
    runs = Runs(tmp_path / "a")
    assert runs.month(data, "2025-01").ok and runs.month(data, "2025-02").ok
    for name in BIG:  # the same rows written again in reverse order
        contract_parquet(sample[name].iloc[::-1], data / f"{name}.parquet")
    march = runs.month(data, "2025-03")
    assert march.ok and not [p for p in march.problems if p.rule == "month.data_changed"]
    for name, column in DATED.items():
        assert runs.record(march.run_id).input_rows[name] == rows_in(sample[name], column, ["2025-03"])


def test_the_fingerprint_counts_the_rows_and_sums_the_fen(sample, folder):
    from settlement.monthly import fingerprint as fp

    months = ["2025-01", "2025-02"]
    parquet = fp.of_parquet(folder, list(BIG), months)
    for name, column in DATED.items():
        frame = sample[name]
        frames = fp.of_frame(name, frame, months)
        for m in months:
            rows = frame.loc[(frame[column].dt.strftime("%Y-%m") == m).to_numpy(bool)]
            money = [int(rows[c].fillna(0).sum()) for c in fp.money_columns(name)]
            assert parquet[(m, name)][0] == frames[(m, name)][0] == len(rows)
            assert list(parquet[(m, name)][2:]) == list(frames[(m, name)][2:]) == money
    # one fen more in one row: the hash and the sum change, the count does not
    claims = sample["outpatient_claims"].copy()
    claims.loc[claims.index[0], "fund_paid"] += 1
    month = claims["service_date"].iloc[0].strftime("%Y-%m")
    before = fp.of_frame("outpatient_claims", sample["outpatient_claims"], [month])[(month, "outpatient_claims")]
    after = fp.of_frame("outpatient_claims", claims, [month])[(month, "outpatient_claims")]
    assert after[0] == before[0] and after[1] != before[1]
    assert after[3] == before[3] + 1  # fund_paid: the second money column


def test_a_changed_month_of_a_csv_folder_is_read_again(sample, tmp_path):
    """CSV: read whole, fingerprinted from the frames after the load."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    runs = Runs(tmp_path / "a")
    january, february = runs.month(data, "2025-01"), runs.month(data, "2025-02")
    assert january.ok and february.ok
    assert not [p for p in february.problems if p.rule == "month.data_changed"]
    claims = sample["outpatient_claims"]
    target = str(claims.loc[_february(claims, "service_date")[7], "claim_id"])
    path = data / "outpatient_claims.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    at = next(i for i, line in enumerate(lines) if line.split(",")[header.index("claim_id")] == target)
    cells = lines[at].rstrip("\r\n").split(",")
    cells[header.index("fund_paid")] = f"{float(cells[header.index('fund_paid')]) + 1:.2f}"
    lines[at] = ",".join(cells) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    march = runs.month(data, "2025-03")
    assert march.ok
    said = [p for p in march.problems if p.rule == "month.data_changed"]
    assert len(said) == 1 and said[0].message_zh.startswith("2025-02 的数据")
    scratch = Runs(tmp_path / "b").month(data, "2025-03")
    a = outputs_but_notes(march.run_dir, march.run_id)
    b = outputs_but_notes(scratch.run_dir, scratch.run_id)
    assert same_but_paid_to_date(a, b) == []
    assert "2025-01" in note_of(march.run_dir) and "2025-02" not in note_of(march.run_dir)


@pytest.mark.parametrize("kind", ["decimal", "double"])
def test_the_fingerprints_fen_are_exact_yuan_decimal_or_double(tmp_path, kind):
    """Σ fen of yuan cells: a DECIMAL(18, 2) column summed exactly then × 100, a DOUBLE one
    rounded to the fen cell by cell (0.29 × 100 = 28.999999999999996 in floats) — the same
    integers as the yuan written, counted here with Decimal."""
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from settlement.monthly import fingerprint as fp

    yuan = ["0.29", "0.01", "12345678901.23", "-7.05", "0.29"]
    days = pd.to_datetime(["2025-03-01", "2025-03-31", "2025-03-15", "2025-04-01", "2025-02-28"]).date
    money = fp.money_columns("outpatient_claims")
    values = ([Decimal(y) for y in yuan], pa.decimal128(18, 2)) if kind == "decimal" else \
        ([float(y) for y in yuan], pa.float64())
    table = pa.table({"service_date": pa.array(days, pa.date32()),
                      **{c: pa.array(values[0], values[1]) for c in money}})
    pq.write_table(table, tmp_path / "outpatient_claims.parquet")
    got = fp.of_parquet(tmp_path, ["outpatient_claims"], ["2025-02", "2025-03", "2025-04"])
    for month, rows in {"2025-02": [4], "2025-03": [0, 1, 2], "2025-04": [3]}.items():
        fen = sum(int(Decimal(yuan[i]) * 100) for i in rows)
        assert got[(month, "outpatient_claims")][0] == len(rows)
        assert list(got[(month, "outpatient_claims")][2:]) == [fen] * len(money), month
