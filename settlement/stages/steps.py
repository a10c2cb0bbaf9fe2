"""The settlement's stages in the one stage contract: ``run(frames, ctx) -> StageResult``.

Each function below adapts one stage module to :mod:`settlement.stage`: it reads the input
frames (``frames.inputs``), the tables of the stages before it (``frames.results``, the
published result tables; ``frames.working``, frames passed on but not published), calls the
stage module's function and returns its tables and problems. :data:`settlement.pipeline.STAGES`
lists them in order; what each reads shows where its inputs come from::

    dip → chronic → claims audit → package and expenditure → indicators → corridor →
    distribution → public health → reconciliation
"""

from __future__ import annotations

import pandas as pd

from settlement.dip.stage import settle_dip
from settlement.problems import Problem
from settlement.reconcile import ReconciliationError, reconcile
from settlement.stage import Context, Frames, StageResult
from settlement.stages.assessment import apply_dual_targets, community_assessment
from settlement.stages.chronic import settle_chronic
from settlement.stages.corridor import settle_corridor
from settlement.stages.distribution import distribute, unit_measures
from settlement.stages.expenditure import scan_expenditure
from settlement.stages.indicators import compute_indicators
from settlement.stages.ledger import community_ledger
from settlement.stages.package import settle_packages
from settlement.stages.package_lines import package_lines, with_lines
from settlement.stages.public_health import settle_public_health
from settlement.stages.village_guarantee import village_guarantee


def dip(frames: Frames, ctx: Context) -> StageResult:
    """DIP/DRG: case points, point value, hospital settlement (:mod:`settlement.dip`)."""
    t = frames.inputs
    result = settle_dip(t["inpatient_cases"], t["units"], t["dip_groups"], t["dip_reference_costs"],
                        t["performance_scores"], t["prepayments"], ctx.params.dip,
                        source=ctx.source, dated=ctx.section_segments("dip"), engine=ctx.engine)
    return StageResult({"dip_cases": result.cases, "dip_units": result.units,
                        "dip_ledger": result.ledger}, result.problems, summary={"dip": result.summary})


def chronic(frames: Frames, ctx: Context) -> StageResult:
    """Chronic capitation: budget by person-days, cohort spend, corridor, managing units."""
    t, P = frames.inputs, ctx.params
    result = settle_chronic(
        enrollees=t["chronic_enrollees"] if P.chronic.enabled else None,
        inpatient_cases=t["inpatient_cases"], outpatient_claims=t["outpatient_claims"],
        units=t["units"], performance_scores=t["performance_scores"], params=P.chronic,
        year=ctx.year, communities=t["communities"], dip_cases=frames.results["dip_cases"],
        standard_segments=[(a, b, v["chronic.standards"], v["chronic.signed_bonus"])
                           for a, b, v in ctx.joint_segments("chronic.standards",
                                                             "chronic.signed_bonus")],
        engine=ctx.engine)
    return StageResult({"chronic_settlement": result.settlement, "chronic_units": result.units},
                       result.problems,
                       working={"chronic_carve_outs": result.carve_outs,
                                "chronic_enrolment": result.enrolment,
                                "chronic_other_lines": result.other_lines})


def claims_audit(frames: Frames, ctx: Context) -> StageResult:
    """Issue 11: the audit of every claim, family-doctor fees, package-basis measures."""
    extra = package_lines(frames.inputs, ctx.params, ctx.year, engine=ctx.engine)
    return StageResult(
        {"claims_audit": extra.audit.claims, "claims_audit_totals": extra.audit.totals,
         "reimbursement_table_check": extra.table_check,
         "family_doctor_fees": extra.family_doctor.units},
        extra.problems,
        working={"other_lines": with_lines(frames.working["chronic_other_lines"], extra.lines),
                 "basis_measures": extra.basis_measures},
        summary={"audited": extra.audit.audited})


def package_and_expenditure(frames: Frames, ctx: Context) -> StageResult:
    """Financing → reserve → package per community; cases and claims → expenditure lines."""
    t, r, w = frames.inputs, frames.results, frames.working
    packages = settle_packages(t["communities"], t["fund_budget"], ctx.params.package,
                               w["chronic_carve_outs"], ctx.cite, basis=ctx.params.package_basis,
                               basis_measures=w["basis_measures"])
    spend = scan_expenditure(r["dip_cases"], t["inpatient_cases"], t["outpatient_claims"],
                             t["units"], t["communities"], w["other_lines"], r["dip_units"],
                             engine=ctx.engine)
    return StageResult({"expenditure": spend, "packages": packages.table}, packages.problems)


def indicators(frames: Frames, ctx: Context) -> StageResult:
    """The indicators against their targets; the community score from the rubric."""
    t = frames.inputs
    result = compute_indicators(inpatient_cases=t["inpatient_cases"],
                                outpatient_claims=t["outpatient_claims"], units=t["units"],
                                params=ctx.params.indicators, communities=t["communities"],
                                enrolment=frames.working["chronic_enrolment"],
                                reference_costs=t["dip_reference_costs"], period=str(ctx.year),
                                engine=ctx.engine)
    assessment = community_assessment(t["performance_scores"], result.scores, t["communities"],
                                      ctx.params.assessment)
    return StageResult({"indicators": result.table, "indicator_scores": result.scores,
                        "community_assessment": assessment.table},
                       result.problems + assessment.problems,
                       working={"assessed_scores": assessment.performance_scores})


def corridor(frames: Frames, ctx: Context) -> StageResult:
    """Surplus retained / overrun shared; the dual targets scale the retained surplus."""
    r = frames.results
    result = settle_corridor(r["packages"], r["expenditure"], frames.working["assessed_scores"],
                             ctx.params.corridor, frames.inputs["overrun_adjustments"], ctx.cite)
    community, dual = apply_dual_targets(result.table, r["indicators"], ctx.params.dual_targets)
    return StageResult({"community_settlement": community, "dual_targets": dual}, result.problems)


def distribution(frames: Frames, ctx: Context) -> StageResult:
    """Tier pools → member units by performance; the community ledger, balanced to 0.00."""
    t, r = frames.inputs, frames.results
    measures = unit_measures(r["dip_units"], t["public_health_workpoints"])
    result = distribute(r["community_settlement"], t["units"], t["performance_scores"],
                        ctx.params.distribution, measures, ctx.cite)
    ledger = community_ledger(r["community_settlement"], result.table, frames.working["other_lines"])
    return StageResult({"unit_distribution": result.table, "ledger": ledger}, result.problems)


def public_health(frames: Frames, ctx: Context) -> StageResult:
    """The public-health fund: pools → tiers → units by work points and quality."""
    t = frames.inputs
    result = settle_public_health(communities=t["communities"], units=t["units"],
                                  workpoints=t["public_health_workpoints"],
                                  prepayments=t["prepayments"], params=ctx.params.public_health,
                                  year=ctx.year,
                                  standard_segments=ctx.segments("public_health.per_capita_standard"))
    return StageResult({"public_health_allocation": result.allocation,
                        "public_health_pools": result.pools, "public_health_plan": result.plan},
                       result.problems)


def reconciliation(frames: Frames, ctx: Context) -> StageResult:
    """Per unit and fund: entitlement, prepaid, balance; statements; the bureau's view; the
    village clinics' guaranteed income from the units' year income. An identity that does not
    hold (e.g. a community left without a package) is an error problem per failed check."""
    t, r = frames.inputs, frames.results
    try:
        rec = reconcile(r, t["units"], t["communities"], t["prepayments"], ctx.params, ctx.source,
                        outpatient_claims=t["outpatient_claims"], engine=ctx.engine)
    except ReconciliationError as exc:
        return StageResult({"reconciliation_checks": exc.checks}, reconciliation_problems(exc.checks))
    tables = rec.tables()
    guarantee = village_guarantee(ctx.params.village_guarantee, t["units"], t["performance_scores"],
                                  tables["unit_funds"], r["family_doctor_fees"])
    return StageResult({**tables, "village_guarantee": guarantee.table}, guarantee.problems)


def reconciliation_problems(checks: pd.DataFrame | None) -> list[Problem]:
    """One error problem per reconciliation identity that does not hold."""
    if checks is None or not len(checks):
        return []
    return [Problem("run.reconciliation", "error", "reconciliation_checks",
                    f"对账恒等式不成立：{r.label_zh}（{r.scope}）",
                    f"reconciliation check {r.check} fails for {r.scope}")
            for r in checks.loc[~checks["ok"].astype(bool)].itertuples(index=False)]
