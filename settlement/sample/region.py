"""A fictional pooling region (统筹区 示例市) for region runs and province-scale benchmarks.

``generate_region(out_dir, counties=N, scale=S)`` writes one data folder for N counties of
different sizes (:mod:`region_layout`), each with its communities, county hospitals, township
centres and village clinics, the region's city hospitals (市直医院) and the hospitals outside
it, and beside the data the region config ``region.yaml`` with the county configs it names
(:mod:`region_config`), ready for ``settlement run --region DIR/region.yaml --data DIR``.

Each county is drawn by the sample county's generator (the same steps and streams, from the
county's own seed) on its *view* of the region (:func:`region_county.county_view`): its
insured go to their own county's units, to the city hospitals and to other counties'
hospitals (跨县就医, the generator's "city" class), and outside the region (province,
national). The counties are generated and written one at a time (:mod:`region_writer`),
so memory holds one county — a province of 50 counties at scale 1 (≈ 9 million cases,
≈ 150 million claims) streams to Parquet partitions on an office machine.

>>> counts = generate_region(Path("/tmp/region"), counties=3, scale=0.01)  # doctest: +SKIP
>>> sorted(p.name for p in Path("/tmp/region").glob("*.yaml"))            # doctest: +SKIP
['region.yaml']

The same seed gives byte-identical files; ``settlement sample`` without ``--counties`` is
the single sample county, unchanged (:func:`settlement.sample.generate`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

from . import DEFAULT_SEED
from .calibrate import calibrate_fund
from .cases import build_cases, inpatient_cases_table
from .chronic import build_enrollees, chronic_enrollees_table
from .claims import build_claims, outpatient_claims_table
from .common import Table
from .dip import DipCatalogue, build_dip, dip_groups_table, dip_reference_costs_table
from .family_doctor import family_doctor_fees, family_doctor_fees_table, fees_by_community
from .payments import prepayments_table
from .region_config import DipTotals, level_coefficients, write_region_config
from .region_county import RegionCounty, county_view
from .region_layout import CountySpec, Region, build_region
from .region_tables import (communities_table, county_units_table, fund_budget_table,
                            overrun_adjustments_table, prefixed, region_hospitals_table)
from .region_writer import RegionWriter
from .scores import performance_scores_table, public_health_workpoints_table, workpoints

FORMATS = ("csv", "parquet")
#: the tables in the order the single-county sample lists them
TABLE_ORDER = ("communities", "fund_budget", "units", "dip_groups", "dip_reference_costs",
               "inpatient_cases", "outpatient_claims", "performance_scores", "chronic_enrollees",
               "public_health_workpoints", "prepayments", "overrun_adjustments",
               "family_doctor_fees")

__all__ = ["generate_region", "FORMATS"]


def generate_region(out_dir: Path, counties: int, seed: int = DEFAULT_SEED, scale: float = 1.0,
                    fmt: str = "csv", progress: Callable[[CountySpec, int], None] | None = None
                    ) -> dict[str, int]:
    """Write the region's tables and configs to ``out_dir``; return rows per table.

    ``progress(spec, cases)`` is called after each county is written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale!r}")
    region = build_region(seed, counties, scale)
    dip = build_dip(seed)
    writer = RegionWriter(Path(out_dir), fmt)
    for table in structural_tables(region, dip):
        writer.write(table)
    totals = DipTotals(level_coefficients())
    for k, spec in enumerate(region.counties):
        view = county_view(region.structures, region.city, k)
        for table in county_tables(view, dip, spec, totals):
            writer.write(prefixed(table, spec.county_id), spec.county_id)
        del view
        gc.collect()
        if progress is not None:
            progress(spec, totals.by_county[spec.county_id])
    counts = writer.close()
    write_region_config(Path(out_dir), region, totals)
    return {name: counts[name] for name in TABLE_ORDER}


def structural_tables(region: Region, dip: DipCatalogue) -> Iterator[Table]:
    """communities, fund_budget and units of every county, the region's hospitals, DIP."""
    for county in region.structures:
        yield communities_table(county)
    for county in region.structures:
        yield fund_budget_table(county)
    for county in region.structures:
        yield county_units_table(county)
    yield region_hospitals_table(region.city)
    yield dip_groups_table(dip)
    yield dip_reference_costs_table(dip)


def county_tables(view: RegionCounty, dip: DipCatalogue, spec: CountySpec,
                  totals: DipTotals) -> Iterator[Table]:
    """One county's drawn tables, in the sample generator's order of steps (see
    :func:`settlement.sample.generate`); each table is built only when it is written."""
    seed, size = spec.seed, spec.size
    enrollees = build_enrollees(seed, view)
    claims = build_claims(seed, view, enrollees, size)
    cases = build_cases(seed, view, dip, enrollees, size)
    fee_rows, fee_signed, fee_fen = family_doctor_fees(seed, view)
    calibrate_fund(view, cases, claims, fees_by_community(view, fee_rows, fee_fen))
    totals.add(view, dip, cases)
    wp_rows, wp_points, wp_quality = workpoints(seed, view)
    prepayments = prepayments_table(seed, view, enrollees, cases, claims, wp_rows, wp_points,
                                    wp_quality)
    yield outpatient_claims_table(view, claims)
    del claims
    yield inpatient_cases_table(view, dip, cases)
    yield performance_scores_table(seed, view)
    yield chronic_enrollees_table(view, enrollees)
    yield public_health_workpoints_table(view, wp_rows, wp_points, wp_quality, seed)
    yield prepayments
    yield overrun_adjustments_table(view)
    yield family_doctor_fees_table(view, fee_rows, fee_signed, fee_fen)
