"""The fictional sample county (settlement.sample): contract shape, invariants, determinism.

A scale-0.05 county (4,500 cases, 75,000 claims) is generated once for the module; the
determinism checks use scale 0.01.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from settlement.money import format_yuan
from settlement.sample import generate
from settlement.sample.writer import yuan_decimal, yuan_text
from settlement.schema import contract

TABLES = list(contract())
MONEY = re.compile(r"^-?\d+\.\d{2}$")


def read(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)


def money(frame: pd.DataFrame, column: str) -> pd.Series:
    """Yuan text → int fen, exactly (the files always carry two decimals)."""
    return frame[column].str.replace(".", "", regex=False).astype("int64")


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("sample")
    return folder, generate(folder, seed=7, scale=0.05)


@pytest.fixture(scope="module")
def frames(county) -> dict[str, pd.DataFrame]:
    folder, _ = county
    return {table: read(folder, table) for table in TABLES}


def test_every_contract_table_is_written_with_its_columns(county, frames):
    folder, counts = county
    assert list(counts) == TABLES
    for name, schema in contract().items():
        header = list(frames[name].columns)
        required = [c.name for c in schema.columns if c.required]
        assert set(required) <= set(header), name
        assert header == [c for c in schema.column_names if c in header], name
        assert counts[name] == len(frames[name]) > 0, name
        assert not frames[name].duplicated(list(schema.primary_key)).any(), name


def test_money_columns_have_exactly_two_decimals(frames):
    for name, schema in contract().items():
        for col in schema.columns_of_type("money"):
            if col.name in frames[name]:
                values = frames[name][col.name]
                values = values[values != ""] if col.nullable else values
                assert values.str.match(MONEY).all(), (name, col.name)


def test_yuan_text_matches_the_project_formatter():
    fen = np.array([0, 7, 100, 123456, -5, -123456, 10**12 + 1], dtype=np.int64)
    assert yuan_text(fen).to_pylist() == format_yuan(pd.Series(fen)).tolist()
    assert [str(v) for v in yuan_decimal(fen).to_pylist()] == [
        "0.00", "0.07", "1.00", "1234.56", "-0.05", "-1234.56", "10000000000.01"]


def test_unit_structure(frames):
    units = frames["units"].set_index("unit_id")
    counts = units.category.value_counts()
    assert counts["lead_hospital"] == 2 and counts["township_center"] == 20
    assert counts["village_clinic"] == 200 and counts["private"] == 1
    assert set(units.loc[units.category == "external", "scope"]) == {"city", "province", "national"}
    assert (units.loc[units.category == "external", "community_id"] == "").all()
    villages = units[units.category == "village_clinic"]
    parents = units.loc[villages.parent_unit_id]
    assert (parents.category.to_numpy() == "township_center").all()
    assert (parents.community_id.to_numpy() == villages.community_id.to_numpy()).all()
    assert any(uid.startswith("0") for uid in units.index)  # exercises leading zeros
    communities = frames["communities"]
    leads = units.loc[communities.lead_unit_id]
    assert (leads.category == "lead_hospital").all()
    assert (leads.community_id.to_numpy() == communities.community_id.to_numpy()).all()


def test_case_invariants(frames):
    cases = frames["inpatient_cases"]
    total, self_pay, fund = (money(cases, c) for c in ("total_cost", "self_pay", "fund_paid"))
    assert ((self_pay >= 0) & (self_pay <= total)).all()
    assert (fund == total - self_pay).all()
    assert (cases.discharge_date >= cases.admission_date).all()
    for column in ("admission_date", "discharge_date"):
        assert cases[column].between("2025-01-01", "2025-12-31").all()
    units = frames["units"].set_index("unit_id")
    assert cases.unit_id.isin(units.index).all()
    assert not (units.loc[cases.unit_id, "category"] == "village_clinic").any()
    claims = frames["outpatient_claims"]
    assert (money(claims, "fund_paid") <= money(claims, "total_cost")).all()
    assert claims.service_date.between("2025-01-01", "2025-12-31").all()
    assert claims.unit_id.isin(units.index).all()


def test_every_member_case_has_a_reference_cost(frames):
    cases, units = frames["inpatient_cases"], frames["units"].set_index("unit_id")
    ref = frames["dip_reference_costs"]
    member = cases[(units.loc[cases.unit_id, "category"] != "external").to_numpy()]
    member = member[member.dip_group != ""]
    used = set(zip(member.dip_group, units.loc[member.unit_id, "level"]))
    assert used <= set(zip(ref.group_code, ref.level))
    cost = ref.assign(fen=money(ref, "avg_cost")).pivot(index="group_code", columns="level",
                                                        values="fen")
    assert ((cost.tertiary > cost.secondary) & (cost.secondary > cost.primary)).all()


def test_outlier_shares_look_like_a_real_county(frames):
    cases, units = frames["inpatient_cases"], frames["units"].set_index("unit_id")
    ref = frames["dip_reference_costs"].assign(fen=lambda f: money(f, "avg_cost"))
    ref = ref.set_index(["group_code", "level"]).fen
    member = cases[(units.loc[cases.unit_id, "category"] != "external").to_numpy()]
    matched = member[member.dip_group != ""]
    keys = list(zip(matched.dip_group, units.loc[matched.unit_id, "level"]))
    ratio = money(matched, "total_cost").to_numpy() / ref.loc[keys].to_numpy()
    assert 0.04 <= (ratio < 0.5).mean() <= 0.09
    assert 0.025 <= (ratio > 2).mean() <= 0.06
    assert 0.003 <= (cases.dip_group == "").mean() <= 0.02
    assert 0.03 <= (cases.childbirth == "true").mean() <= 0.07
    assert 0.03 <= (cases.referral == "true").mean() <= 0.08
    assert (cases.special_points != "").sum() >= 1
    scope = units.loc[cases.unit_id, "scope"].value_counts(normalize=True)
    assert 0.76 <= scope["county"] <= 0.84 and 0.03 <= scope["national"] <= 0.06
    self_share = money(cases, "self_pay").sum() / money(cases, "total_cost").sum()
    assert 0.30 <= self_share <= 0.45


def test_one_community_in_surplus_and_one_in_overrun(frames):
    spend = (money(frames["inpatient_cases"], "fund_paid")
             .groupby(frames["inpatient_cases"].community_id).sum()
             + money(frames["outpatient_claims"], "fund_paid")
             .groupby(frames["outpatient_claims"].community_id).sum())
    budget = frames["fund_budget"].set_index("community_id")
    insured = frames["communities"].set_index("community_id").insured_enrollees.astype(int)
    net = 110_000 - money(budget, "critical_illness_premium_per_capita") \
        - money(budget, "other_earmarks_per_capita")
    computed = insured * net * 95 // 100  # 5 % risk reserve
    assert budget.official_package["GT01"] == ""
    official = int(budget.official_package["GT02"].replace(".", ""))
    assert official != computed["GT02"] and abs(official / computed["GT02"] - 1) < 0.01
    assert 0.95 <= spend["GT01"] / computed["GT01"] <= 0.97
    assert 1.02 <= spend["GT02"] / official <= 1.04


def test_chronic_enrollees(frames):
    enrollees = frames["chronic_enrollees"]
    units = frames["units"].set_index("unit_id")
    assert enrollees.person_id.is_unique
    managing = units.loc[enrollees.managing_unit_id]
    assert managing.category.isin(["township_center", "village_clinic"]).all()
    assert (managing.community_id.to_numpy() == enrollees.community_id.to_numpy()).all()
    codes = enrollees.diseases.str.split(";").explode()
    assert set(codes) <= {"HT", "DM", "COPD", "CHD", "STROKE", "CKD"}
    excluded = enrollees.excluded_conditions[enrollees.excluded_conditions != ""]
    assert set(excluded.str.split(";").explode()) <= {"CANCER", "LEUKEMIA", "ESRD"}
    assert 0.01 <= len(excluded) / len(enrollees) <= 0.06
    ends = enrollees.enroll_end[enrollees.enroll_end != ""]
    assert (ends >= enrollees.enroll_start[ends.index]).all()
    claims = frames["outpatient_claims"]
    special = claims[claims.claim_type != "general"]
    assert special.person_id.isin(enrollees.person_id).all()
    period = special.merge(enrollees, on="person_id")
    end = period.enroll_end.replace("", "9999-12-31")
    outside = (period.service_date < period.enroll_start) | (period.service_date > end)
    assert 0 < outside.mean() < 0.1
    assert frames["inpatient_cases"].person_id.isin(enrollees.person_id).mean() > 0.05


def test_scores_workpoints_and_payments(frames):
    units = frames["units"]
    members = units[units.community_id != ""]
    scores = frames["performance_scores"]
    assert set(scores[scores.entity_type == "unit"].entity_id) == set(members.unit_id)
    assert set(scores[scores.entity_type == "community"].entity_id) == {"GT01", "GT02"}
    values = scores.score.astype(float)
    assert values.between(60, 100).all() and (values < 70).sum() >= 3
    points = frames["public_health_workpoints"]
    primary = units[units.category.isin(["township_center", "village_clinic"])].unit_id
    assert primary.isin(points.unit_id).all()
    assert (points.groupby(["unit_id", "pool"]).period.apply(sorted).map(tuple)
            == ("2025Q1", "2025Q2", "2025Q3", "2025Q4")).all()
    two = points[points.pool == "two_diseases"].unit_id
    assert set(two) <= set(primary) and len(set(two)) == len(primary)
    pay = frames["prepayments"]
    assert set(pay.fund) == {"dip", "package", "public_health", "chronic"}
    assert pay.period.str.match(r"^2025(-(0[1-9]|1[0-2])|Q[1-4])$").all()
    assert pay.payee_id.isin(set(units.unit_id) | {"GT01", "GT02"}).all()
    adjustments = frames["overrun_adjustments"]
    assert 1 <= len(adjustments) <= 2 and adjustments.document_ref.str.contains("〔2025〕").all()


def test_same_seed_gives_identical_bytes(tmp_path):
    first = generate(tmp_path / "a", seed=11, scale=0.01)
    second = generate(tmp_path / "b", seed=11, scale=0.01)
    assert first == second
    for table in TABLES:
        name = f"{table}.csv"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), table
    other = generate(tmp_path / "c", seed=12, scale=0.01)
    assert other["inpatient_cases"] == first["inpatient_cases"]
    assert ((tmp_path / "c" / "inpatient_cases.csv").read_bytes()
            != (tmp_path / "a" / "inpatient_cases.csv").read_bytes())


def test_parquet_matches_csv_and_units_do_not_depend_on_scale(tmp_path):
    generate(tmp_path / "csv", seed=5, scale=0.01)
    generate(tmp_path / "pq", seed=5, scale=0.01, fmt="parquet")
    cases = pq.read_table(tmp_path / "pq" / "inpatient_cases.parquet")
    assert cases.schema.field("total_cost").type == pa.decimal128(18, 2)
    text = read(tmp_path / "csv", "inpatient_cases")
    assert [format(v, "f") for v in cases.column("total_cost").to_pylist()] == \
        text.total_cost.tolist()
    assert cases.column("unit_id").to_pylist() == text.unit_id.tolist()
    generate(tmp_path / "big", seed=5, scale=0.02)
    small, big = read(tmp_path / "csv", "units"), read(tmp_path / "big", "units")
    assert small.drop(columns="service_population").equals(big.drop(columns="service_population"))


def test_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, fmt="xlsx")


def test_the_committed_sample_is_the_generator_at_scale_0_1(tmp_path):
    """sample_data/ = ``settlement sample --scale 0.1`` with the default seed, byte for byte."""
    committed = Path(__file__).resolve().parent.parent / "sample_data"
    counts = generate(tmp_path, scale=0.1)
    for table in counts:
        name = f"{table}.csv"
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


def test_reimbursement_columns_and_family_doctor_fees(frames):
    cases, claims = frames["inpatient_cases"], frames["outpatient_claims"]
    for frame in (cases, claims):
        ratio = frame.reimbursement_ratio.astype(float)
        assert ratio.between(0.3, 1).all()
        assert (money(frame, "policy_cost") <= money(frame, "total_cost")).all()
        assert 0.03 <= (frame.emergency == "true").mean() <= 0.12
    referred = cases[cases.referral_from_unit_id != ""]
    assert (referred.referral == "true").all() and len(referred) >= 10
    fees = frames["family_doctor_fees"]
    units = frames["units"].set_index("unit_id")
    assert set(units.loc[fees.unit_id, "category"]) == {"township_center", "village_clinic"}
    assert (money(fees, "amount") == fees.signed_persons.astype(int) * 250).all()
