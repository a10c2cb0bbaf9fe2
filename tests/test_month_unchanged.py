"""A recorded month whose big-table files are the ones its run read is not fingerprinted again
(settlement/monthly/unchanged.py, issue 10: the fingerprint pass only where a file changed).

The month run hashes the big tables' files once (the loader takes the digests from there),
compares them with the files each recorded month's run read (``run_inputs``), and runs the
DuckDB fingerprint pass only for the months not proven unchanged — plus its own month, to
record. The pass is watched by wrapping ``fingerprint.of_parquet``: the months it is asked for
are the evidence (the month's own pass first — it runs while the files are hashed — then the
recorded months not proven, if any). Data: the sample county, big tables as Parquet (a file, or a folder of one
part per month), as in tests/test_month_increment.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from settlement.monthly import fingerprint as fp
from settlement.monthly import unchanged
from test_month_increment import (BIG, Runs, _corrected, _february, outputs, outputs_but_notes,
                                  parquet_copy, rows_in, same_but_paid_to_date)
from test_month_increment import sample  # noqa: F401 — the module's fixture
from test_scan_engines import contract_parquet

CLAIMS, CASES = "outpatient_claims", "inpatient_cases"


@pytest.fixture
def passes(monkeypatch):
    """The months each call of the fingerprint pass was asked for: [{table: [months]}]."""
    calls, real = [], fp.of_parquet

    def spy(folder, tables, months):
        asked = {t: list(months[t] if isinstance(months, dict) else months) for t in tables}
        calls.append({t: m for t, m in asked.items() if m})
        return real(folder, tables, months)

    monkeypatch.setattr(fp, "of_parquet", spy)
    return calls


def watched(runs: Runs, data: Path, month: str, passes: list):
    """(the month run, the months it said changed), the pass's calls of the run alone in ``passes``."""
    passes.clear()
    done = runs.month(data, month)
    assert done.ok
    return done, [p.message_zh[:7] for p in done.problems if p.rule == "month.data_changed"]


def test_unchanged_files_are_not_fingerprinted_and_the_figures_are_those_read_from_scratch(
        sample, tmp_path, passes, monkeypatch):  # noqa: F811
    import settlement.loader as loader

    data = parquet_copy(sample, tmp_path / "data")
    runs = Runs(tmp_path / "a")
    assert runs.month(data, "2025-01").ok and runs.month(data, "2025-02").ok
    hashed = []
    real = loader.sha256_file
    monkeypatch.setattr(loader, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    passes.clear()
    march = runs.month(data, "2025-03")
    assert march.ok
    # January and February: their files are those their runs read → only March's own rows
    assert passes == [{CASES: ["2025-03"], CLAIMS: ["2025-03"]}]
    assert not [p for p in march.problems if p.rule == "month.data_changed"]
    # each big file hashed once in the run (before the load; the loader took the digest)
    assert sorted(n for n in hashed if n.split(".")[0] in BIG) == [f"{CASES}.parquet", f"{CLAIMS}.parquet"]
    for name, column in {CASES: "discharge_date", CLAIMS: "service_date"}.items():
        assert runs.record(march.run_id).input_rows[name] == rows_in(sample[name], column, ["2025-03"])
    # the figures: those of a March run that reads January … March from the data
    scratch = Runs(tmp_path / "b").month(data, "2025-03")
    assert scratch.ok
    a, b = outputs(march.run_dir, march.run_id), outputs(scratch.run_dir, scratch.run_id)
    assert same_but_paid_to_date(a, b) == []


def test_a_changed_file_is_fingerprinted_over_every_recorded_month(sample, tmp_path, passes):  # noqa: F811
    data = parquet_copy(sample, tmp_path / "data")
    runs = Runs(tmp_path / "a")
    january, february = runs.month(data, "2025-01"), runs.month(data, "2025-02")
    assert january.ok and february.ok
    big = _corrected(sample, "amount")  # one claim of February one fen less
    contract_parquet(big[CLAIMS], data / f"{CLAIMS}.parquet")
    march, said = watched(runs, data, "2025-03", passes)
    # the claims' file differs: every recorded month checked; the cases' file is the same
    assert passes == [{CASES: ["2025-03"], CLAIMS: ["2025-03"]}, {CLAIMS: ["2025-01", "2025-02"]}]
    assert said == ["2025-02"]
    assert runs.record(march.run_id).input_rows[CLAIMS] == rows_in(big[CLAIMS], "service_date",
                                                                   ["2025-02", "2025-03"])


def test_the_same_bytes_under_a_new_modification_time_are_unchanged(sample, tmp_path, passes):  # noqa: F811
    data = parquet_copy(sample, tmp_path / "data")
    runs = Runs(tmp_path / "a")
    assert runs.month(data, "2025-01").ok and runs.month(data, "2025-02").ok
    for name in BIG:  # copied away and back (a new inode too), a day later
        path = data / f"{name}.parquet"
        shutil.copy(path, tmp_path / path.name)
        path.unlink()
        shutil.copy(tmp_path / path.name, path)
        later = path.stat().st_mtime + 86_400
        os.utime(path, (later, later))
    _, said = watched(runs, data, "2025-03", passes)
    assert said == [] and passes == [{CASES: ["2025-03"], CLAIMS: ["2025-03"]}]


def _month_parts(frame: pd.DataFrame, column: str, folder: Path, months: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for m in months:
        contract_parquet(frame.loc[(frame[column].dt.strftime("%Y-%m") == m).to_numpy(bool)],
                         folder / f"{m}.parquet")


def test_a_folder_of_parts_a_part_added_per_month(sample, tmp_path, passes):  # noqa: F811
    """The claims as one part per month, a part added each month: the months before are proven
    by their unchanged parts and the new part's date statistics. A late claim of February in
    April's part stretches the part's date range over February and March: both are checked,
    February is read again (its rows changed), January is not checked."""
    data = parquet_copy(sample, tmp_path / "data")
    (data / f"{CLAIMS}.parquet").unlink()
    claims, parts = sample[CLAIMS], data / CLAIMS
    runs = Runs(tmp_path / "a")
    for m in ("2025-01", "2025-02"):
        _month_parts(claims, "service_date", parts, [m])
        assert runs.month(data, m).ok
    _month_parts(claims, "service_date", parts, ["2025-03"])
    _, said = watched(runs, data, "2025-03", passes)
    assert said == [] and passes == [{CASES: ["2025-03"], CLAIMS: ["2025-03"]}]
    # April's part brings a late claim served in February
    late = claims.loc[[_february(claims, "service_date")[11]]].copy()
    late["claim_id"] = late["claim_id"].astype(str) + "L"
    april = claims.loc[(claims["service_date"].dt.strftime("%Y-%m") == "2025-04").to_numpy(bool)]
    contract_parquet(pd.concat([april, late]), parts / "2025-04.parquet")
    done, said = watched(runs, data, "2025-04", passes)
    # the part's one row group spans 2025-02-xx … 2025-04-30: February and March may hold its
    # rows and are checked; March's fingerprint is found the same, February's is not
    assert passes == [{CASES: ["2025-04"], CLAIMS: ["2025-04"]}, {CLAIMS: ["2025-02", "2025-03"]}]
    assert said == ["2025-02"]
    assert runs.record(done.run_id).input_rows[CLAIMS] == \
        rows_in(claims, "service_date", ["2025-02", "2025-04"]) + 1
    # the figures: those of an April run that reads the whole year to date from the parts
    scratch = Runs(tmp_path / "b").month(data, "2025-04")
    a = outputs_but_notes(done.run_dir, done.run_id)
    b = outputs_but_notes(scratch.run_dir, scratch.run_id)
    assert same_but_paid_to_date(a, b) == []


def _dated(path: Path, days: list[str], statistics: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"service_date": pa.array(pd.to_datetime(days).date, pa.date32())})
    pq.write_table(table, path, write_statistics=statistics)


def test_the_rule_is_one_sided(tmp_path):
    """Proven only when every file read then has its digest now and every other file's row
    groups' statistics exclude the month; anything else is checked by the fingerprint."""
    folder = tmp_path / "d"
    _dated(folder / CLAIMS / "a.parquet", ["2025-01-03", "2025-01-30"])
    _dated(folder / CLAIMS / "b.parquet", ["2025-02-01", "2025-02-28"])
    now = unchanged.digests(folder, [CLAIMS])[CLAIMS]
    assert sorted(now) == [f"{CLAIMS}/a.parquet", f"{CLAIMS}/b.parquet"]
    a = {f"{CLAIMS}/a.parquet": now[f"{CLAIMS}/a.parquet"]}
    months = {"2025-01": "r1"}

    def proven(inputs, current=now):
        return unchanged.unchanged_months(folder, CLAIMS, "service_date", current, inputs, months)

    assert proven({"r1": a}) == {"2025-01"}  # b.parquet: February only
    assert proven({"r1": {**a, "units.csv": "x"}}) == {"2025-01"}  # other tables' files: not the claims'
    assert proven({"r1": {f"{CLAIMS}/a.parquet": "0" * 64}}) == set()  # a.parquet differs
    assert proven({"r1": {**a, f"{CLAIMS}/gone.parquet": "1" * 64}}) == set()  # a file read then is gone
    assert proven({"r1": {}}) == set() and proven({}) == set()  # nothing recorded of the table
    _dated(folder / CLAIMS / "b.parquet", ["2025-01-31", "2025-02-28"])  # reaches into January
    assert proven({"r1": a}, unchanged.digests(folder, [CLAIMS])[CLAIMS]) == set()
    _dated(folder / CLAIMS / "b.parquet", ["2025-02-01"], statistics=False)  # no statistics
    assert proven({"r1": a}, unchanged.digests(folder, [CLAIMS])[CLAIMS]) == set()
    (folder / CLAIMS / "b.parquet").unlink()
    (folder / CLAIMS / "notes.csv").write_text("service_date\n2025-02-01\n", encoding="utf-8")
    assert proven({"r1": a}, unchanged.digests(folder, [CLAIMS])[CLAIMS]) == set()  # not Parquet
    (folder / CLAIMS / "notes.csv").unlink()
    _dated(folder / CLAIMS / "service_date=2025-02-01" / "c.parquet", ["2025-02-01"])
    assert proven({"r1": a}, unchanged.digests(folder, [CLAIMS])[CLAIMS]) == set()  # a partition key
    shutil.rmtree(folder / CLAIMS / "service_date=2025-02-01")
    assert proven({"r1": a}, unchanged.digests(folder, [CLAIMS])[CLAIMS]) == {"2025-01"}


def test_an_unchanged_csv_folder_fingerprints_only_the_months_own_rows(tmp_path, monkeypatch):
    """CSV is read whole and fingerprinted from the frames: the same rule by the loader's
    digests — the recorded months' files are those their runs read, only March is hashed
    into a fingerprint; a changed claims file has its recorded months checked again."""
    from test_month_increment import DATA

    asked, real = [], fp.of_frame
    monkeypatch.setattr(fp, "of_frame", lambda table, frame, months: asked.append((table, list(months)))
                        or real(table, frame, months))
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    runs = Runs(tmp_path / "a")
    assert runs.month(data, "2025-01").ok and runs.month(data, "2025-02").ok
    asked.clear()
    march = runs.month(data, "2025-03")
    assert march.ok and not [p for p in march.problems if p.rule == "month.data_changed"]
    assert sorted(asked) == [(CASES, ["2025-03"]), (CLAIMS, ["2025-03"])]
    with open(data / f"{CLAIMS}.csv", "a", encoding="utf-8") as fh:  # the same rows, one more newline
        fh.write("\n")
    asked.clear()
    april = runs.month(data, "2025-04")
    assert april.ok and not [p for p in april.problems if p.rule == "month.data_changed"]
    assert sorted(asked) == [(CASES, ["2025-04"]), (CLAIMS, ["2025-01", "2025-02", "2025-03", "2025-04"])]
