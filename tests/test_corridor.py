"""Surplus retained, reasonable overrun shared (§2.3), and the CMS shared-savings track."""

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from global_budget_scenario import (SCORES, YUAN, communities, expenditure,
                                    fund_budget, s, sample_params, with_section)
from settlement.config import load_config, resolve
from settlement.params import Band, Corridor
from settlement.rules import corridor_share, percent_of
from settlement.stages.corridor import SETTLEMENT_COLUMNS, settle_corridor
from settlement.stages.package import settle_packages

CMS_EXAMPLE = Path(__file__).resolve().parent.parent / "configs" / "examples" / "cms-shared-savings.yaml"
P = sample_params()


def settle(a_spend_yuan, b_spend_yuan, params=P, scores=SCORES, adjustments=None, problems=None,
           budget=None):
    packages = settle_packages(communities(), budget if budget is not None else fund_budget(),
                               params.package).table
    exp = expenditure(a_spend_yuan * YUAN, b_spend_yuan * YUAN)
    result = settle_corridor(packages, exp, scores, params.corridor, adjustments)
    if problems is not None:
        problems += result.problems
    return result.table.set_index("community_id")


def adjustments(*rows):
    cid, amount = zip(*rows)
    return pd.DataFrame({"adjustment_id": s(*(f"ADJ{i}" for i in range(len(rows)))),
                         "community_id": s(*cid), "reason": s(*["epidemic"] * len(rows)),
                         "amount": pd.array([a * YUAN for a in amount], dtype="int64"),
                         "document_ref": s(*["示医保函〔2025〕1号"] * len(rows))})


# ------------------------------------------------------------------ the county
def test_community_a_surplus_retained():
    # package 331,740,000.00 − spend 316,000,000.00 = surplus 15,740,000.00;
    # 15,740,000 / 331,740,000 = 4.7447 % ≤ 10 % → all in the 100 % band;
    # community score 95 → tiered coefficient 1.0 → retained 15,740,000.00, nothing returned
    a = settle(316_000_000, 230_000_000).loc["A"]
    assert a["package"] == 331_740_000 * YUAN
    assert a["balance"] == 15_740_000 * YUAN
    assert a["surplus_retained"] == 15_740_000 * YUAN
    assert a["surplus_returned"] == 0
    assert (a["overrun_fund_share"], a["overrun_community_share"]) == (0, 0)
    assert (a["community_score"], a["community_coefficient"]) == (95.0, 1.0)


def test_community_b_overrun_shared_half_and_half():
    # package 221,160,000.00 − spend 230,000,000.00 = −8,840,000.00;
    # 8,840,000 / 221,160,000 = 3.9971 % ≤ 5 % → fund bears 50 %: 4,420,000.00 each;
    # B's reserve 232,800,000 × 5 % = 11,640,000.00 covers the fund's share
    b = settle(316_000_000, 230_000_000).loc["B"]
    assert b["balance"] == -8_840_000 * YUAN
    assert percent_of(8_840_000, 221_160_000) == Decimal("3.9971")
    assert b["overrun_fund_share"] == 4_420_000 * YUAN
    assert b["overrun_community_share"] == 4_420_000 * YUAN
    assert b["reserve_excess"] == 0
    assert b["reserve_remaining"] == (11_640_000 - 4_420_000) * YUAN
    assert "3.9971%" in b["explanation"]
    assert "8,840,000.00 × 50% = 4,420,000.00" in b["explanation"]


def test_contract_columns_and_types():
    frame = settle(316_000_000, 230_000_000).reset_index()
    assert list(frame.columns[:len(SETTLEMENT_COLUMNS)]) == SETTLEMENT_COLUMNS
    money = [c for c in SETTLEMENT_COLUMNS if c not in ("community_id", "community_score",
                                                        "community_coefficient")]
    assert all(str(frame[c].dtype) == "int64" for c in money)


# ------------------------------------------------------------------ surplus corridor
def test_surplus_above_ten_percent_keeps_half_of_the_excess():
    # A spends 280,000,000.00 → surplus 51,740,000.00 (15.597 %);
    # band 1: 10 % of 331,740,000 = 33,174,000.00 × 100 %; band 2: 18,566,000.00 × 50 % = 9,283,000.00
    # → retained 42,457,000.00, returned 9,283,000.00 (all "by band")
    a = settle(280_000_000, 230_000_000).loc["A"]
    assert a["surplus_banded"] == (33_174_000 + 9_283_000) * YUAN
    assert a["surplus_retained"] == 42_457_000 * YUAN
    assert a["surplus_returned"] == a["surplus_returned_by_band"] == 9_283_000 * YUAN
    assert a["surplus_retained"] + a["surplus_returned"] == a["balance"]


def test_assessment_score_scales_retained_surplus():
    # score 85 → tiered 0.9: 15,740,000.00 × 0.9 = 14,166,000.00 retained, 1,574,000.00 returned
    scores = SCORES.copy()
    scores.loc[scores["entity_id"] == "A", "score"] = 85.0
    a = settle(316_000_000, 230_000_000, scores=scores).loc["A"]
    assert a["community_coefficient"] == 0.9
    assert a["surplus_retained"] == 14_166_000 * YUAN
    assert a["surplus_returned_by_score"] == 1_574_000 * YUAN
    assert a["surplus_returned_by_band"] == 0
    assert "考核系数 0.9" in a["explanation"]


def test_missing_community_score_is_an_error_when_there_is_a_surplus():
    problems = []
    scores = SCORES[SCORES["entity_id"] != "A"]
    a = settle(316_000_000, 230_000_000, scores=scores, problems=problems).loc["A"]
    assert a["surplus_retained"] == 0 and a["surplus_returned"] == a["balance"]
    assert [(p.rule, p.severity) for p in problems] == [("corridor.score_missing", "error")]


# ------------------------------------------------------------------ overrun corridor
def test_overrun_across_bands():
    # B spends 250,000,000.00 → overrun 28,840,000.00 (13.04 % of 221,160,000.00):
    # [0, 5 %] 11,058,000.00 × 50 % = 5,529,000.00; (5 %, 10 %] 11,058,000.00 × 30 % = 3,317,400.00;
    # above 10 %: 6,724,000.00 × 0 % → fund 8,846,400.00 ≤ reserve 11,640,000.00
    b = settle(316_000_000, 250_000_000).loc["B"]
    assert b["overrun_fund_share"] == (5_529_000 + 3_317_400) * YUAN
    assert b["overrun_community_share"] == (28_840_000 - 8_846_400) * YUAN


def test_approved_overrun_is_shared_first_at_its_own_rate():
    # B overrun 8,840,000.00 of which 2,000,000.00 approved (epidemic): 2,000,000 × 80 % = 1,600,000.00;
    # the rest 6,840,000.00 (3.09 %) × 50 % = 3,420,000.00 → fund 5,020,000.00, community 3,820,000.00
    b = settle(316_000_000, 230_000_000, adjustments=adjustments(("B", 2_000_000))).loc["B"]
    assert b["overrun_approved"] == 2_000_000 * YUAN
    assert b["overrun_approved_fund_share"] == 1_600_000 * YUAN
    assert b["overrun_banded_fund_share"] == 3_420_000 * YUAN
    assert b["overrun_fund_share"] == 5_020_000 * YUAN
    assert b["overrun_community_share"] == 3_820_000 * YUAN


def test_approved_amount_above_the_overrun_counts_only_up_to_it():
    problems = []
    b = settle(316_000_000, 230_000_000, adjustments=adjustments(("B", 10_000_000)),
               problems=problems).loc["B"]
    # 8,840,000.00 all approved × 80 % = 7,072,000.00; nothing left for the bands
    assert b["overrun_approved"] == 8_840_000 * YUAN
    assert b["overrun_fund_share"] == 7_072_000 * YUAN
    assert [p.rule for p in problems] == ["corridor.approved_above_overrun"]


def test_fund_share_is_capped_by_the_reserve_and_the_excess_reported():
    # B overrun 28,840,000.00 (spend 250,000,000.00), 20,000,000.00 approved:
    # approved 20,000,000 × 80 % = 16,000,000.00; rest 8,840,000.00 × 50 % = 4,420,000.00;
    # wanted 20,420,000.00 > reserve 11,640,000.00 → fund pays 11,640,000.00 from the reserve,
    # excess 8,780,000.00 stays with the community: 28,840,000 − 11,640,000 = 17,200,000.00
    problems = []
    b = settle(316_000_000, 250_000_000, adjustments=adjustments(("B", 20_000_000)),
               problems=problems).loc["B"]
    assert b["overrun_fund_share_before_cap"] == 20_420_000 * YUAN
    assert b["overrun_fund_share"] == b["reserve"] == 11_640_000 * YUAN
    assert b["reserve_excess"] == 8_780_000 * YUAN
    assert b["reserve_remaining"] == 0
    assert b["overrun_community_share"] == 17_200_000 * YUAN
    assert [(p.rule, p.severity) for p in problems] == [("corridor.reserve_exceeded", "warning")]
    assert "超过风险金 11,640,000.00" in b["explanation"]


def test_reserve_cap_can_be_switched_off():
    params = with_section(P, "corridor", fund_share_capped_by_reserve=False)
    b = settle(316_000_000, 250_000_000, params=params, adjustments=adjustments(("B", 20_000_000))).loc["B"]
    assert b["overrun_fund_share"] == 20_420_000 * YUAN and b["reserve_excess"] == 0


def test_balance_exactly_zero():
    # A spends exactly its package
    a = settle(331_740_000, 230_000_000).loc["A"]
    assert a["balance"] == 0
    assert a[["surplus_retained", "surplus_returned", "overrun_fund_share",
              "overrun_community_share"]].sum() == 0


# ------------------------------------------------------------------ corridor_share (rules.py)
def test_corridor_share_marginal_rounds_each_band_once():
    # base 1,001 fen, bands [0, 10 %] 100 %, above 50 %: edge 100.1 → 100 fen;
    # amount 333: 100 × 1 + 233 × 0.5 = 116.5 → 117 → 217
    corridor = Corridor(bands=(Band(upper=Decimal("0.1"), rate=Decimal(1)),
                               Band(upper=None, rate=Decimal("0.5"))))
    cs = corridor_share(333, 1001, corridor)
    assert [b.amount for b in cs.bands] == [100, 233]
    assert cs.shared == 100 + 117


def test_first_dollar_edge_is_configurable():
    msr = Corridor(mode="first_dollar", bands=(Band(upper=Decimal("0.02"), rate=Decimal(0)),
                                               Band(upper=None, rate=Decimal("0.5"))))
    assert corridor_share(200, 10_000, msr).shared == 100  # meets the MSR: next band
    assert corridor_share(200, 10_000, msr.model_copy(update={"at_edge": "this_band"})).shared == 0
    assert corridor_share(199, 10_000, msr).shared == 0


@pytest.mark.parametrize("bands", [
    [{"upper": 0.1, "rate": 1}],                                      # no open band
    [{"upper": 0.1, "rate": 1}, {"upper": 0.05, "rate": 1}, {"upper": None, "rate": 0}],
    [{"upper": 0.1, "rate": 1.5}, {"upper": None, "rate": 0}],        # rate above 100 %
])
def test_malformed_corridors_are_rejected(bands):
    with pytest.raises(ValidationError):
        Corridor(bands=bands)


# ------------------------------------------------------------------ CMS shared savings
def cms_params():
    """The CMS example: an overlay of configs/sample-county.yaml replacing its corridor."""
    return resolve(load_config(CMS_EXAMPLE)).params


@pytest.mark.parametrize("spend, shared, why", [
    # benchmark 10,000,000; savings 300,000 = 3 % ≥ MSR 2 % → 300,000 × 50 % = 150,000
    (9_700_000, 150_000, "savings above the MSR are shared from the first dollar"),
    # savings 150,000 = 1.5 % < MSR 2 % → nothing shared, all returns to the fund
    (9_850_000, 0, "below the minimum savings rate"),
    # savings 200,000 = 2 % exactly: meets the MSR → 100,000
    (9_800_000, 100_000, "savings that meet the MSR"),
    # savings 3,000,000 × 50 % = 1,500,000 > performance payment limit 10 % = 1,000,000
    (7_000_000, 1_000_000, "capped at 10 % of the benchmark"),
])
def test_cms_shared_savings_arithmetic(spend, shared, why):
    params = cms_params()
    assert params.corridor.surplus.mode == "first_dollar"
    budget = fund_budget(official=[10_000_000 * YUAN, None])  # A's benchmark = package
    scores = SCORES.copy()
    scores.loc[scores["entity_id"] == "A", "score"] = 100.0  # full quality score → coefficient 1
    a = settle(spend, 230_000_000, params=params, scores=scores, budget=budget).loc["A"]
    assert a["package"] == 10_000_000 * YUAN
    assert a["surplus_retained"] == shared * YUAN, why
    assert a["surplus_returned"] == (10_000_000 - spend - shared) * YUAN


def test_cms_quality_score_scales_before_the_cap():
    # quality 90 → 0.9: savings 300,000 × 50 % × 0.9 = 135,000
    params = cms_params()
    budget = fund_budget(official=[10_000_000 * YUAN, None])
    scores = SCORES.copy()
    scores.loc[scores["entity_id"] == "A", "score"] = 90.0
    a = settle(9_700_000, 230_000_000, params=params, scores=scores, budget=budget).loc["A"]
    assert a["surplus_retained"] == 135_000 * YUAN


def test_cms_one_sided_track_has_no_shared_losses():
    params = cms_params()
    b = settle(316_000_000, 230_000_000, params=params).loc["B"]
    # one-sided: the fund bears the whole 8,840,000.00; no reserve cap in MSSP
    assert b["overrun_fund_share"] == 8_840_000 * YUAN
    assert b["overrun_community_share"] == 0
