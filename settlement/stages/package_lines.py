"""The claims audit and the package lines it and the family-doctor fees add (issue 11).

Run before the package: the audit (:mod:`audit`) of every claim, the family-doctor fees
(:mod:`family_doctor`) and the package basis measures (service and signed population per
community). Their ``other_lines`` join the chronic capitation's in the expenditure scan and
the ledger, so the package pays for them exactly once::

    other_lines = chronic carve-out lines + family_doctor_fees + claims_audit (if adjusting)
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from settlement.params import Params
from settlement.problems import Problem
from settlement.scan import Engine
from settlement.stages.audit import AuditResult, audit_claims, expenditure_lines
from settlement.stages.audit_table import check_table
from settlement.stages.family_doctor import FamilyDoctorResult, settle_family_doctor
from settlement.vocabulary import member_units


class PackageLines(NamedTuple):
    audit: AuditResult
    table_check: pd.DataFrame
    family_doctor: FamilyDoctorResult
    lines: pd.DataFrame | None  # extra other_lines (community_id, line, label_zh, amount)
    basis_measures: pd.DataFrame  # community_id, service_population, signed_population
    problems: list[Problem]


def package_lines(t: dict[str, pd.DataFrame], params: Params, year: int, *,
                  engine: Engine | str | None = None) -> PackageLines:
    """Audit, family-doctor fees and package-basis measures from the input frames
    (``engine``: the scan engine the audit reads the claims through)."""
    audit = audit_claims(t["inpatient_cases"], t["outpatient_claims"], t["units"],
                         params.reimbursement, engine=engine)
    fees = settle_family_doctor(t.get("family_doctor_fees"), t["units"], t["communities"],
                                params.family_doctor, year)
    parts = [f for f in (fees.lines, expenditure_lines(audit.claims, params.reimbursement))
             if f is not None and len(f)]
    lines = pd.concat(parts, ignore_index=True) if parts else None
    return PackageLines(audit, check_table(params.reimbursement).table, fees, lines,
                        basis_measures(t["units"], t["communities"], fees.signed),
                        audit.problems + fees.problems)


def basis_measures(units: pd.DataFrame, communities: pd.DataFrame,
                   signed: pd.Series) -> pd.DataFrame:
    """Per community: Σ service population of its member units and its signed population."""
    member = member_units(units)
    service = member.groupby(member["community_id"].astype(str))["service_population"].sum()
    ids = communities["community_id"].astype(str)
    return pd.DataFrame({
        "community_id": pd.array(ids, dtype="string"),
        "service_population": service.reindex(ids).fillna(0).astype("int64").to_numpy(),
        "signed_population": signed.reindex(ids).fillna(0).astype("int64").to_numpy()})


def with_lines(other_lines: pd.DataFrame | None, extra: pd.DataFrame | None) -> pd.DataFrame | None:
    """The chronic stage's other_lines with the extra lines appended."""
    frames = [f for f in (other_lines, extra) if f is not None and len(f)]
    if len(frames) < 2:
        return frames[0] if frames else other_lines
    out = pd.concat(frames, ignore_index=True)
    out["amount"] = out["amount"].astype("int64")
    return out
