"""The claims audit on hostile inputs (差别化报销审核 — real exports, not the clean sample): every
case runs :func:`audit_claims` on the pandas reference engine and on DuckDB, with the claims as
a frame (the loader's dtypes, and plain Python objects) and as Parquet (money as decimal yuan,
as the loader hands big tables over), and checks that the four runs give the same listing,
totals and counts — and the listing derived here by hand.

The rules (tests/test_audit.py's table): county primary 90 % / secondary 80 % / tertiary 70 %,
city tertiary 60 %, province tertiary 50 %, national secondary 60 %; deductibles primary 200,
secondary 500, tertiary 800 元; unreferred care in the province and national scopes loses 10
points (emergencies and registered residence elsewhere exempt). Policy cost 10,000.00 元.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from settlement.sample.writer import yuan_decimal
from settlement.scan import get_engine
from settlement.scan.frames import arrow_to_frame
from settlement.stages.audit import (KINDS, RULES, Policy, _audit_columns, audit_claims,
                                     audit_kind, empty_audit, rules_of)
from test_audit import PARAMS, UNITS

D = Decimal
POLICY = 1_000_000  # 10,000.00 元 in fen
MONEY = ("policy_cost", "deductible", "fund_paid")
FORMS = ("frame", "objects", "parquet")
INPATIENT = {"case_id": None, "unit_id": "H2", "community_id": "C1", "policy_cost": POLICY,
             "deductible": 50_000, "reimbursement_ratio": 0.80, "fund_paid": 760_000,
             "referral": False, "referral_from_unit_id": None, "emergency": False,
             "registered_residence_elsewhere": False}
OUTPATIENT = {**{k: v for k, v in INPATIENT.items()
                 if k not in ("case_id", "referral_from_unit_id")},
              "claim_id": None, "unit_id": "N1", "deductible": 0, "reimbursement_ratio": 0.50,
              "fund_paid": 5_000, "policy_cost": 10_000}  # national, unreferred: 60 % − 10


def table(defaults: dict, rows: list[dict], key: str, drop=()) -> pd.DataFrame:
    """Claims with the loader's dtypes: each row ``defaults`` updated by its dict (None = empty)."""
    prefix = "I" if key == "case_id" else "O"
    records = [{**defaults, key: f"{prefix}{i + 1}", **row} for i, row in enumerate(rows)]
    frame = pd.DataFrame(records, columns=list(defaults)).drop(columns=list(drop))
    types = {c: "string" for c in frame if c.endswith("_id")}
    types.update({c: "Int64" for c in MONEY if c in frame})
    types.update({c: "boolean" for c in frame if frame[c].map(lambda v: isinstance(v, bool)).any()
                  or c in ("referral", "emergency", "registered_residence_elsewhere")})
    frame = frame.astype(types)
    if "reimbursement_ratio" in frame:
        frame["reimbursement_ratio"] = frame["reimbursement_ratio"].astype("float64")
    return arrow_to_frame(pa.Table.from_pandas(frame, preserve_index=False))


def inpatient(*rows: dict, drop=()) -> pd.DataFrame:
    """Inpatient cases (no rows given: one correct case, I1)."""
    return table(INPATIENT, list(rows or [{}]), "case_id", drop)


def outpatient(*rows: dict, drop=()) -> pd.DataFrame:
    """Outpatient claims (no rows given: one correct claim, O1)."""
    return table(OUTPATIENT, list(rows or [{}]), "claim_id", drop)


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """The same claims with Python objects for text (a frame not typed by the loader)."""
    return frame.astype({c: object for c in frame if frame[c].dtype == "string"})


def to_parquet(frame: pd.DataFrame, path: Path, null_columns=()) -> Path:
    """The claims as a region's Parquet file holds them: money as decimal yuan; the columns
    ``null_columns`` of Arrow type null (an export's column that is empty throughout)."""
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    for name in MONEY:
        if name in frame:
            values = frame[name]
            arrow = arrow.set_column(arrow.schema.get_field_index(name), name, yuan_decimal(
                values.fillna(0).to_numpy("int64"), values.isna().to_numpy()))
    for name in null_columns:
        arrow = arrow.set_column(arrow.schema.get_field_index(name), name, pa.nulls(len(frame)))
    pq.write_table(arrow, path)
    return path


ENGINES = ("pandas", "duckdb")


def run(ip: pd.DataFrame, op: pd.DataFrame, units: pd.DataFrame = UNITS, params=PARAMS,
        null_columns=()):
    """audit_claims on both engines × {frame, objects, Parquet}: all identical; the result."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = (to_parquet(ip, Path(tmp) / "inpatient_cases.parquet", null_columns),
                 to_parquet(op, Path(tmp) / "outpatient_claims.parquet", null_columns))
        for name in ENGINES:
            engine = get_engine(name)
            for form, tables in (("frame", (ip, op)), ("objects", (as_objects(ip), as_objects(op))),
                                 ("parquet", files)):
                results[name, form] = audit_claims(*tables, units, params, engine=engine)
    reference = results["pandas", "frame"]
    for key, result in results.items():
        assert_frame_equal(result.claims, reference.claims, check_exact=True, obj=str(key))
        assert_frame_equal(result.totals, reference.totals, check_exact=True, obj=str(key))
        assert result.audited == reference.audited, key
        assert [p.message_zh for p in result.problems] == [p.message_zh for p in reference.problems]
    return reference


def listing(*rows: tuple) -> pd.DataFrame:
    """The expected listing: (claim, unit, community, rule, applied ratio, expected ratio,
    applied deductible, expected deductible, fund paid, expected fund paid, kind); the
    difference is fund paid − expected, the policy cost 10,000.00 元 unless an 12th item."""
    if not rows:
        return empty_audit()
    records = []
    for r in rows:
        (claim, unit, community, rule, ratio, expected_ratio, ded, expected_ded, fund, expected,
         kind) = r[:11]
        records.append({"claim_id": claim, "unit_id": unit, "community_id": community, "rule": rule,
                        "rule_zh": RULES[rule], "applied_ratio": ratio,
                        "expected_ratio": expected_ratio, "applied_deductible": ded,
                        "expected_deductible": expected_ded, "fund_paid": fund,
                        "expected_fund_paid": expected, "difference": fund - expected,
                        "claim_kind": kind, "policy_cost": r[11] if len(r) > 11 else POLICY})
    return pd.DataFrame(records).astype(empty_audit().dtypes.to_dict())


def assert_listing(result, *rows: tuple, audited: dict):
    assert_frame_equal(result.claims, listing(*rows), check_exact=True)
    assert result.audited == audited


# ---------------------------------------------------------------- 1. missing values
def test_empty_cells_are_not_audited_and_never_priced():
    ip = inpatient(
        {},                                              # I1 correct: audited, not listed
        {"policy_cost": None, "reimbursement_ratio": 0.85},  # I2 no policy cost: not audited
        {"deductible": None, "reimbursement_ratio": 0.85},   # I3 no deductible
        {"reimbursement_ratio": None},                   # I4 no ratio (NaN)
        {"unit_id": None, "reimbursement_ratio": 0.85},  # I5 no unit: unknown, not audited
        {"fund_paid": None, "reimbursement_ratio": 0.85},  # I6 no fund paid: nothing to price
        {"reimbursement_ratio": 0.85, "fund_paid": 807_500},  # I7 5 points high: listed
        {"reimbursement_ratio": 0.85, "fund_paid": 807_500, "community_id": None},  # I8
    )
    result = run(ip, outpatient({}, {"fund_paid": None, "reimbursement_ratio": 0.60}))
    expected = (POLICY - 50_000) * 80 // 100  # 760,000
    assert_listing(result,
                   ("I7", "H2", "C1", "ratio_table", 0.85, 0.80, 50_000, 50_000, 807_500, expected,
                    "inpatient"),
                   ("I8", "H2", None, "ratio_table", 0.85, 0.80, 50_000, 50_000, 807_500, expected,
                    "inpatient"),
                   audited={"inpatient": 3, "outpatient": 1})
    assert result.claims["difference"].tolist() == [47_500, 47_500]


# ---------------------------------------------------------------- 2. unknown and external units
def test_unknown_units_are_not_audited_external_ones_are():
    units = pd.concat([UNITS, pd.DataFrame({  # Q1: a level the province scope has no ratio for
        "unit_id": ["Q1"], "community_id": [None], "category": ["external"], "level": ["primary"],
        "scope": ["province"]}).astype("string")], ignore_index=True)
    ip = inpatient(
        {"unit_id": "ZZ", "reimbursement_ratio": 0.85},  # I1 not in the units table
        {"unit_id": "Q1", "reimbursement_ratio": 0.85},  # I2 no ratio in the table for it
        {"unit_id": "K1", "deductible": 80_000, "reimbursement_ratio": 0.60,
         "fund_paid": 552_000},                          # I3 县外 city tertiary 60 %: correct
        {"unit_id": "K1", "deductible": 80_000, "reimbursement_ratio": 0.70,
         "fund_paid": 644_000},                          # I4 10 points high
        {"unit_id": "P1", "deductible": 80_000, "reimbursement_ratio": 0.50,
         "fund_paid": 460_000},                          # I5 province unreferred: 50 % − 10
    )
    result = run(ip, outpatient({"unit_id": "ZZ"}), units=units)
    assert_listing(result,
                   ("I4", "K1", "C1", "ratio_table", 0.70, 0.60, 80_000, 80_000, 644_000,
                    (POLICY - 80_000) * 60 // 100, "inpatient"),
                   ("I5", "P1", "C1", "unreferred_cut_missing", 0.50, 0.40, 80_000, 80_000,
                    460_000, (POLICY - 80_000) * 40 // 100, "inpatient"),
                   audited={"inpatient": 3, "outpatient": 0})


# ---------------------------------------------------------------- 3. optional columns
FLAGS = ("referral", "emergency", "registered_residence_elsewhere")
OP_ROWS = ({}, {"reimbursement_ratio": 0.60, "fund_paid": 6_000})  # O1 cut: correct; O2 not cut
OP_LISTED = ("O2", "N1", "C1", "unreferred_cut_missing", 0.60, 0.50, 0, 0, 6_000, 5_000,
             "outpatient", 10_000)


def test_absent_exemption_and_referral_columns_count_as_false():
    result = run(inpatient(drop=("referral_from_unit_id", *FLAGS)),
                 outpatient(*OP_ROWS, drop=FLAGS))
    assert_listing(result, OP_LISTED, audited={"inpatient": 1, "outpatient": 2})


@pytest.mark.parametrize("arrow_null", [False, True], ids=["typed", "arrow-null"])
def test_empty_exemption_and_referral_columns_count_as_false(arrow_null):
    """All cells empty; in Parquet an export's column empty throughout may be of type null."""
    empty = {name: None for name in FLAGS}
    ip = inpatient({**empty, "referral_from_unit_id": None})
    op = outpatient(*({**empty, **row} for row in OP_ROWS))
    assert_listing(run(ip, op, null_columns=FLAGS if arrow_null else ()), OP_LISTED,
                   audited={"inpatient": 1, "outpatient": 2})


EXEMPT = PARAMS.model_copy(update={"cut_exemptions": ("emergency", "disaster_relief")})


def test_an_exemption_the_loader_does_not_know_counts_where_given():
    op_rows = ({"disaster_relief": None}, {"reimbursement_ratio": 0.60, "fund_paid": 6_000,
                                           "disaster_relief": True},  # O2 exempt: correct
               {"reimbursement_ratio": 0.60, "fund_paid": 6_000, "disaster_relief": False})
    op = table({**OUTPATIENT, "disaster_relief": None}, list(op_rows), "claim_id")
    assert_listing(run(inpatient(), op, params=EXEMPT), ("O3", *OP_LISTED[1:]),
                   audited={"inpatient": 1, "outpatient": 3})


def test_an_exemption_the_loader_does_not_know_may_be_absent():
    assert_listing(run(inpatient(), outpatient(*OP_ROWS), params=EXEMPT), OP_LISTED,
                   audited={"inpatient": 1, "outpatient": 2})


# ---------------------------------------------------------------- 4. referrals
def test_referrals_merge_the_deductible_only_inside_one_community():
    up = {"unit_id": "H1", "referral": True, "deductible": 60_000, "reimbursement_ratio": 0.70,
          "fund_paid": 658_000}  # applied: 800 − 200 merged, (10,000 − 600) × 70 %
    ip = inpatient(
        {**up, "referral_from_unit_id": "T1"},  # I1 up from T1 (C1): merged, correct
        {**up, "referral_from_unit_id": "T2"},  # I2 up from T2 of C2: full 800
        {**up, "referral_from_unit_id": "ZZ"},  # I3 from an unknown unit: full 800
        {**up, "referral_from_unit_id": "K1"},  # I4 from an external unit: full 800
        {**up, "referral_from_unit_id": "T1", "referral": False},  # I5 not a referral: full
        {**up, "referral_from_unit_id": "T1", "referral": None},   # I6 referral empty: full
        {"unit_id": "T1", "referral": True, "referral_from_unit_id": "H1", "deductible": 0,
         "reimbursement_ratio": 0.90, "fund_paid": 900_000},     # I7 down from H1: correct
        {"unit_id": "T1", "referral": True, "referral_from_unit_id": "H1", "deductible": 20_000,
         "reimbursement_ratio": 0.90, "fund_paid": 882_000},     # I8 down, deductible kept
        {"unit_id": "T2", "referral": True, "referral_from_unit_id": "H1", "deductible": 0,
         "reimbursement_ratio": 0.90, "fund_paid": 900_000, "community_id": "C2"},  # I9 down
        {"unit_id": "P1", "referral": True, "referral_from_unit_id": "H1", "deductible": 80_000,
         "reimbursement_ratio": 0.50, "fund_paid": 460_000},     # I10 referred out: no cut
    )
    full = (POLICY - 80_000) * 70 // 100  # 644,000
    rows = [(f"I{i}", "H1", "C1", "deductible_table", 0.70, 0.70, 60_000, 80_000, 658_000, full,
             "inpatient") for i in (2, 3, 4, 5, 6)]
    assert_listing(run(ip, outpatient()), *rows,
                   ("I8", "T1", "C1", "referral_down_deductible", 0.90, 0.90, 20_000, 0, 882_000,
                    POLICY * 90 // 100, "inpatient"),
                   ("I9", "T2", "C2", "deductible_table", 0.90, 0.90, 0, 20_000, 900_000,
                    (POLICY - 20_000) * 90 // 100, "inpatient"),
                   audited={"inpatient": 10, "outpatient": 1})


# ---------------------------------------------------------------- 5. ratios at the edges
def test_ratios_round_to_basis_points_half_up():
    params = PARAMS.model_copy(update={"ratios": {**PARAMS.ratios, "county": {
        **PARAMS.ratios["county"], "secondary": D("0.85")}}})
    expected = (POLICY - 50_000) * 85 // 100  # 807,500
    ip = inpatient(*({"reimbursement_ratio": r, "fund_paid": f} for r, f in (
        (0.8499999999, 807_500),  # I1 8,500 bp: correct
        (0.85000001, 807_500),    # I2 8,500 bp: correct
        (0.84996, 807_500),       # I3 8,499.6 → 8,500 bp: correct
        (0.84994, 807_443),       # I4 8,499.4 → 8,499 bp: listed at 84.99 %
        (0.80, 760_000),          # I5 the old table's 80 %: listed
    )))
    assert_listing(run(ip, outpatient(), params=params),
                   ("I4", "H2", "C1", "ratio_table", 0.8499, 0.85, 50_000, 50_000, 807_443,
                    expected, "inpatient"),
                   ("I5", "H2", "C1", "ratio_table", 0.80, 0.85, 50_000, 50_000, 760_000, expected,
                    "inpatient"),
                   audited={"inpatient": 5, "outpatient": 1})


def test_ratios_out_of_range_are_listed_non_finite_ones_not_audited():
    """A ratio above 1 or below 0 is a wrong ratio: listed (rounded half up to bp, −0.00016 →
    −2 bp as 0.00016 → 2 bp). ±inf and NaN are no ratio: the claim is not audited, so a
    non-finite number never reaches a listing or an amount. The applied ratio is never used
    in an amount anyway: the expected fund uses the expected ratio, the difference the fund
    paid."""
    expected = (POLICY - 50_000) * 80 // 100
    ip = inpatient(*({"reimbursement_ratio": r} for r in (
        1.2, -0.1, -0.00016, 85.0, float("inf"), float("-inf"), float("nan"), 1e300)))
    assert_listing(run(ip, outpatient({"reimbursement_ratio": float("inf")})),
                   *((f"I{i}", "H2", "C1", "ratio_table", r, 0.80, 50_000, 50_000, 760_000,
                      expected, "inpatient")
                     for i, r in ((1, 1.2), (2, -0.1), (3, -0.0002), (4, 85.0), (8, 214748.3647))),
                   audited={"inpatient": 5, "outpatient": 0})


def test_a_float32_ratio_is_rounded_from_its_float64_value_on_every_engine():
    """A float32 column (an export's) holds 0.84995 as 0.84994995594…: 8,499.4996 + 0.5 →
    8,499 bp, listed against 85 %. Multiplied in float32 (DuckDB's FLOAT × a literal stays
    FLOAT) it became 8,499.5 + 0.5 → 8,500 bp and the claim was missed; 0.85005 (0.85004997…)
    became 8,501 bp and was kept by the scan for nothing."""
    params = PARAMS.model_copy(update={"ratios": {**PARAMS.ratios, "county": {
        **PARAMS.ratios["county"], "secondary": D("0.85")}}})
    ip = inpatient({"reimbursement_ratio": 0.8499499559402466, "fund_paid": 807_405},
                   {"reimbursement_ratio": 0.8500499725341797, "fund_paid": 807_500})
    ip["reimbursement_ratio"] = ip["reimbursement_ratio"].astype("float32")
    assert_listing(run(ip, outpatient(), params=params),
                   ("I1", "H2", "C1", "ratio_table", 0.8499, 0.85, 50_000, 50_000, 807_405,
                    (POLICY - 50_000) * 85 // 100, "inpatient"),
                   audited={"inpatient": 2, "outpatient": 1})
    with tempfile.TemporaryDirectory() as tmp:
        scans = scan_all(ip, "inpatient", rules_of(UNITS, Policy.of(params)),
                         to_parquet(ip, Path(tmp) / "inpatient_cases.parquet"))
    assert {key: ids for key, (_, ids, _) in scans.items()} == {
        (e, f): ["I1"] for e in ENGINES for f in ("frame", "parquet")}


# ---------------------------------------------------------------- 6. duplicated units
def test_a_duplicated_unit_id_takes_its_first_row():
    units = pd.concat([UNITS, pd.DataFrame({  # H2 again: tertiary of C2; T1 again: national
        "unit_id": ["H2", "T1"], "community_id": ["C2", None],
        "category": ["lead_hospital", "external"],
        "level": ["tertiary", "secondary"], "scope": ["county", "national"]}).astype("string")],
        ignore_index=True)
    ip = inpatient(
        {},                                                       # I1 80 %, 500: correct
        {"reimbursement_ratio": 0.70, "fund_paid": 665_000},     # I2 the second row's ratio
        {"unit_id": "H1", "referral": True, "referral_from_unit_id": "T1", "deductible": 60_000,
         "reimbursement_ratio": 0.70, "fund_paid": 658_000},     # I3 T1 is C1's: merged
    )
    assert_listing(run(ip, outpatient({"unit_id": "T1", "reimbursement_ratio": 0.90,
                                       "fund_paid": 9_000}), units=units),
                   ("I2", "H2", "C1", "ratio_table", 0.70, 0.80, 50_000, 50_000, 665_000, 760_000,
                    "inpatient"),
                   audited={"inpatient": 3, "outpatient": 1})


def test_a_unit_without_an_id_in_the_units_table_matches_no_claim():
    nameless = pd.DataFrame({"unit_id": [None], "community_id": ["C1"],
                             "category": ["township_center"], "level": ["primary"],
                             "scope": ["county"]}).astype("string")
    units = pd.concat([UNITS, nameless], ignore_index=True)
    ip = inpatient({}, {"unit_id": None, "reimbursement_ratio": 0.90, "deductible": 20_000})
    assert_listing(run(ip, outpatient({"unit_id": None}), units=units),
                   audited={"inpatient": 1, "outpatient": 0})


# ---------------------------------------------------------------- 7. empty and one-sided tables
def test_no_claims_at_all():
    result = run(inpatient().iloc[:0], outpatient().iloc[:0])
    assert_listing(result, audited={"inpatient": 0, "outpatient": 0})
    assert not result.problems


def test_only_inpatient_claims():
    wrong = inpatient({"reimbursement_ratio": 0.85, "fund_paid": 807_500})
    assert_listing(run(wrong, outpatient().iloc[:0]),
                   ("I1", "H2", "C1", "ratio_table", 0.85, 0.80, 50_000, 50_000, 807_500, 760_000,
                    "inpatient"), audited={"inpatient": 1, "outpatient": 0})


def test_only_outpatient_claims():
    wrong = outpatient({"reimbursement_ratio": 0.60, "fund_paid": 6_000})
    assert_listing(run(inpatient().iloc[:0], wrong), ("O1", *OP_LISTED[1:]),
                   audited={"inpatient": 0, "outpatient": 1})


# ---------------------------------------------------------------- Parquet as exports write it
@pytest.mark.parametrize("lacks", [["emergency"], ["emergency", "policy_cost"]])
def test_a_parquet_folder_whose_first_file_lacks_an_optional_column(tmp_path, lacks):
    """DuckDB reads a folder by column name (union_by_name); the pandas reference read the
    first file's schema and failed on a column only a later file holds. Now: null there (no
    policy cost: O1 and O2 not audited)."""
    op = outpatient(*OP_ROWS, {"reimbursement_ratio": 0.60, "fund_paid": 6_000, "emergency": True})
    folder = tmp_path / "outpatient_claims"
    (folder / "county_id=A").mkdir(parents=True)
    (folder / "county_id=B").mkdir()
    to_parquet(op.iloc[:2].drop(columns=lacks), folder / "county_id=A" / "part-0.parquet")
    to_parquet(op.iloc[2:], folder / "county_id=B" / "part-0.parquet")
    ip = to_parquet(inpatient(), tmp_path / "inpatient_cases.parquet")
    listed, audited = ((OP_LISTED,), 3) if "policy_cost" not in lacks else ((), 1)
    for name in ENGINES:  # O3 is an emergency: its full 60 % is right
        result = audit_claims(ip, folder, UNITS, PARAMS, engine=get_engine(name))
        assert_listing(result, *listed, audited={"inpatient": 1, "outpatient": audited})


def test_the_loaders_spilled_table_is_read_by_its_parquet_file(tmp_path):
    """The loader hands a big table over as a SpilledTable: its file (``.path``) is audited."""
    from types import SimpleNamespace

    ip = inpatient({}, {"reimbursement_ratio": 0.85, "fund_paid": 807_500})
    spilled = SimpleNamespace(path=to_parquet(ip, tmp_path / "inpatient_cases.parquet"))
    for name in ENGINES:
        result = audit_claims(spilled, str(to_parquet(outpatient(), tmp_path / "op.parquet")),
                              UNITS, PARAMS, engine=get_engine(name))
        assert_listing(result, ("I2", "H2", "C1", "ratio_table", 0.85, 0.80, 50_000, 50_000,
                                807_500, 760_000, "inpatient"),
                       audited={"inpatient": 2, "outpatient": 1})


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_in_a_float_money_column_is_refused_by_both_engines(tmp_path, bad):
    """A float money column (yuan) must hold whole fen; NaN and ±inf are refused with the same
    message on both engines (DuckDB cast NaN = NaN as exact, then failed on the cast)."""
    ip = inpatient({}, {})
    arrow = pa.Table.from_pandas(ip, preserve_index=False)
    for name in MONEY:
        yuan = ip[name].to_numpy("int64") / 100
        if name == "policy_cost":
            yuan[1] = bad
        arrow = arrow.set_column(arrow.schema.get_field_index(name), name, pa.array(yuan))
    pq.write_table(arrow, tmp_path / "inpatient_cases.parquet")
    for name in ENGINES:
        with pytest.raises(Exception, match=r"金额列.*NaN/无穷大"):
            audit_claims(tmp_path / "inpatient_cases.parquet", outpatient(), UNITS, PARAMS,
                         engine=get_engine(name))


# ---------------------------------------------------------------- 8. random claims
UNIT_IDS = [*UNITS["unit_id"], "ZZ", None]
ip_rows = st.fixed_dictionaries({
    "unit_id": st.sampled_from(UNIT_IDS),
    "policy_cost": st.one_of(st.none(), st.integers(0, 2_000_000)),
    "deductible": st.one_of(st.none(), st.sampled_from([0, 20_000, 50_000, 60_000, 80_000])),
    "reimbursement_ratio": st.sampled_from([None, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.7999999999,
                                            1.5, -0.3, float("inf")]),
    "fund_paid": st.one_of(st.none(), st.integers(0, 2_000_000)),
    "referral": st.sampled_from([None, True, False]),
    "referral_from_unit_id": st.sampled_from(UNIT_IDS),
    "emergency": st.sampled_from([None, True, False]),
    "community_id": st.sampled_from(["C1", "C2", None]),
})


def scan_all(frame: pd.DataFrame, kind: str, rules, path: Path):
    """(listing, claim ids flagged, rows audited) of the scan on each engine × frame/Parquet."""
    columns = _audit_columns(frame, kind, rules)
    out = {}
    for name in ENGINES:
        engine = get_engine(name)
        for form, data in (("frame", frame), ("parquet", path)):
            rows, audited = engine.claims_to_audit(data, kind, columns, rules)
            ids = rows[KINDS[kind][1]].astype(str).tolist()
            out[name, form] = audit_kind(rows, kind, rules), ids, audited
    return out


#: units rows to draw from: the table's, and variants of its ids (a duplicated id, another
#: community, no level, no scope, no community)
UNIT_POOL = [*UNITS.to_dict("records"),
             {"unit_id": "H2", "community_id": "C2", "category": "county_hospital",
              "level": "tertiary", "scope": "county"},
             {"unit_id": "T1", "community_id": None, "category": "external", "level": "primary",
              "scope": "national"},
             {"unit_id": "T2", "community_id": "C1", "category": "township_center", "level": None,
              "scope": "county"},
             {"unit_id": "H1", "community_id": "C2", "category": "lead_hospital",
              "level": "tertiary", "scope": None}]
units_tables = st.lists(st.sampled_from(UNIT_POOL), min_size=1, max_size=10).map(
    lambda rows: pd.DataFrame(rows, columns=list(UNITS.columns)).astype("string"))


@settings(max_examples=5, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(ip_rows, max_size=40), st.lists(ip_rows, max_size=40), units_tables)
def test_random_claims_give_the_same_audit_on_every_engine(ip, op, units):
    """The scan itself (Engine.claims_to_audit), both engines, frames and Parquet, random
    claims and a random units table (duplicated ids, empty attributes): the same rows, the
    same count, the same listing — and the numpy rules over the whole table agree."""
    rules = rules_of(units, Policy.of(PARAMS))
    op = [{k: v for k, v in row.items() if k != "referral_from_unit_id"} for row in op]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, defaults, rows in (("inpatient", INPATIENT, ip), ("outpatient", OUTPATIENT, op)):
            frame = table(defaults, rows, KINDS[kind][1])
            results = scan_all(frame, kind, rules, to_parquet(frame, Path(tmp) / f"{kind}.parquet"))
            whole = audit_kind(frame, kind, rules)  # one pass of the rules, no scan
            for key, (listing_, ids, audited) in results.items():
                assert_frame_equal(listing_, whole, check_exact=True, obj=str(key))
                assert ids == results["pandas", "frame"][1], key
                assert audited == results["pandas", "frame"][2] <= len(frame), key


def test_pay_is_exact_where_the_product_would_overflow_int64():
    """pay() = round((policy − deductible)⁺ × ratio) half up in fen. A policy cost of 10^13 元
    (10^15 fen, below the loader's 10^15-元 limit) at 85 % is 8.5 × 10^14 fen exactly; the
    int64 product 10^15 × 8,500 (8.5 × 10^18) is within int64 but 2 × 10^15 fen at 90 %
    (1.8 × 10^19) is not — it must not wrap round to a negative amount."""
    import numpy as np

    from settlement.stages.audit import pay

    policy = np.array([10**15, 2 * 10**15, 1_000], dtype=np.int64)
    deductible = np.array([0, 0, 100], dtype=np.int64)
    ratio = np.array([8_500, 9_000, 8_500], dtype=np.int64)
    assert pay(policy, deductible, ratio).tolist() == [85 * 10**13, 18 * 10**14, 765]
    assert pay(policy[:1], deductible[:1], ratio[:1]).dtype == np.int64
