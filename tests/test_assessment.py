"""Community score from the indicator rubric, and the dual targets (双目标管理)."""

from decimal import Decimal

import pandas as pd
import pytest

from settlement.params import (AssessmentParams, DualTargetParams, DualTargetScale,
                               IndicatorTarget)
from settlement.stages.assessment import apply_dual_targets, community_assessment

SCORES = pd.DataFrame({"entity_type": ["community", "community", "unit"],
                       "entity_id": ["C1", "C2", "H1"], "score": [88.0, 75.0, 90.0]})
RUBRIC = pd.DataFrame({"scope": ["C1", "C2", "county"], "points": [70.0, 100.0, 85.0],
                       "max_points": [100.0, 100.0, 100.0]})
COMMUNITIES = pd.DataFrame({"community_id": ["C1", "C2"]})


def test_input_mode_keeps_the_scores():
    result = community_assessment(SCORES, RUBRIC, COMMUNITIES, AssessmentParams())
    assert result.performance_scores is SCORES
    assert result.table.set_index("community_id").loc["C1", "rubric_score"] == 70.0


def test_rubric_and_blend_feed_the_corridor_score():
    rubric = community_assessment(SCORES, RUBRIC, COMMUNITIES,
                                  AssessmentParams(community_score="rubric"))
    scores = rubric.performance_scores.set_index(["entity_type", "entity_id"])["score"]
    assert scores[("community", "C1")] == 70.0 and scores[("unit", "H1")] == 90.0
    blend = community_assessment(SCORES, RUBRIC, COMMUNITIES, AssessmentParams(
        community_score="blend", rubric_weight=Decimal("0.4")))
    table = blend.table.set_index("community_id")
    assert table.loc["C1", "score"] == pytest.approx(0.6 * 88 + 0.4 * 70)  # 80.8
    assert "加权 (1 − 0.4) × 88.0 + 0.4 × 70.0000 = 80.8000" in table.loc["C1", "explanation"]


DUAL = DualTargetParams(
    targets={"county_visit_rate": IndicatorTarget(target=Decimal("0.85"), direction="at_least"),
             "primary_outpatient_share": IndicatorTarget(target=Decimal("0.62"),
                                                         direction="at_least")},
    scale=(DualTargetScale(met=2, factor=Decimal(1)), DualTargetScale(met=1, factor=Decimal("0.8")),
           DualTargetScale(met=0, factor=Decimal("0.5"))))
# C1 meets both (86 %, 63 %); C2 only the first (90 %, 50 %)
INDICATORS = pd.DataFrame({
    "scope": ["C1", "C1", "C2", "C2"],
    "indicator": ["county_visit_rate", "primary_outpatient_share"] * 2,
    "numerator": [86, 63, 90, 50], "denominator": [100] * 4,
    "value": [0.86, 0.63, 0.90, 0.50]})


def test_dual_targets_scale_the_retained_surplus():
    community = pd.DataFrame({
        "community_id": ["C1", "C2"], "package": [1_000_000, 1_000_000],
        "surplus_retained": [100_000, 100_000], "surplus_returned": [0, 0],
        "explanation": ["", ""]})
    out, table = apply_dual_targets(community, INDICATORS, DUAL)
    out = out.set_index("community_id")
    assert out.loc["C1", "surplus_retained"] == 100_000
    assert out.loc["C2", "surplus_retained"] == 80_000  # one target met: × 0.8
    assert out.loc["C2", "surplus_returned"] == out.loc["C2", "surplus_returned_by_dual_targets"] == 20_000
    met = table.set_index(["community_id", "indicator"])["met"]
    assert met[("C2", "county_visit_rate")] and not met[("C2", "primary_outpatient_share")]
    assert set(table["targets_met"]) == {2, 1}


def test_the_2026_and_2027_targets_are_dated():
    from pathlib import Path

    from settlement.config import load_config, resolve

    config = load_config(Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml")
    assert resolve(config, 2025).params.dual_targets.targets is None
    for year, visits, primary in ((2026, "0.85", "0.62"), (2027, "0.90", "0.65")):
        targets = resolve(config, year).params.dual_targets.targets
        assert targets["county_visit_rate"].target == Decimal(visits)
        assert targets["primary_outpatient_share"].target == Decimal(primary)
        indicator = resolve(config, year).params.indicators.targets["county_visit_rate"]
        assert indicator.target == Decimal(visits)  # indicators.targets dated the same way
    assert config.tree["indicators"]["targets"]["values"].keys() >= {
        __import__("datetime").date(2026, 1, 1), __import__("datetime").date(2027, 1, 1)}
