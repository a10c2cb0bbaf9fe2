"""The stage contract (issue 13 §1): every stage is ``run(frames, ctx) -> StageResult``.

Checked here: a parameter path with a typo raises instead of citing ""; every entry of
``pipeline.STAGES`` returns a StageResult and together they publish exactly the run's result
tables; problems come back as values (never appended to a caller's list, never raised for a
data condition); the shared vocabulary and the variant tables match the contract's enums.
"""

from __future__ import annotations

import inspect
import typing
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from settlement import pipeline
from settlement.config import load_config, resolve
from settlement.loader import load_folder
from settlement.params import (AssessmentParams, Corridor, DistributionParams, PackageBasisParams,
                               ScoreRule, ScoreTier)
from settlement.rules import CORRIDOR_MODES, SCORE_METHODS, describe_rule, score_coefficient_exact
from settlement.schema import contract as load_contract
from settlement.stage import Context, Frames, StageResult, UnknownParameter, uncited
from settlement.stages.assessment import COMMUNITY_SCORES
from settlement.stages.corridor import settle_corridor
from settlement.stages.distribution import OVERRUN_RULES, distribute
from settlement.stages.package import BASES, settle_packages
from settlement.vocabulary import (CATEGORIES, CLAIM_TYPES, LEVELS, SCOPES, is_member,
                                   member_units)

ROOT = Path(__file__).resolve().parent.parent
#: the result tables a settlement publishes (CONTRACT.md "Outputs of a run" + supporting tables)
RESULT_TABLES = {
    "dip_cases", "dip_units", "dip_ledger", "community_settlement", "unit_distribution", "ledger",
    "chronic_settlement", "chronic_units", "public_health_allocation", "public_health_pools",
    "public_health_plan", "indicators", "indicator_scores", "expenditure", "packages",
    "claims_audit", "claims_audit_totals", "reimbursement_table_check", "family_doctor_fees",
    "community_assessment", "dual_targets", "unit_statement", "unit_funds", "bureau_communities",
    "bureau_units", "reconciliation_checks", "community_flows", "village_guarantee"}


@pytest.fixture(scope="module")
def sample():
    loaded = load_folder(ROOT / "sample_data")
    resolved = resolve(load_config(ROOT / "configs" / "sample-county.yaml"))
    return loaded.tables, resolved


# ------------------------------------------------------------------ cite
def test_cite_gives_the_document_and_raises_on_a_typo(sample):
    _, resolved = sample
    ctx = Context(resolved)
    assert ctx.cite("corridor.surplus") == resolved.trace["corridor.surplus"].reference
    assert ctx.cite("corridor.surplus").startswith("示医保发〔2024〕3号")
    with pytest.raises(UnknownParameter, match="corridor.surplis"):
        ctx.cite("corridor.surplis")
    with pytest.raises(KeyError):  # UnknownParameter is a KeyError
        ctx.source("package.risk_reserve_rat")
    assert ctx.source("package.risk_reserve_rate") == resolved.source("package.risk_reserve_rate")


def test_a_parameter_left_at_its_default_cites_no_document(sample):
    _, resolved = sample
    assert "dip.published_point_value" not in resolved.trace  # the sample computes its point value
    assert Context(resolved).cite("dip.published_point_value") == ""


def test_a_stage_called_without_a_config_still_checks_its_paths():
    assert uncited("package.package_share") == ""
    with pytest.raises(UnknownParameter):
        uncited("package.package_shares")


# ------------------------------------------------------------------ STAGES
def test_every_stage_returns_a_stage_result_and_together_the_run_tables(sample):
    tables, resolved = sample
    frames, ctx, published = Frames(tables), Context(resolved), []
    for stage in pipeline.STAGES:
        result = stage.run(frames, ctx)
        assert isinstance(result, StageResult), stage.name
        assert all(isinstance(f, pd.DataFrame) for f in result.tables.values()), stage.name
        assert not set(result.tables) & set(published), f"{stage.name} republishes a table"
        published += result.tables
        frames.add(result)
    assert set(published) == RESULT_TABLES


def test_settle_is_the_stages_in_a_loop_with_their_step_names(sample):
    tables, resolved = sample
    seen = []

    class Recorder:
        def __call__(self, name):
            seen.append(name)
            return pipeline.nullcontext()

    result = pipeline.settle(tables, resolved, Recorder())
    assert seen == [s.name for s in pipeline.STAGES]
    assert seen[0] == "DIP 结算 DIP settlement" and seen[-1] == "对账 reconciliation"
    assert set(result.tables) == RESULT_TABLES
    assert not [p for p in result.problems if p.severity == "error"]


def test_a_missing_fund_budget_is_an_error_problem_not_an_exception(sample):
    # community GT01 loses its fund budget: no package, so the bureau's identities cannot
    # hold — each is an error problem of the settlement, nothing raises
    tables, resolved = sample
    budget = tables["fund_budget"]
    dropped = budget.loc[budget["community_id"] != "GT01"]
    result = pipeline.settle({**tables, "fund_budget": dropped}, resolved)
    rules = [p.rule for p in result.problems if p.severity == "error"]
    assert rules[0] == "package.budget_missing" and "run.reconciliation" in rules
    assert "GT01" not in set(result.tables["packages"]["community_id"])
    own = pipeline.own_check_problems(result)
    assert not [p for p in own if p.rule == "run.reconciliation"]  # already reported once


@pytest.mark.parametrize("stage", [settle_packages, settle_corridor, distribute])
def test_stage_functions_take_no_problem_list(stage):
    parameters = inspect.signature(stage).parameters
    assert "problems" not in parameters and "references" not in parameters
    assert parameters["cite"].default is uncited


# ------------------------------------------------------------------ vocabulary
def test_member_unit_is_in_a_community_and_not_external():
    units = pd.DataFrame({"unit_id": ["L", "V", "X", "P"],
                          "community_id": pd.array(["C1", "C1", None, None], dtype="string"),
                          "category": pd.array(["lead_hospital", "village_clinic", "external",
                                                "county_hospital"], dtype="string")})
    assert is_member(units).tolist() == [True, True, False, False]
    assert member_units(units)["unit_id"].tolist() == ["L", "V"]
    outside = units.assign(community_id=pd.array(["C1"] * 4, dtype="string"))
    assert is_member(outside).tolist() == [True, True, False, True]


def test_vocabulary_matches_the_contract_enums():
    contract = load_contract()
    units = {c.name: c for c in contract["units"].columns}
    claims = {c.name: c for c in contract["outpatient_claims"].columns}
    assert set(CATEGORIES) == set(units["category"].enum)
    assert set(LEVELS) == set(units["level"].enum)
    assert set(SCOPES) == set(units["scope"].enum)
    assert set(CLAIM_TYPES) == set(claims["claim_type"].enum)


# ------------------------------------------------------------------ variants as tables
def _options(model, field: str) -> set[str]:
    return set(typing.get_args(model.model_fields[field].annotation))


def test_every_variant_of_the_parameters_has_its_table_entry():
    assert set(SCORE_METHODS) == _options(ScoreRule, "method")
    assert set(CORRIDOR_MODES) == _options(Corridor, "mode")
    assert set(OVERRUN_RULES) == _options(DistributionParams, "overrun_rule")
    assert set(BASES) | {"insured"} == _options(PackageBasisParams, "basis")  # insured: no re-split
    assert set(COMMUNITY_SCORES) == _options(AssessmentParams, "community_score")


@pytest.mark.parametrize("rule, expected", [
    (ScoreRule(method="proportional"), Decimal("0.85")),  # 85 / 100
    (ScoreRule(method="tiered", tiers=(ScoreTier(min_score=90, coefficient=Decimal("1.0")),
                                       ScoreTier(min_score=80, coefficient=Decimal("0.9")))),
     Decimal("0.9")),  # 80 ≤ 85 < 90
    (ScoreRule(method="threshold", threshold=Decimal("0.85")), Decimal(1)),  # 0.85 not below 0.85
])
def test_score_rules_of_the_rules_docstring(rule, expected):
    assert score_coefficient_exact(85, rule) == expected
    assert describe_rule(rule)
