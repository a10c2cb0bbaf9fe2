"""Big tables streamed to Parquet (settlement.spill) read, check and settle exactly as frames.

Every case is loaded twice — whole, as before, and streamed into the spill in small batches
(so that rows, duplicates and problems fall into different batches) — and the two must give
the same problems (file, the user's row, column, value, Chinese text), the same typed values
and the same validation and settlement.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fixtures.tiny_county import YEAR, tiny_county, write_folder
from settlement import csv_reader, parquet_reader
from settlement.cells import MAX_ROWS_LISTED
from settlement.loader import load_folder
from settlement.spill import SPILLED_TABLES, SpilledTable, SpillPolicy
from settlement.validation import validate_dataset
from test_hostile_inputs import ACCEPTED, REJECTED

BIG = SPILLED_TABLES


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """A few rows per batch: every test crosses batch boundaries."""
    monkeypatch.setattr(csv_reader, "CHUNK", 512)
    monkeypatch.setattr(parquet_reader, "STREAM_ROWS", 3)


def both(folder: Path, tmp_path: Path, **kwargs):
    plain = load_folder(folder, **kwargs)
    spilled = load_folder(folder, spill=SpillPolicy(tmp_path / "spill", min_bytes=0, min_rows=0), **kwargs)
    return plain, spilled


def key(problems):
    return sorted((p.rule, p.severity, p.table, p.file, p.row or 0, p.column, p.value, p.message_zh)
                  for p in problems)


def assert_same_load(plain, spilled, expect_spilled=BIG):
    assert key(plain.problems) == key(spilled.problems)
    assert {k: sorted(v.tolist()) for k, v in plain.flagged.items()} == \
        {k: sorted(v.tolist()) for k, v in spilled.flagged.items()}
    for name in expect_spilled:
        assert isinstance(spilled.tables[name], SpilledTable), name
    for name, frame in plain.tables.items():
        other = spilled.tables[name]
        assert len(other) == len(frame), name
        assert list(other.index) == list(frame.index), name
        for column in frame.columns:
            pd.testing.assert_series_equal(other[column], frame[column], check_names=False)


def many_claims(n: int = 40) -> dict:
    """The tiny county with n outpatient claims and n cases (several batches each)."""
    tables = tiny_county()
    claim, case = tables["outpatient_claims"][0], tables["inpatient_cases"][0]
    tables["outpatient_claims"] = [{**claim, "claim_id": f"M{i:04d}"} for i in range(n)]
    tables["inpatient_cases"] += [{**case, "case_id": f"K{i:04d}"} for i in range(100, 100 + n)]
    return tables


SPILLED_ACCEPTED = [a for a in ACCEPTED if a[0] in BIG]
SPILLED_REJECTED = [r for r in REJECTED if r[0] in BIG]


@pytest.mark.parametrize("table, column, text, expected", SPILLED_ACCEPTED,
                         ids=[f"{a[1]}={a[2]}" for a in SPILLED_ACCEPTED])
def test_accepted_cells_are_the_same_value_in_the_spill(tmp_path, table, column, text, expected):
    tables = many_claims()
    tables[table][0][column] = text
    plain, spilled = both(write_folder(tmp_path / "data", tables), tmp_path)
    assert_same_load(plain, spilled)
    assert spilled.tables[table][column].loc[2] == expected


@pytest.mark.parametrize("table, i, column, text, rule, words", SPILLED_REJECTED,
                         ids=[f"{r[2]}={r[3]}" for r in SPILLED_REJECTED])
def test_rejected_cells_are_reported_at_the_same_row(tmp_path, table, i, column, text, rule, words):
    tables = many_claims()
    tables[table][i][column] = text
    plain, spilled = both(write_folder(tmp_path / "data", tables), tmp_path)
    assert_same_load(plain, spilled)
    assert [(p.rule, p.row) for p in spilled.problems if p.severity == "error"] == [(rule, i + 2)]


def test_a_bad_cell_late_in_the_file_is_found_after_typed_batches(tmp_path):
    """The typed stream fails on a late batch: the file is streamed again as text, rows kept."""
    tables = many_claims()
    tables["outpatient_claims"][-1]["total_cost"] = "１２，３４５．６元"
    tables["outpatient_claims"][-2]["fund_paid"] = "abc"
    plain, spilled = both(write_folder(tmp_path / "data", tables), tmp_path)
    assert_same_load(plain, spilled)
    assert [(p.rule, p.row) for p in spilled.problems] == [("money.format", 40)]
    assert not spilled.sources["outpatient_claims"].typed


def test_a_malformed_line_is_left_to_the_whole_file_read(tmp_path):
    folder = write_folder(tmp_path / "data", many_claims())
    path = folder / "outpatient_claims.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[30] += ",surplus,fields"
    lines.insert(12, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    plain, spilled = both(folder, tmp_path)
    assert_same_load(plain, spilled, expect_spilled=("inpatient_cases",))
    assert [(p.rule, p.row) for p in spilled.problems if p.severity == "error"] == [("row.malformed", 32)]
    assert not list((tmp_path / "spill").glob("outpatient_claims*"))  # the abandoned streams are gone


def test_blank_lines_and_a_title_line_keep_row_numbers_in_the_stream(tmp_path):
    tables = many_claims()
    tables["outpatient_claims"][30]["person_id"] = ""  # required: an error at its row
    folder = write_folder(tmp_path / "data", tables)
    path = folder / "outpatient_claims.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(["门诊结算明细 2025 年", *lines]) + "\n", encoding="utf-8")
    plain, spilled = both(folder, tmp_path)
    assert_same_load(plain, spilled)
    assert [(p.rule, p.row) for p in spilled.problems if p.severity == "error"] == [("value.required", 33)]


def test_more_bad_rows_than_listed_give_one_summary_across_batches(tmp_path, monkeypatch):
    import settlement.cells as cells
    import settlement.spill as spill

    monkeypatch.setattr(cells, "MAX_ROWS_LISTED", 5)
    monkeypatch.setattr(spill, "MAX_ROWS_LISTED", 5)
    tables = many_claims(60)
    for row in tables["outpatient_claims"][3:50]:
        row["person_id"] = ""
    plain, spilled = both(write_folder(tmp_path / "data", tables), tmp_path)
    assert_same_load(plain, spilled)
    listed = [p for p in spilled.problems if p.rule == "value.required" and p.row]
    summary = [p for p in spilled.problems if p.rule == "value.required" and p.row is None]
    assert [p.row for p in listed] == [5, 6, 7, 8, 9]
    assert len(summary) == 1 and "另有 42 行" in summary[0].message_zh
    assert MAX_ROWS_LISTED == 1000  # the module constant itself is untouched


def test_parquet_parts_where_and_nul_cells_in_the_stream(tmp_path):
    tables = many_claims(30)
    folder = write_folder(tmp_path / "data", tables)
    plain_csv = load_folder(folder)
    claims = plain_csv.tables["outpatient_claims"].reset_index(drop=True)
    (folder / "outpatient_claims.csv").unlink()
    for i, part in enumerate((claims.iloc[:17], claims.iloc[17:])):
        target = folder / "outpatient_claims" / f"community_id=C{i + 1}"
        target.mkdir(parents=True)
        frame = part.drop(columns=["community_id"]).astype({c: "object" for c in ("total_cost", "fund_paid")})
        frame["total_cost"] = [f"{v / 100:.2f}" for v in part["total_cost"]]  # yuan as text: cell rules apply
        frame["fund_paid"] = [f"{v / 100:.2f}" for v in part["fund_paid"]]
        if i == 1:
            frame.loc[frame.index[2], "person_id"] = "P0\x001"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), target / "part-0.parquet")
    plain, spilled = both(folder, tmp_path)
    assert_same_load(plain, spilled)
    assert [(p.rule, p.file, p.row) for p in spilled.problems if p.rule == "text.nul"] == \
        [("text.nul", "outpatient_claims/community_id=C2/part-0.parquet", 3)]
    plain, spilled = both(folder, tmp_path / "w", where={"outpatient_claims": ("community_id", ["C2"])})
    assert_same_load(plain, spilled)
    assert len(spilled.tables["outpatient_claims"]) == 13


BROKEN = {
    "duplicate id in another batch": lambda t: t["outpatient_claims"][35].update(claim_id="M0001"),
    "unknown unit": lambda t: t["outpatient_claims"][20].update(unit_id="H9"),
    "fund above total": lambda t: t["outpatient_claims"][11].update(fund_paid="999.00"),
    "discharge before admission": lambda t: t["inpatient_cases"][30].update(discharge_date="2024-12-01"),
    "no reference cost": lambda t: t["inpatient_cases"][25].update(dip_group="G9"),
    "date outside the year": lambda t: t["outpatient_claims"][7].update(service_date="2024-03-01"),
    "enum": lambda t: t["outpatient_claims"][8].update(claim_type="genral"),
    "enum in a late batch": lambda t: t["outpatient_claims"][38].update(claim_type="genral"),
    "negative amount": lambda t: t["outpatient_claims"][17].update(total_cost="-5.00"),
    "required cell empty": lambda t: t["outpatient_claims"][29].update(person_id=""),
    "id too long": lambda t: t["outpatient_claims"][33].update(person_id="P" * 70),
    "case date outside the year": lambda t: t["inpatient_cases"][33].update(discharge_date="2026-01-02"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_validation_of_a_spilled_table_finds_the_same_problems(tmp_path, broken, monkeypatch):
    from settlement.validation import sql_checks

    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 10)  # the frames take the DuckDB path too
    tables = copy.deepcopy(many_claims())
    BROKEN[broken](tables)
    plain, spilled = both(write_folder(tmp_path / "data", tables), tmp_path)
    found = [key(x.problems + validate_dataset(x, YEAR, use_gx=False)) for x in (plain, spilled)]
    assert found[0] == found[1]
    assert any(p[1] == "error" for p in found[1]), broken
    assert plain.validation.totals.equals(spilled.validation.totals)


def test_the_sample_county_settles_to_the_same_fen_from_the_spill(tmp_path, monkeypatch):
    from settlement.config import load_config, resolve
    from settlement.pipeline import settle

    monkeypatch.setattr(csv_reader, "CHUNK", 1 << 20)  # ≈ 11 batches of the 150 000 claims
    root = Path(__file__).resolve().parent.parent
    plain, spilled = both(root / "sample_data", tmp_path)
    assert_same_load(plain, spilled)
    resolved = resolve(load_config(root / "configs" / "sample-county.yaml"))
    a, b = settle(plain.tables, resolved), settle(spilled.stage_tables(), resolved)
    assert isinstance(spilled.stage_tables()["outpatient_claims"], Path)
    assert sorted(a.tables) == sorted(b.tables)
    for name, frame in a.tables.items():
        if isinstance(frame, pd.DataFrame):
            pd.testing.assert_frame_equal(b.tables[name].reset_index(drop=True), frame.reset_index(drop=True),
                                          obj=name)


def test_the_cache_gives_the_same_table_and_problems_without_typing_again(tmp_path, monkeypatch):
    import settlement.loader as loader

    tables = many_claims()
    tables["outpatient_claims"][5]["total_cost"] = "１２，３４５．６元"  # a quirk: the text stream
    tables["outpatient_claims"][9]["person_id"] = ""  # and an error, kept with the entry
    folder = write_folder(tmp_path / "data", tables)
    policy = SpillPolicy(tmp_path / "spill", min_bytes=0, min_rows=0, cache=tmp_path / "cache")
    first = load_folder(folder, spill=policy)
    policy.clear()  # the run's own spill folder is removed; the cache stays
    typed = []
    monkeypatch.setattr(loader.cells, "typed", lambda *a, **k: typed.append(1) or pytest.fail("typed again"))
    again = load_folder(folder, spill=policy, tables=list(BIG))
    assert not typed
    assert key(again.problems) == key([p for p in first.problems if p.table in BIG])
    for name in BIG:
        assert again.sources[name] == first.sources[name]
        assert again.tables[name].path.parent == tmp_path / "cache"
        for column in first.tables[name].columns:
            pd.testing.assert_series_equal(again.tables[name][column], first.tables[name][column])
    assert {k: list(v) for k, v in again.flagged.items()} == \
        {k: list(v) for k, v in first.flagged.items() if k[0] in BIG} != {}
    for name in BIG:  # the column facts come back exactly: the rules are proved as on the first load
        assert again.tables[name].facts == first.tables[name].facts is not None
    assert first.tables["outpatient_claims"].facts["total_cost"].high == Decimal("12345.60")
    assert isinstance(again.tables["outpatient_claims"].facts["service_date"].low, dt.date)


def test_facts_survive_the_cache_entry_and_an_unreadable_entry_proves_nothing():
    from settlement.in_place import ColumnFacts
    from settlement.spill import facts_from_json, facts_to_json

    facts = {"amount": ColumnFacts(5, 1, Decimal("-0.01"), Decimal("99999999.99")),
             "day": ColumnFacts(5, 0, dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
             "n": ColumnFacts(5, 0, -3, 7), "ratio": ColumnFacts(5, 0, 0.45, 1.0),
             "kind": ColumnFacts(5, 2, longest=15, values=frozenset({"general", "two_diseases"})),
             "id": ColumnFacts(5, 0, longest=11), "empty": ColumnFacts(5, 5)}
    import json

    assert facts_from_json(json.loads(json.dumps(facts_to_json(facts)))) == facts
    assert facts_from_json(None) is None and facts_to_json(None) is None
    assert facts_from_json({"amount": {"cells": 1}}) is None  # another shape: counted, never trusted


def test_a_changed_file_is_not_served_from_the_cache(tmp_path):
    tables = many_claims()
    folder = write_folder(tmp_path / "data", tables)
    policy = SpillPolicy(tmp_path / "spill", min_bytes=0, min_rows=0, cache=tmp_path / "cache")
    load_folder(folder, spill=policy)
    tables["outpatient_claims"][3]["total_cost"] = "77.00"
    write_folder(folder, tables)
    again = load_folder(folder, spill=policy)
    assert again.tables["outpatient_claims"]["total_cost"].loc[5] == 7700
    assert len(list((tmp_path / "cache").glob("outpatient_claims-*.parquet"))) == 2


def test_parquet_parts_are_cached_per_filter(tmp_path):
    tables = many_claims(30)
    folder = write_folder(tmp_path / "data", tables)
    claims = load_folder(folder).tables["outpatient_claims"].reset_index(drop=True)
    (folder / "outpatient_claims.csv").unlink()
    for i, part in enumerate((claims.iloc[:17], claims.iloc[17:])):
        target = folder / "outpatient_claims" / f"community_id=C{i + 1}"
        target.mkdir(parents=True)
        frame = part.drop(columns=["community_id"])
        frame["total_cost"] = [f"{v / 100:.2f}" for v in part["total_cost"]]
        frame["fund_paid"] = [f"{v / 100:.2f}" for v in part["fund_paid"]]
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), target / "part-0.parquet")
    policy = SpillPolicy(tmp_path / "spill", min_bytes=0, min_rows=0, cache=tmp_path / "cache")
    for _ in range(2):
        c2 = load_folder(folder, spill=policy, where={"outpatient_claims": ("community_id", ["C2"])})
        every = load_folder(folder, spill=policy)
        assert (len(c2.tables["outpatient_claims"]), len(every.tables["outpatient_claims"])) == (13, 30)
        assert list(c2.file_hashes) == [k for k in every.file_hashes if "C2" in k or not k.startswith("outpatient")]
        assert c2.tables["outpatient_claims"].index.tolist() == list(range(1, 14))
        assert c2.sources["outpatient_claims"].parts.files == ("community_id=C2/part-0.parquet",)


def test_the_spill_keeps_the_batches_in_order_and_a_failed_write_leaves_no_file(tmp_path):
    """SpillWriter: the file holds every batch in the order given, each row's ``_row`` the
    user's row; a batch Arrow cannot write raises, and discard() (the loader's cleanup) leaves
    no half-written file."""
    from settlement.schema import contract
    from settlement.spill import SpillWriter

    schema = contract()["chronic_enrollees"]
    base = tiny_county()["chronic_enrollees"]
    loaded = load_folder(write_folder(tmp_path / "in", {"chronic_enrollees": base}))
    frame = loaded.tables["chronic_enrollees"]
    policy = SpillPolicy(tmp_path / "spill")
    writer = SpillWriter(policy, schema)
    parts = [frame.iloc[i:i + 1] for i in range(len(frame))] * 3
    for part in parts:
        writer.write(part)
    table = writer.close()
    back = pq.read_table(table.path)
    assert back.num_rows == len(table) == 3 * len(frame)
    assert back.column("_row").to_pylist() == [int(i) for p in parts for i in p.index]

    broken = SpillWriter(policy, schema)
    broken.write(frame)
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError)):
        broken.write(frame.assign(**{schema.columns[0].name: object()}))  # not text: Arrow refuses it
    broken.discard()
    assert not broken.path.exists()


def test_a_write_failing_in_the_writing_thread_is_raised_by_close_and_leaves_no_file(tmp_path):
    """The batches are written by a thread of their own: a failure there (a full disk) is not
    lost — the next write() or close() raises it, and close() removes the half-written file."""
    from settlement.schema import contract
    from settlement.spill import SpillWriter

    schema = contract()["chronic_enrollees"]
    frame = load_folder(write_folder(tmp_path / "in", {"chronic_enrollees": tiny_county()["chronic_enrollees"]})
                        ).tables["chronic_enrollees"]
    writer = SpillWriter(SpillPolicy(tmp_path / "spill"), schema)
    real, calls = writer.writer.write_table, []

    def full_disk(table, **kwargs):
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(table, **kwargs)

    writer.writer.write_table = full_disk
    with pytest.raises(OSError, match="No space"):
        for _ in range(4):
            writer.write(frame)
        writer.close()
    writer.discard()
    assert not writer.path.exists()
    assert len(calls) == 2  # nothing was written after the failure


class _Reader:
    """An Arrow-like streaming reader: ``n`` batches, the ``fail_at``-th raising instead."""

    def __init__(self, n: int, fail_at: int | None = None):
        self.n, self.fail_at, self.given = n, fail_at, 0

    def __iter__(self):
        for i in range(self.n):
            if i == self.fail_at:
                raise pa.ArrowInvalid(f"CSV parse error at batch {i}")
            self.given += 1
            yield pa.record_batch({"i": [i]})


def test_read_ahead_keeps_the_order_and_raises_the_readers_error_where_it_stopped():
    import threading

    from settlement.csv_reader import read_ahead

    assert [b.column(0)[0].as_py() for b in read_ahead(_Reader(50))] == list(range(50))
    seen = []
    with pytest.raises(pa.ArrowInvalid, match="batch 7"):
        for batch in read_ahead(_Reader(20, fail_at=7)):
            seen.append(batch.column(0)[0].as_py())
    assert seen == list(range(7))  # every batch before the bad one, none after
    assert not [t for t in threading.enumerate() if t.name == "csv-read-ahead"]


def test_read_ahead_stops_its_thread_when_the_caller_stops_early():
    """The caller raises (NotTyped at a bad batch) or drops the generator: the parsing thread
    ends and has read at most its one batch ahead, not the rest of the file."""
    import threading

    from settlement.csv_reader import read_ahead

    reader = _Reader(10_000)
    batches = read_ahead(reader)
    for i, _ in zip(range(3), batches):
        pass
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == "csv-read-ahead"]
    assert reader.given <= 3 + 2  # the three taken, the one waiting, the one being put


def test_a_clean_spill_proves_its_column_rules_and_a_broken_one_is_counted(tmp_path, monkeypatch):
    """The writing thread's facts (settlement.spill.SpillFacts) decide the column rules of a
    clean spilled table without a counting scan; a rule one row breaks is not proved, so it is
    counted over the file (and reported) as before."""
    from settlement.validation import sql_checks

    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 10)
    asked: list[tuple[str, int]] = []
    real = sql_checks.Tables.counts

    def counting(self, table, violations):
        asked.append((table, len(violations)))
        return real(self, table, violations)

    monkeypatch.setattr(sql_checks.Tables, "counts", counting)
    policy = SpillPolicy(tmp_path / "spill", min_bytes=0, min_rows=0)
    clean = load_folder(write_folder(tmp_path / "clean", many_claims()), spill=policy)
    facts = clean.tables["outpatient_claims"].facts
    assert facts["claim_type"].values and facts["claim_type"].values <= {"general", "chronic_special", "two_diseases"}
    assert facts["claim_id"].cells == 40 and facts["claim_id"].nulls == 0 and facts["claim_id"].longest == 5
    assert not [p for p in validate_dataset(clean, YEAR, use_gx=False) if p.severity == "error"]
    assert all(n == 0 for t, n in asked if t in BIG), asked  # every column rule proved: nothing counted

    asked.clear()
    tables = copy.deepcopy(many_claims())
    tables["outpatient_claims"][38].update(claim_type="genral")
    broken = load_folder(write_folder(tmp_path / "broken", tables), spill=SpillPolicy(tmp_path / "spill2", min_bytes=0,
                                                                                         min_rows=0))
    assert "genral" in broken.tables["outpatient_claims"].facts["claim_type"].values
    found = [(p.rule, p.row) for p in validate_dataset(broken, YEAR, use_gx=False) if p.column == "claim_type"]
    assert ("value.enum", 40) in found
    assert [n for t, n in asked if t == "outpatient_claims"] == [1]  # only the enum rule counted


def test_facts_stop_keeping_values_past_the_limit(tmp_path, monkeypatch):
    from settlement.spill import SpillFacts

    monkeypatch.setattr(SpillFacts, "MAX_VALUES", 3)
    monkeypatch.setattr(csv_reader, "CHUNK", 1 << 20)
    tables = many_claims()
    for i, kind in enumerate(["general", "chronic_special", "two_diseases", "genral"] * 10):
        tables["outpatient_claims"][i]["claim_type"] = kind
    loaded = load_folder(write_folder(tmp_path / "data", tables), spill=SpillPolicy(tmp_path / "s", min_bytes=0,
                                                                                       min_rows=0))
    assert loaded.tables["outpatient_claims"].facts["claim_type"].values is None  # 4 > 3: not kept, counted
    found = [(p.rule, p.row) for p in validate_dataset(loaded, YEAR, use_gx=False) if p.column == "claim_type"]
    assert ("value.enum", 5) in found
