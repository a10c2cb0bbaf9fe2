"""A big Parquet table already in the contract's types is used where it lies (settlement.in_place).

Every case writes the tiny county's case and claim tables as typed Parquet (the contract's
names and Arrow types, as ``settlement sample --format parquet`` writes them), breaks one cell
or none, and loads the folder three ways: whole in memory, streamed into the spill, and with
the file used in place allowed. All three must give the same problems (file, row, column,
value, Chinese text), the same flagged cells, the same typed values and the same validation —
whether the file was used in place (clean) or sent down the stream (a cell the rules touch).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.tiny_county import YEAR, write_folder
from settlement import in_place
from settlement.loader import load_folder
from settlement.schema import contract
from settlement.spill import SPILLED_TABLES, SpilledTable, SpillPolicy, arrow_schema, to_arrow
from settlement.validation import validate_dataset
from test_spill import assert_same_load, key, many_claims


def typed_folder(folder: Path, tables: dict | None = None, change=None) -> Path:
    """The tiny county with its case and claim tables as typed Parquet; ``change(name, table)``
    may alter the Arrow tables before they are written."""
    write_folder(folder, tables or many_claims())
    loaded = load_folder(folder)
    assert not loaded.problems
    schemas = contract()
    for name in SPILLED_TABLES:
        table = to_arrow(loaded.tables[name], schemas[name], arrow_schema(schemas[name])).drop_columns(["_row"])
        if change is not None:
            table = change(name, table)
        pq.write_table(table, folder / f"{name}.parquet", row_group_size=7)  # several row groups
        (folder / f"{name}.csv").unlink()
    return folder


def set_cell(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    at = table.schema.get_field_index(column)
    return table.set_column(at, table.schema.field(at), pa.array(values, type=table.schema.field(at).type))


def three(folder: Path, tmp_path: Path):
    plain = load_folder(folder)
    streamed = load_folder(folder, spill=SpillPolicy(tmp_path / "s1", min_rows=0, in_place=False))
    placed = load_folder(folder, spill=SpillPolicy(tmp_path / "s2", min_rows=0))
    return plain, streamed, placed


def used_in_place(loaded, name: str) -> bool:
    table = loaded.tables[name]
    return isinstance(table, SpilledTable) and not table.row_column


def test_a_clean_typed_file_is_used_in_place_with_the_same_values_and_rows(tmp_path):
    folder = typed_folder(tmp_path / "data")
    before = {n: hashlib.sha256((folder / f"{n}.parquet").read_bytes()).hexdigest() for n in SPILLED_TABLES}
    plain, streamed, placed = three(folder, tmp_path)
    for name in SPILLED_TABLES:
        assert used_in_place(placed, name), name
        assert placed.tables[name].path == folder / f"{name}.parquet"
        assert not placed.tables[name].owned
        assert not used_in_place(streamed, name)
    assert_same_load(plain, placed)
    assert_same_load(streamed, placed)
    assert placed.file_hashes == streamed.file_hashes == plain.file_hashes
    rows = placed.tables["outpatient_claims"].loc[pd.Series([False, True, False, True] + [False] * 36,
                                                            index=range(1, 41)), "claim_id"]
    assert rows.index.tolist() == [2, 4] and rows.tolist() == ["M0001", "M0003"]
    SpillPolicy(tmp_path / "s2").clear()
    after = {n: hashlib.sha256((folder / f"{n}.parquet").read_bytes()).hexdigest() for n in SPILLED_TABLES}
    assert after == before  # the user's files are read, never written, moved or deleted


TOUCHED = [  # (table, column, value): a cell the cell rules change or report → the stream
    ("outpatient_claims", "claim_id", " M0003"),
    ("outpatient_claims", "claim_id", "M0003\u3000"),
    ("outpatient_claims", "claim_id", "M0003\u00a0"),
    ("outpatient_claims", "person_id", ""),
    ("outpatient_claims", "unit_id", "T1\x00"),
    ("outpatient_claims", "person_id", "P0\x07"),
    ("outpatient_claims", "claim_id", "4.40102E+17"),
    ("outpatient_claims", "claim_type", "General"),
    ("outpatient_claims", "claim_type", "ｇｅｎｅｒａｌ"),
    ("outpatient_claims", "claim_type", "genral"),
    ("outpatient_claims", "claim_id", None),
    ("outpatient_claims", "service_date", None),
    ("outpatient_claims", "total_cost", Decimal("1000000000000000.00")),
    ("outpatient_claims", "total_cost", Decimal("-1000000000000000.00")),
    ("outpatient_claims", "reimbursement_ratio", float("inf")),
    ("outpatient_claims", "reimbursement_ratio", float("nan")),
    ("outpatient_claims", "service_date", dt.date(1500, 1, 1)),
    ("outpatient_claims", "referral", None),
    ("inpatient_cases", "special_points", float("-inf")),
    ("inpatient_cases", "dip_group", " G1"),
    ("inpatient_cases", "violation_deduction", None),
    ("inpatient_cases", "childbirth", None),
]


@pytest.mark.parametrize("table, column, value", TOUCHED, ids=[f"{c}={v!r}" for _, c, v in TOUCHED])
def test_a_cell_the_rules_touch_sends_the_file_down_the_stream(tmp_path, table, column, value):
    folder = typed_folder(tmp_path / "data",
                          change=lambda n, t: set_cell(t, column, 3, value) if n == table else t)
    plain, streamed, placed = three(folder, tmp_path)
    assert not used_in_place(placed, table)
    assert used_in_place(placed, ({*SPILLED_TABLES} - {table}).pop())
    assert_same_load(plain, placed)
    assert_same_load(streamed, placed)


UNTOUCHED = [  # cells the rules take as they are: in place, same values
    ("outpatient_claims", "claim_id", "M00\t03"),  # a TAB inside: kept, as the text path keeps it
    ("outpatient_claims", "claim_id", "Ｍ０００３"),
    ("outpatient_claims", "claim_type", "two_diseases"),
    ("outpatient_claims", "reimbursement_ratio", None),
    ("inpatient_cases", "special_points", 1e308),
    ("inpatient_cases", "dip_group", None),
    ("inpatient_cases", "total_cost", Decimal("999999999999999.99")),
]


@pytest.mark.parametrize("table, column, value", UNTOUCHED, ids=[f"{c}={v!r}" for _, c, v in UNTOUCHED])
def test_a_cell_the_rules_take_unchanged_keeps_the_file_in_place(tmp_path, table, column, value):
    folder = typed_folder(tmp_path / "data",
                          change=lambda n, t: set_cell(t, column, 3, value) if n == table else t)
    plain, streamed, placed = three(folder, tmp_path)
    assert used_in_place(placed, table)
    assert_same_load(plain, placed)
    assert_same_load(streamed, placed)


_ALPHABET = [" ", "\u3000", "\u00a0", "\t", "\n", "\x00", "\x01", "\x1f", "\x7f", "+", "a", "7", "中", "Ｍ", "E"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.text(alphabet=_ALPHABET, max_size=4), min_size=1, max_size=6))
def test_in_place_or_not_the_load_is_the_same_for_any_text(tmp_path_factory, cells):
    """Random text in the claims' person ids (hypothesis): loading with the file allowed in place
    gives exactly what the stream gives — problems, flagged cells and values."""
    tmp_path = tmp_path_factory.mktemp("any")

    def change(name, table):
        for i, text in enumerate(cells):
            table = set_cell(table, "person_id", 2 * i, "P" + text if i % 2 else text)
        return table if name == "outpatient_claims" else table

    folder = typed_folder(tmp_path / "data", change=change)
    _plain, streamed, placed = three(folder, tmp_path)
    assert key(streamed.problems) == key(placed.problems)
    assert_same_load(streamed, placed, expect_spilled=())
    if used_in_place(placed, "outpatient_claims"):
        assert not [p for p in streamed.problems if p.table == "outpatient_claims"]


def test_a_file_that_is_not_in_the_contracts_types_is_streamed(tmp_path):
    def change(name, table):
        if name != "outpatient_claims":
            return table
        at = table.schema.get_field_index("total_cost")
        return table.set_column(at, "total_cost", table.column("total_cost").cast(pa.float64()))

    folder = typed_folder(tmp_path / "data", change=change)
    assert not in_place.usable(folder / "outpatient_claims.parquet", contract()["outpatient_claims"])
    plain, streamed, placed = three(folder, tmp_path)
    assert not used_in_place(placed, "outpatient_claims") and used_in_place(placed, "inpatient_cases")
    assert_same_load(plain, placed)


def test_validation_of_a_file_in_place_names_the_users_rows(tmp_path, monkeypatch):
    """A duplicate claim id and an unknown unit (clean cells, broken rules): the checks run on
    the user's file through DuckDB and name the rows as the in-memory load does."""
    from settlement.validation import sql_checks

    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 10)
    tables = many_claims()
    tables["outpatient_claims"][9]["claim_id"] = tables["outpatient_claims"][4]["claim_id"]
    tables["outpatient_claims"][12]["unit_id"] = "NOPE"
    folder = typed_folder(tmp_path / "data", tables)
    plain, streamed, placed = three(folder, tmp_path)
    assert used_in_place(placed, "outpatient_claims")
    found = [key(x.problems + validate_dataset(x, YEAR, use_gx=False)) for x in (plain, streamed, placed)]
    assert found[0] == found[1] == found[2]
    rows = {(p[0], p[4]) for p in found[2] if p[1] == "error"}
    assert {r for _, r in rows} >= {5, 10, 13}


def test_a_case_table_in_place_settles_and_names_the_users_row(tmp_path):
    """The DIP stage reads the file in place; a case whose points overflow (special points
    1e308, a clean float) is reported at its row in the Parquet file, as in memory."""
    from settlement.config import load_config, resolve
    from settlement.pipeline import settle

    root = Path(__file__).resolve().parent.parent
    folder = typed_folder(tmp_path / "data", change=lambda n, t: set_cell(t, "special_points", 0, 1e308)
                          if n == "inpatient_cases" else t)
    plain, _streamed, placed = three(folder, tmp_path)
    assert used_in_place(placed, "inpatient_cases")
    resolved = resolve(load_config(root / "configs" / "sample-county.yaml"))
    a, b = settle(plain.tables, resolved), settle(placed.stage_tables(), resolved)
    rows = [[(p.rule, p.row) for p in r.problems if p.rule == "dip.points_not_finite"] for r in (a, b)]
    assert rows[0] == rows[1] == [("dip.points_not_finite", 1)]


def test_a_month_runs_days_keep_the_same_rows_in_place_as_in_the_stream(tmp_path, monkeypatch):
    """The loader's ``where`` (a month run's days, 1 January … 31 March): the file used in place
    holds exactly the rows the stream keeps, with the user's rows, and is checked on those only
    — an unknown unit in April is not March's problem, one in February is."""
    from settlement.monthly.month_inputs import year_to_date_where
    from settlement.validation import sql_checks

    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 10)
    tables = many_claims()
    for i, claim in enumerate(tables["outpatient_claims"]):
        claim["service_date"] = f"2025-{i % 12 + 1:02d}-{i % 27 + 1:02d}"
    tables["outpatient_claims"][13]["unit_id"] = "NOPE"  # February (row 14 of the Parquet file)
    tables["outpatient_claims"][15]["unit_id"] = "NOPE"  # April: not read
    folder = typed_folder(tmp_path / "data", tables)
    where = year_to_date_where(folder, "2025-03")
    assert set(where) == set(SPILLED_TABLES)
    streamed = load_folder(folder, where=where, spill=SpillPolicy(tmp_path / "s1", min_rows=0, in_place=False))
    placed = load_folder(folder, where=where, spill=SpillPolicy(tmp_path / "s2", min_rows=0))
    claims = placed.tables["outpatient_claims"]
    assert used_in_place(placed, "outpatient_claims") and claims.kept is not None
    assert_same_load(streamed, placed)
    assert len(claims) == sum(1 for i in range(40) if i % 12 < 3) and claims.index[:3].tolist() == [1, 2, 3]
    assert claims.head(2)["claim_id"].tolist() == ["M0000", "M0001"]
    found = [key(x.problems + validate_dataset(x, YEAR, use_gx=False)) for x in (streamed, placed)]
    assert found[0] == found[1]
    assert [p[4] for p in found[1] if p[1] == "error" and p[5] == "unit_id"] == [14]


def test_a_spilled_tables_dtypes_need_no_row(tmp_path):
    """The validation's type checks of a large table take the dtypes of ``head(0)`` (no row
    read): they are those of its rows, whatever the cells — the first row's nullable cells
    empty (Int64 money, NaT dates) — used in place (windowed or not) or streamed."""
    from settlement.monthly.month_inputs import year_to_date_where

    tables = many_claims()
    for i, claim in enumerate(tables["outpatient_claims"]):
        claim["service_date"] = f"2025-{i % 12 + 1:02d}-{i % 27 + 1:02d}"
    schemas = contract()

    def empties(name, table):  # the first row's nullable cells left empty
        for col in schemas[name].columns:
            if col.nullable and col.default is None and col.name in table.column_names:
                table = set_cell(table, col.name, 0, None)
        return table

    folder = typed_folder(tmp_path / "data", tables, empties)
    where = year_to_date_where(folder, "2025-03")
    for i, (spill, window) in enumerate([(SpillPolicy(tmp_path / "a", min_rows=0), where),
                                         (SpillPolicy(tmp_path / "b", min_rows=0), None),
                                         (SpillPolicy(tmp_path / "c", min_rows=0, in_place=False), where)]):
        loaded = load_folder(folder, where=window, spill=spill)
        for name in SPILLED_TABLES:
            table = loaded.tables[name]
            assert isinstance(table, SpilledTable) and used_in_place(loaded, name) == (i < 2), (i, name)
            none, rows = table.head(0), table.head(3)
            assert rows.isna().to_numpy().any()  # the empty cells are among the rows compared
            assert len(none) == 0 and len(rows) == 3
            assert none.dtypes.to_dict() == rows.dtypes.to_dict() == table.head(len(table)).dtypes.to_dict(), (i, name)


def test_a_file_in_place_overwritten_during_the_run_fails_it(tmp_path, monkeypatch):
    """The stages read the user's file after its SHA-256 was recorded: if it is replaced
    meanwhile, the settlement reports an error (the run then fails) instead of results that the
    recorded hash does not describe."""
    import os

    from settlement import pipeline
    from settlement.config import load_config, resolve
    from settlement.problems import has_errors

    root = Path(__file__).resolve().parent.parent
    resolved = resolve(load_config(root / "configs" / "sample-county.yaml"))
    folder = typed_folder(tmp_path / "data")
    _plain, _streamed, placed = three(folder, tmp_path)
    quiet = []
    assert pipeline.settle_checked(placed, resolved, quiet) is not None
    assert not [p for p in quiet if p.rule == "file.changed"]

    real = pipeline.settle

    def settle_then_overwrite(*args, **kwargs):
        out = real(*args, **kwargs)
        path = folder / "outpatient_claims.parquet"
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        return out

    monkeypatch.setattr(pipeline, "settle", settle_then_overwrite)
    problems = []
    result = pipeline.settle_checked(placed, resolved, problems)
    changed = [p for p in problems if p.rule == "file.changed"]
    assert [(p.table, p.file, p.severity) for p in changed] == [("outpatient_claims", "outpatient_claims.parquet", "error")]
    assert "被修改" in changed[0].message_zh and has_errors(result.problems)


def test_the_validation_view_of_a_window_is_the_loaders_filter():
    from settlement.validation.sql_checks import window_predicate

    days = [f"2025-01-{d:02d}" for d in range(1, 32)] + [f"2025-02-{d:02d}" for d in range(1, 29)]
    assert window_predicate("service_date", days) == \
        "\"service_date\" BETWEEN DATE '2025-01-01' AND DATE '2025-02-28'"
    assert window_predicate("service_date", ["2025-03-01", "2025-01-01", " 2025-02-01", "20250204"]) == \
        "\"service_date\" IN (DATE '2025-01-01', DATE '2025-03-01')"  # text a date32 never shows: no row
    assert window_predicate("service_date", ["2025/1/1"]) == "FALSE"


BROKEN_RULES = [  # clean cells (the file stays in place) that break a rule the facts must not prove
    ("outpatient_claims", "total_cost", Decimal("-5.00"), "value.range"),
    ("outpatient_claims", "service_date", dt.date(YEAR - 1, 12, 31), "date.in_year"),
    ("outpatient_claims", "service_date", dt.date(YEAR + 1, 1, 1), "date.in_year"),
    ("outpatient_claims", "reimbursement_ratio", 1.5, "value.range"),
    ("outpatient_claims", "claim_id", "M" * 65, "text.too_long"),
    ("outpatient_claims", "referral_from_unit_id", "U" * 65, "text.too_long"),
    ("inpatient_cases", "fund_paid", Decimal("-0.01"), "value.range"),
]


@pytest.mark.parametrize("table, column, value, rule", BROKEN_RULES,
                         ids=[f"{c}={str(v)[:12]}" for _, c, v, _ in BROKEN_RULES])
def test_a_rule_the_files_facts_do_not_prove_is_still_counted_on_every_row(tmp_path, monkeypatch, table,
                                                                          column, value, rule):
    """The one pass over a file used in place proves most column rules without a scan (its
    row-group statistics, the text's lengths and dictionaries); a value those facts leave open
    is counted by DuckDB and reported at the user's row, as the in-memory load reports it."""
    from settlement.validation import sql_checks

    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 10)
    folder = typed_folder(tmp_path / "data", change=lambda n, t: set_cell(t, column, 3, value) if n == table else t)
    plain, _streamed, placed = three(folder, tmp_path)
    assert used_in_place(placed, table)
    found = [key(x.problems + validate_dataset(x, YEAR, use_gx=False)) for x in (plain, placed)]
    assert found[0] == found[1]
    assert (rule, table, 4) in {(p[0], p[2], p[4]) for p in found[1]}, found[1]


def test_the_facts_of_a_clean_file_leave_no_column_rule_to_scan(tmp_path, monkeypatch):
    """A clean file in place: every column rule of its checks is proved by its facts, so the
    DuckDB scan that counts them is not run at all (only keys and references are queried)."""
    from settlement.validation import sql_checks

    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 10)
    asked: dict[str, dict] = {}
    counts = sql_checks.Tables.counts
    monkeypatch.setattr(sql_checks.Tables, "counts",
                        lambda self, table, v: asked.setdefault(table, dict(v)) and counts(self, table, v)
                        or counts(self, table, v))
    folder = typed_folder(tmp_path / "data")
    placed = load_folder(folder, spill=SpillPolicy(tmp_path / "s", min_rows=0))
    assert used_in_place(placed, "outpatient_claims") and used_in_place(placed, "inpatient_cases")
    assert not validate_dataset(placed, YEAR, use_gx=False)
    facts = placed.tables["outpatient_claims"].facts
    assert facts["claim_type"].values <= {"general", "chronic_special", "two_diseases"}
    assert facts["total_cost"].nulls == 0 and facts["total_cost"].low >= 0
    assert not asked.get("outpatient_claims") and not asked.get("inpatient_cases"), asked


def test_proved_clean_decides_only_what_the_facts_prove():
    """The rule-by-rule proof on hand-written facts: bounds met or not, money in yuan against
    fen bounds, an enum's dictionary, a text's bytes against its character limit."""
    from settlement.in_place import ColumnFacts
    from settlement.validation.gx_suites import table_checks
    from settlement.validation.sql_checks import proved_clean

    checks = {(c.column, c.rule): c for c in table_checks(contract()["outpatient_claims"], YEAR)}
    cost = checks[("total_cost", "value.range")]
    assert proved_clean(cost, ColumnFacts(9, 0, Decimal("0.00"), Decimal("9.99")), "money")
    assert not proved_clean(cost, ColumnFacts(9, 0, Decimal("-0.01"), Decimal("9.99")), "money")
    day = checks[("service_date", "date.in_year")]
    assert proved_clean(day, ColumnFacts(9, 0, dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)), "date")
    assert not proved_clean(day, ColumnFacts(9, 0, dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1)), "date")
    kind = checks[("claim_type", "value.enum")]
    assert proved_clean(kind, ColumnFacts(9, 0, values=frozenset({"general"})), "enum")
    assert not proved_clean(kind, ColumnFacts(9, 0, values=frozenset({"general", "x"})), "enum")
    assert not proved_clean(kind, ColumnFacts(9, 0), "enum")  # no dictionary: nothing proved
    long = checks[("claim_id", "text.too_long")]
    assert proved_clean(long, ColumnFacts(9, 0, longest=64), "id")
    assert not proved_clean(long, ColumnFacts(9, 0, longest=65), "id")
    required = checks[("claim_id", "value.required")]
    assert proved_clean(required, ColumnFacts(9, 0), "id") and not proved_clean(required, ColumnFacts(9, 1), "id")
    assert not proved_clean(cost, None, "money")
    assert proved_clean(long, ColumnFacts(9, 9), "id")  # every cell empty: only "required" can fail
    assert not proved_clean(required, ColumnFacts(9, 9), "id")


def test_the_pass_over_a_file_runs_ahead_in_a_forked_process(tmp_path, monkeypatch):
    """``load_and_validate`` begins the pass over the big typed files in a forked process (before
    GX's import thread starts): the loader takes its facts and does not read the file itself.
    A file whose size or time changed since the child read it is read again here."""
    import os

    from settlement import pipeline
    from settlement.loader import file_stamp

    folder = typed_folder(tmp_path / "data")
    config = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"
    parent, calls, inspect = os.getpid(), [], in_place.inspect

    def counted(path, *args):  # the forked child inherits it: count only this process's calls
        if os.getpid() == parent:
            calls.append(Path(path).name)
        return inspect(path, *args)

    monkeypatch.setattr(in_place, "inspect", counted)
    policy = SpillPolicy(tmp_path / "s", min_rows=0)
    _c, _r, loaded, _problems = pipeline.load_and_validate(config, folder, policy, use_gx=False)
    assert used_in_place(loaded, "outpatient_claims") and used_in_place(loaded, "inpatient_cases")
    assert calls == []  # both answered by the forked pass
    assert loaded.tables["outpatient_claims"].facts["claim_type"].values

    claims = folder / "outpatient_claims.parquet"
    ahead = in_place.inspect_ahead(folder, policy, None)
    size, mtime = file_stamp(claims)
    assert ahead.facts(claims, (size + 1, mtime)) is in_place.MISSING  # not the file the child read
    ahead.close()
    month = in_place.inspect_ahead(folder, policy, {"outpatient_claims": ("service_date", ["2025-01-01"])})
    assert set(month.futures) == {folder / "inpatient_cases.parquet"}  # under a window: the loader's pass
    month.close()
