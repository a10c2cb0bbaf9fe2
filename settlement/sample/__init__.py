"""The fictional sample county (示例县): every input table of the data contract, generated.

``generate(out_dir)`` writes a settlement year 2025 for two medical communities::

    communities, fund_budget, units, dip_groups, dip_reference_costs, inpatient_cases,
    outpatient_claims, performance_scores, chronic_enrollees, public_health_workpoints,
    prepayments, overrun_adjustments, family_doctor_fees

Scale 1 is a county of 520,000 insured (GT01 300,000; GT02 220,000) with about 90,000
inpatient cases and 1.5 million outpatient claims; ``scale`` multiplies people, cases,
claims and enrollees, never the unit structure (2 communities, 5 county hospitals, 20
township centres, 200 village clinics, 16 external hospitals). Scale 10 is a city-sized
benchmark (~900,000 cases, ~15 million claims).

A pooling region of many counties of different sizes (统筹区, ``settlement sample --counties N``)
is :func:`settlement.sample.region.generate_region`; it reuses these steps county by county.

The data is calibrated so that GT01 spends ≈ 96 % of its package (surplus, 结余) and GT02
≈ 103 % (overrun, 超支); see :mod:`calibrate`. The same seed gives byte-identical files.

Pipeline (each step its own module and random stream)::

    county → dip → chronic → claims → cases → family doctor → calibrate → scores → payments
    → writer

>>> counts = generate(Path("/tmp/sample"), scale=0.01)       # doctest: +SKIP
>>> counts["inpatient_cases"], counts["outpatient_claims"]  # doctest: +SKIP
(900, 15000)
"""

from __future__ import annotations

from pathlib import Path

from .calibrate import calibrate_fund
from .cases import build_cases, inpatient_cases_table
from .chronic import build_enrollees, chronic_enrollees_table
from .claims import build_claims, outpatient_claims_table
from .county import build_county, communities_table, fund_budget_table, units_table
from .dip import build_dip, dip_groups_table, dip_reference_costs_table
from .family_doctor import family_doctor_fees, family_doctor_fees_table, fees_by_community
from .payments import overrun_adjustments_table, prepayments_table
from .scores import performance_scores_table, public_health_workpoints_table, workpoints
from .writer import write_table

DEFAULT_SEED = 20250101
FORMATS = ("csv", "parquet")

__all__ = ["generate", "DEFAULT_SEED", "FORMATS"]


def generate(out_dir: Path, seed: int = DEFAULT_SEED, scale: float = 1.0,
             fmt: str = "csv") -> dict[str, int]:
    """Write the sample county's input tables to ``out_dir``; return rows per table.

    ``fmt`` is ``"csv"`` (UTF-8, money as yuan text with two decimals) or ``"parquet"``
    (money as decimal128(18, 2)). Existing files of the same names are overwritten.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    county = build_county(seed, scale)
    dip = build_dip(seed)
    enrollees = build_enrollees(seed, county)
    claims = build_claims(seed, county, enrollees, scale)
    cases = build_cases(seed, county, dip, enrollees, scale)
    fee_rows, fee_signed, fee_fen = family_doctor_fees(seed, county)
    calibrate_fund(county, cases, claims, fees_by_community(county, fee_rows, fee_fen))
    wp_rows, wp_points, wp_quality = workpoints(seed, county)
    tables = [
        communities_table(county),
        fund_budget_table(county),
        units_table(county),
        dip_groups_table(dip),
        dip_reference_costs_table(dip),
        inpatient_cases_table(county, dip, cases),
        outpatient_claims_table(county, claims),
        performance_scores_table(seed, county),
        chronic_enrollees_table(county, enrollees),
        public_health_workpoints_table(county, wp_rows, wp_points, wp_quality, seed),
        prepayments_table(seed, county, enrollees, cases, claims, wp_rows, wp_points, wp_quality),
        overrun_adjustments_table(county),
        family_doctor_fees_table(county, fee_rows, fee_signed, fee_fen),
    ]
    return {table.name: write_table(table, out_dir, fmt) for table in tables}
