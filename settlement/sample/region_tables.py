"""The region's own tables and the county prefix of row ids (区域数据表).

The structural tables span the region and carry ``county_id`` (AGREEMENTS D)::

    units          every county's units (county_id = its county, scope county), the city
                   hospitals (市直医院: county_id empty, scope city, category external) and the
                   province / national hospitals (county_id empty, their own scope)
    communities    every county's communities with their county_id
    fund_budget    every community's financing

Tables drawn per county (cases, claims, enrollees, prepayments …) come from the county
generator; their row ids are made unique across the region by the county id in front::

    ZY00000001 → C01ZY00000001     P100000042 → C01P100000042
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import YEAR, Table, whole_yuan
from .county import FINANCING_FEN, PREMIUM_FEN, units_table
from .payments import OVERRUN_REASONS
from .region_catalog import OUTSIDE_HOSPITALS, ordinal
from .region_county import RegionCounty

#: per county table: the id columns that get the county prefix
PREFIXED = {
    "inpatient_cases": ("case_id", "person_id"),
    "outpatient_claims": ("claim_id", "person_id"),
    "chronic_enrollees": ("person_id",),
    "prepayments": ("payment_id",),
}


def prefixed(table: Table, county_id: str) -> Table:
    """The table with its row ids (see :data:`PREFIXED`) prefixed by the county id."""
    for column in PREFIXED.get(table.name, ()):
        values = table.columns[column]
        text = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
        table.columns[column] = pc.binary_join_element_wise(pa.scalar(county_id), text, "")
    return table


def county_units_table(county: RegionCounty) -> Table:
    """A county's own units (as the sample's units table) with its county_id."""
    table = units_table(county)
    return table.add("county_id", "id", [county.county_id] * len(county.unit_id))


def region_hospitals_table(city: list[tuple[str, str, str, float]]) -> Table:
    """City hospitals (scope city) and the hospitals outside the region (province, national)."""
    rows = [(uid, name, "city", level) for uid, name, level, _ in city]
    rows += [(uid, name, scope, level) for uid, name, scope, level, _ in OUTSIDE_HOSPITALS]
    ids, unit_names, scopes, levels = (list(col) for col in zip(*rows))
    n = len(rows)
    return (Table("units")
            .add("unit_id", "id", ids)
            .add("unit_name", "text", unit_names)
            .add("community_id", "id", [None] * n)
            .add("category", "id", ["external"] * n)
            .add("level", "id", levels)
            .add("scope", "id", scopes)
            .add("parent_unit_id", "id", [None] * n)
            .add("service_population", "int", np.zeros(n, np.int64))
            .add("dip_coefficient", "float", [None] * n)
            .add("county_id", "id", [None] * n))


def communities_table(county: RegionCounty) -> Table:
    n = len(county.community_ids)
    leads = [county.unit_id[county.rows("lead_hospital", c)[0]] for c in range(n)]
    return (Table("communities")
            .add("community_id", "id", county.community_ids)
            .add("community_name", "text",
                 [f"{county.county_name}第{ordinal(c)}医共体" for c in range(n)])
            .add("lead_unit_id", "id", leads)
            .add("insured_enrollees", "int", county.insured.astype(np.int64))
            .add("resident_population", "int", county.residents.astype(np.int64))
            .add("county_id", "id", [county.county_id] * n))


def fund_budget_table(county: RegionCounty) -> Table:
    n = len(county.community_ids)
    return (Table("fund_budget")
            .add("community_id", "id", county.community_ids)
            .add("per_capita_financing", "money", np.full(n, FINANCING_FEN, np.int64))
            .add("critical_illness_premium_per_capita", "money", np.full(n, PREMIUM_FEN, np.int64))
            .add("other_earmarks_per_capita", "money", county.earmarks_fen.astype(np.int64))
            .add("official_package", "money", county.official_fen))


def overrun_adjustments_table(county: RegionCounty) -> Table:
    """The sample's two approved overrun reasons for every community calibrated to overrun."""
    rows = []
    for c in np.flatnonzero(county.spend_target > 1.0):
        package = county.official_fen[c] or int(county.package_fen[c])
        for reason, share, doc in ((r[1], r[2], r[3]) for r in OVERRUN_REASONS):
            amount = int(whole_yuan(np.array([round(package * share)]))[0])
            rows.append((county.community_ids[c], reason, amount, doc))
    ids = [f"{county.county_id}OA{YEAR}{k:03d}" for k in range(1, len(rows) + 1)]
    communities, reasons, amounts, docs = ((list(col) for col in zip(*rows)) if rows
                                           else ([], [], [], []))
    return (Table("overrun_adjustments")
            .add("adjustment_id", "id", ids)
            .add("community_id", "id", communities)
            .add("reason", "id", reasons)
            .add("amount", "money", np.array(amounts, dtype=np.int64))
            .add("document_ref", "text", docs))
