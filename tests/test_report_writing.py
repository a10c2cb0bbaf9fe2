"""Writing the run's outputs fast without changing them (issue 13, the write step).

* the Arrow CSV writer gives the bytes pandas' ``to_csv`` gave, for every kind of cell;
* statements written by two processes are the same bytes as by one;
* a unit's flagged claims beyond ``UNIT_LIST_LIMIT`` go whole to ``units/审核清单/`` and the
  statement says so; the county's list beyond ``LIST_LIMIT`` says how many and where;
* a column's width comes from its widest shown text, negatives included.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import openpyxl
import pandas as pd
import pytest

from settlement.report import audit as audit_report
from settlement.report import write_workbooks
from settlement.report.columns import column_cells, column_width, display_width
from settlement.report.context import ReportContext
from settlement.report.results_csv import csv_columns, csv_frame, write_csv, write_table
from settlement.stages.audit import audit_claims
from test_audit import PARAMS, UNITS, cases, claims
from test_report import all_results, context


# ------------------------------------------------------------------ CSV bytes
def _pandas_bytes(name: str, frame: pd.DataFrame) -> bytes:
    """What write_results wrote before: pandas' own CSV writer."""
    return csv_frame(name, frame).to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


TRICKY = pd.DataFrame({
    "text": ["x", "a\rb", "c\nd", 'q"r', "e,f", " ", "", None, "=1+1", "-2", "中文，逗号"],
    "flag": [True, False] * 5 + [True],
    "float": [1.0, 0.1, None, 1e-5, 1e20, -0.0, 3.14159, 2.5, 7.0, 1e16, 123456.789],
    "count": pd.array([1, None, 3, 4, 5, 6, 7, 8, 9, 10, -11], dtype="Int64"),
    "mixed": [1, "x", None, 2.5, "+a", "b", "c", "d", "e", "f", Decimal("1.10")],
    "kind": pd.Categorical(["u", "v", None, "u", "v,w", "u", "u", "v", "u", "u", "u"]),
    "day": pd.to_datetime(["2025-01-01"] * 10 + [None]),
})


def _floats() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.standard_normal(2_000) * 10.0 ** rng.integers(-8, 20, 2_000)


@pytest.mark.parametrize("frame", [
    TRICKY,
    TRICKY.iloc[:0],  # header only
    pd.DataFrame({"only": ["", "x", None]}),  # a row of one empty field is written ""
    pd.DataFrame({"r": _floats()}),  # fixed and exponent notation, both signs
])
def test_arrow_csv_is_byte_for_byte_what_pandas_wrote(tmp_path, frame):
    path = tmp_path / "t.csv"
    write_csv(path, csv_columns("tricky", frame))
    assert path.read_bytes() == _pandas_bytes("tricky", frame)


def test_arrow_csv_formats_money_and_escapes_formulas_like_before(tmp_path):
    frame = pd.DataFrame({"unit_id": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "ok"],
                          "unit_name": ["a", "b", "c", "d", "e", "-f"],
                          "dip": [-1250, 0, 1, 2, 3, 123_456_789]})
    path = tmp_path / "bureau_units.csv"
    write_csv(path, csv_columns("bureau_units", frame))
    assert path.read_bytes() == _pandas_bytes("bureau_units", frame)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1] == "\"'=HYPERLINK(\"\"x\"\")\",a,-12.50"  # escaped text; money a number
    assert lines[6] == "ok,'-f,1234567.89"


#: a day column whose first rows are at midnight and whose last has a time: written with the
#: time in every row (the one rule that looks at a whole column)
TIMED = pd.DataFrame({"day": pd.to_datetime(["2025-01-01 00:00:00", "2025-01-02 00:00:00", None,
                                              "2025-01-03 08:30:00"]),
                      "n": [1, 2, 3, 4]})


@pytest.mark.parametrize("frame", [TRICKY, TIMED, TRICKY.iloc[:0], pd.DataFrame({"only": ["", "x", None]})])
@pytest.mark.parametrize("rows", [1, 3, 100])
def test_a_table_written_in_slices_has_the_bytes_of_the_whole(tmp_path, frame, rows):
    path = tmp_path / "t.csv"
    write_table(path, "tricky", frame, rows=rows)
    assert path.read_bytes() == _pandas_bytes("tricky", frame)


def test_slices_of_a_contract_table_keep_its_stored_columns_and_yuan(tmp_path):
    """dip_cases in slices of 2 rows: only the stored columns (``level`` is not one), money
    as yuan; the same bytes as pandas' writer of the whole table."""
    frame = pd.DataFrame({"case_id": ["C1", "C2", "=C3"], "unit_id": ["H1", "H1", "T1"],
                          "community_id": ["G1"] * 3, "dip_group": ["A", "B", "A"],
                          "ratio": [1.25, 0.5, 2.0], "case_class": pd.Categorical(["normal"] * 3),
                          "base_score": [10.0, 20.0, 10.0], "coefficient": [1.0] * 3,
                          "points": [12.5, 10.0, 20.0], "gross_value": [125_000, 100_050, -5],
                          "fund_due": [0, 99, 100], "explanation": ["正常", "低倍率，按实际", "正常"],
                          "level": ["x"] * 3})
    path = tmp_path / "dip_cases.csv"
    write_table(path, "dip_cases", frame, rows=2)
    assert path.read_bytes() == _pandas_bytes("dip_cases", frame)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert "level" not in lines[0] and lines[3].startswith("'=C3,T1,") and ",-0.05,1.00," in lines[3]


# ------------------------------------------------------------------ parallel statements
def test_two_workers_write_the_bytes_one_writes(tmp_path):
    one = write_workbooks(tmp_path / "one", all_results(), context(), workers=1)
    two = write_workbooks(tmp_path / "two", all_results(), context(), workers=2)
    assert [p.relative_to(tmp_path / "one") for p in one] == [p.relative_to(tmp_path / "two") for p in two]
    assert len(one) > 4  # summary, bureau, communities, units, the results workbook
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes(), a.name


# ------------------------------------------------------------------ long claim lists
@pytest.fixture()
def flagged():
    """The audit of test_audit: H2 has three flagged claims (I2, I8 under two rules)."""
    return audit_claims(cases(), claims(), UNITS, PARAMS).claims


def _ctx() -> ReportContext:
    return ReportContext("示例县", 2025, "run", UNITS.assign(unit_name=UNITS["unit_id"] + "院"),
                         pd.DataFrame({"community_id": ["C1", "C2"], "community_name": ["一", "二"]}))


def test_a_long_unit_list_is_cut_and_written_whole_beside_the_statement(tmp_path, flagged,
                                                                         monkeypatch):
    from settlement.report.statements import write_statement

    monkeypatch.setattr(audit_report, "UNIT_LIST_LIMIT", 1)
    mine = flagged[flagged["unit_id"] == "H2"]
    assert len(mine) == 3  # I2 ratio, I8 ratio, I8 deductible
    hook = audit_report.unit_sheets({"claims_audit": flagged}, _ctx())
    # the hook keeps each unit's shown rows and only the positions of the longer lists' rows
    assert all(len(rows) <= 1 for rows in hook.claims.values())
    assert len(hook.longer_rows) == sum(hook.longer_units.values())
    assert not any(isinstance(v, pd.DataFrame) for v in vars(hook).values())
    statement = pd.DataFrame({"unit_id": ["H2"], "line": ["net"], "label_zh": ["净额"],
                              "amount": [0], "explanation": [""]})
    path = tmp_path / "units" / "H2_H2院.xlsx"
    write_statement(path, "H2", statement, _ctx(), hook)
    (csv,) = audit_report.write_claim_lists({"H2": path}, hook)
    assert csv == tmp_path / "units" / "审核清单" / "H2_H2院.csv"

    sheet = openpyxl.load_workbook(path)["审核与补助"]
    texts = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    total = sum(int(v) for v in mine["difference"])
    title = next(t for t in texts if t.startswith("本单位不符合报销政策的结算记录"))
    assert "前 1 条，共 3 条" in title and "审核清单/H2_H2院.csv" in title
    assert f"差额合计 {total / 100:,.2f} 元" in title
    largest = mine.loc[mine["difference"].abs().idxmax()]
    listed = [c for c in texts if c in set(mine["claim_id"])]
    assert listed == [largest["claim_id"]]  # one row: the largest difference
    assert "以上 1 条合计" in texts

    lines = pd.read_csv(csv, dtype=str, encoding="utf-8-sig")
    assert list(lines.columns[:3]) == ["结算单号/病例号", "类型", "就诊机构"]
    assert len(lines) == 3 and set(lines["就诊机构"]) == {"H2"}  # only its own claims
    assert sum(Decimal(x) for x in lines["差额"]) == Decimal(total) / 100  # yuan, exact
    diffs = [abs(Decimal(x)) for x in lines["差额"]]
    assert diffs == sorted(diffs, reverse=True)


def test_a_short_unit_list_has_no_csv(tmp_path, flagged):
    hook = audit_report.unit_sheets({"claims_audit": flagged}, _ctx())
    assert audit_report.write_claim_lists({"H2": tmp_path / "H2.xlsx"}, hook) == []
    assert not (tmp_path / "审核清单").exists()


def test_the_county_list_says_how_many_and_where(tmp_path, flagged, monkeypatch):
    from settlement.report.layout import Styles, new_workbook

    monkeypatch.setattr(audit_report, "LIST_LIMIT", 2)
    book = new_workbook(tmp_path / "a.xlsx", "t", pd.Timestamp("2025-12-31").to_pydatetime())
    audit_report.audit_sheet(book, Styles(book), {"claims_audit": flagged}, _ctx(), lambda s, n: 0)
    book.close()
    texts = [c for row in openpyxl.load_workbook(tmp_path / "a.xlsx")["报销审核"].iter_rows(values_only=True)
             for c in row if isinstance(c, str)]
    title = next(t for t in texts if t.startswith("不符合报销政策的结算记录"))
    assert f"前 2 条，共 {len(flagged)} 条" in title and "results/claims_audit.csv" in title
    assert "以上 2 条合计" in texts


# ------------------------------------------------------------------ widths
def test_a_column_is_as_wide_as_its_widest_shown_text():
    money = column_cells("money", pd.Series([5, -123_456_789, None]))
    assert money[:2] == [Decimal("0.05"), Decimal("-1234567.89")] and money[2] is None
    assert column_width("money", money, "金额") == len("-1,234,567.89") + 2
    assert column_width("int", column_cells("int", pd.Series([9, -10_000])), "") == len("-10,000") + 2
    text = column_cells("text", pd.Series(["DIP结算", "", None]))
    assert text == ["DIP结算", None, None] and display_width("DIP结算") == 7
    assert column_width("text", text, "列") == 9.0  # 7 + 2 padding


def test_a_job_that_grew_its_worker_hands_the_freed_memory_back(monkeypatch):
    """parallel._run: a job that leaves the worker ≥ TRIM_AFTER_MB larger is followed by a
    release of freed memory; a small job is not (a trim per statement would cost time)."""
    import settlement.report.parallel as parallel

    kept = []
    trims = []
    monkeypatch.setattr(parallel, "release_free_memory", lambda: trims.append(len(kept)))
    grow = lambda: kept.append(np.ones((parallel.TRIM_AFTER_MB + 8) * 2**20 // 8))  # noqa: E731 - resident
    monkeypatch.setattr(parallel, "_JOBS", [(lambda: "small", ()), (grow, ())])
    assert parallel._run(0) == "small" and trims == []
    parallel._run(1)
    assert kept[0].nbytes >= parallel.TRIM_AFTER_MB * 2**20 and trims == [1]


def test_the_longer_lists_come_in_batches_of_whole_units_in_order(flagged, monkeypatch):
    """UnitSheets.longer: every unit's list whole in one batch, the batches in unit order; cut
    at one row a batch holds one unit, at any size the rows are the same."""
    monkeypatch.setattr(audit_report, "UNIT_LIST_LIMIT", 0)  # every unit's list is "longer"
    hook = audit_report.unit_sheets({"claims_audit": flagged}, _ctx())
    small, whole = list(hook.longer(rows=1)), list(hook.longer(rows=10**9))
    assert [units for units, _ in small] == [[u] for u in hook.longer_units.items()]
    assert len(whole) == 1 and whole[0][0] == list(hook.longer_units.items())
    assert all(len(frame) == sum(n for _, n in units) for units, frame in small)
    assert all(set(frame["unit_id"]) == {units[0][0]} for units, frame in small)
    pd.testing.assert_frame_equal(pd.concat([f for _, f in small]), whole[0][1])
