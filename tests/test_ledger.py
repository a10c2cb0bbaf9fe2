"""The community ledger (§2.8): package = expenditure + retained + returned (± overrun shares),
balancing to 0.00 exactly in every section, in every scenario."""

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from global_budget_scenario import (SCORES, UNITS, YUAN, communities, expenditure, fund_budget, s,
                                    sample_params, with_section)
from settlement.params import Band, Corridor, ScoreRule
from settlement.stages.corridor import settle_corridor
from settlement.stages.distribution import distribute
from settlement.stages.ledger import LEDGER_COLUMNS, LedgerError, check_ledger, community_ledger
from settlement.stages.package import settle_packages

P = sample_params()


def full_run(a_spend, b_spend, params=P, budget=None, scores=SCORES, adjustments=None, other=None):
    packages = settle_packages(communities(), fund_budget() if budget is None else budget,
                               params.package).table
    exp = expenditure(a_spend, b_spend)
    if other is not None:
        extra = other.groupby("community_id")["amount"].sum()
        for i, cid in enumerate(exp["community_id"]):
            exp.loc[i, "expenditure_other"] = int(extra.get(cid, 0))
            exp.loc[i, "expenditure"] += int(extra.get(cid, 0))
    settlement = settle_corridor(packages, exp, scores, params.corridor, adjustments).table
    units = distribute(settlement, UNITS, scores, params.distribution).table
    return settlement, units, community_ledger(settlement, units, other_lines=other)


def amounts(ledger, cid):
    mine = ledger[ledger["community_id"] == cid]
    return dict(zip(mine["line"], mine["amount"]))


def test_issue_ledger_for_a_and_b():
    _, _, ledger = full_run(316_000_000 * YUAN, 230_000_000 * YUAN)
    assert list(ledger.columns) == LEDGER_COLUMNS
    a, b = amounts(ledger, "A"), amounts(ledger, "B")
    # A: 385,200,000 − 36,000,000 − 17,460,000 − 331,740,000 = 0 (package section)
    assert (a["financing"], a["critical_illness"], a["reserve"], a["package_out"]) == (
        385_200_000 * YUAN, -36_000_000 * YUAN, -17_460_000 * YUAN, -331_740_000 * YUAN)
    # A: 331,740,000 − 316,000,000 − 15,740,000 = 0 (settlement section)
    assert a["package"] == 331_740_000 * YUAN
    assert a["expenditure_dip"] == -316_000_000 * YUAN
    assert a["surplus_retained"] == -15_740_000 * YUAN
    # A: 15,740,000 − 9,444,000 − 4,722,000 − 1,574,000 = 0 (distribution section)
    assert (a["surplus_to_units"], a["surplus_tier:county"], a["surplus_tier:township"],
            a["surplus_tier:village"]) == (15_740_000 * YUAN, -9_444_000 * YUAN, -4_722_000 * YUAN,
                                           -1_574_000 * YUAN)
    # B: 221,160,000 − 230,000,000 + 4,420,000 + 4,420,000 = 0
    assert b["package"] + b["expenditure_dip"] + b["overrun_fund_share"] + b["overrun_community_share"] == 0
    assert b["overrun_fund_share"] == b["overrun_community_share"] == 4_420_000 * YUAN
    assert a["total"] == b["total"] == 0
    assert "expenditure_dip_rounding" in a  # the named rounding line is always there
    assert ledger.groupby(["community_id", "section"])["amount"].sum().eq(0).all()


def test_official_package_carve_out_and_other_lines_are_itemised():
    budget = fund_budget(official=[None, 221_000_000 * YUAN])
    other = pd.DataFrame({"community_id": s("A", "A"), "line": s("family_doctor", "chronic_carve_out"),
                          "label_zh": s("家庭医生签约服务费", "慢病包干人群支出（单列）"),
                          "amount": pd.array([2_000_000 * YUAN, -500_000 * YUAN], dtype="int64")})
    _, _, ledger = full_run(300_000_000 * YUAN, 230_000_000 * YUAN, budget=budget, other=other)
    a, b = amounts(ledger, "A"), amounts(ledger, "B")
    assert b["official_adjustment"] == -160_000 * YUAN
    assert a["other:family_doctor"] == -2_000_000 * YUAN
    assert a["other:chronic_carve_out"] == 500_000 * YUAN
    assert a["total"] == b["total"] == 0


def test_tampered_ledger_raises_a_clear_error():
    _, _, ledger = full_run(316_000_000 * YUAN, 230_000_000 * YUAN)
    bad = ledger.copy()
    bad.loc[(bad["community_id"] == "A") & (bad["line"] == "surplus_retained"), "amount"] -= 1
    with pytest.raises(LedgerError, match=r"A 打包额使用（settlement）差 -0.01"):
        check_ledger(bad)


def test_distribution_that_does_not_tie_fails_loudly():
    settlement, units, _ = full_run(316_000_000 * YUAN, 230_000_000 * YUAN)
    units = units.copy()
    units.loc[units["unit_id"] == "TA1", "surplus_share"] += 1
    with pytest.raises(LedgerError, match="distribution"):
        community_ledger(settlement, units)


def test_other_lines_must_tie_to_the_expenditure():
    settlement, _, _ = full_run(316_000_000 * YUAN, 230_000_000 * YUAN)
    other = pd.DataFrame({"community_id": s("A"), "line": s("x"), "label_zh": s("x"),
                          "amount": pd.array([1], dtype="int64")})
    with pytest.raises(LedgerError, match="不一致"):
        community_ledger(settlement, other_lines=other)


# ------------------------------------------------------------------ property: always balances
rates = st.decimals(min_value=0, max_value=1, places=2)
uppers = st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.5"), places=3),
                  max_size=3, unique=True).map(sorted)


@st.composite
def corridors(draw):
    edges = draw(uppers)
    bands = [Band(upper=u, rate=draw(rates)) for u in edges] + [Band(upper=None, rate=draw(rates))]
    return Corridor(bands=bands, mode=draw(st.sampled_from(["marginal", "first_dollar"])),
                    cap_share=draw(st.one_of(st.none(), st.decimals(min_value=0, max_value=Decimal("0.2"),
                                                                    places=3))))


@st.composite
def scenarios(draw):
    insured = (draw(st.integers(1, 2_000_000)), draw(st.integers(1, 2_000_000)))
    financing = draw(st.integers(1_000, 200_000))  # fen per capita
    premium = draw(st.integers(0, financing))
    package = with_section(P, "package", risk_reserve_rate=draw(rates), package_share=draw(rates))
    params = with_section(package, "corridor", surplus=draw(corridors()), overrun=draw(corridors()),
                          approved_overrun_fund_rate=draw(rates),
                          fund_share_capped_by_reserve=draw(st.booleans()),
                          community_score_rule=ScoreRule(method="proportional"))
    scale = insured[0] * financing
    spend = [draw(st.integers(0, 2 * max(1, insured[i] * financing))) for i in range(2)]
    approved = draw(st.integers(0, scale))
    score = draw(st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)))
    return insured, financing, premium, params, spend, approved, score


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_ledger_balances_in_every_scenario(scenario):
    insured, financing, premium, params, spend, approved, score = scenario
    budget = fund_budget()
    budget["per_capita_financing"] = [financing] * 2
    budget["critical_illness_premium_per_capita"] = [premium] * 2
    scores = SCORES.copy()
    scores.loc[scores["entity_type"] == "community", "score"] = score
    adjustments = pd.DataFrame({"adjustment_id": s("ADJ1"), "community_id": s("B"), "reason": s("epidemic"),
                                "amount": pd.array([max(1, approved)], dtype="int64"),
                                "document_ref": s("x")})
    packages = settle_packages(communities(insured), budget, params.package).table
    settlement = settle_corridor(packages, expenditure(*spend), scores, params.corridor,
                                 adjustments).table
    units = distribute(settlement, UNITS, scores, params.distribution).table
    ledger = community_ledger(settlement, units)  # raises LedgerError if anything does not tie
    check_ledger(ledger)
    assert (ledger.loc[ledger["line"] == "total", "amount"] == 0).all()
    for r in settlement.itertuples():
        assert r.surplus_retained + r.surplus_returned == max(r.balance, 0)
        assert 0 <= r.surplus_retained <= max(r.balance, 0)
        assert r.overrun_fund_share + r.overrun_community_share == max(-r.balance, 0)
        assert r.overrun_fund_share >= 0 and r.overrun_community_share >= 0
        if params.corridor.fund_share_capped_by_reserve:
            assert r.overrun_fund_share <= r.reserve
    per_community = units.groupby("community_id")[["surplus_share", "overrun_share"]].sum()
    for r in settlement.itertuples():
        assert per_community.loc[r.community_id, "surplus_share"] == r.surplus_retained
        assert per_community.loc[r.community_id, "overrun_share"] == r.overrun_community_share
