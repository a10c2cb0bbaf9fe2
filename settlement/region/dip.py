"""The region's DIP point value (区域点数法总额预算): one point value for every hospital.

The hospitals of the region are every unit whose scope (region-relative) is ``county`` or
``city`` and whose category is not ``village_clinic``: the member units of every county and
the city hospitals (市直医院). Every inpatient case of the region treated at one of them is
scored with the region's DIP parameters (the same scoring as a county run:
:mod:`settlement.dip.scoring`, through the scan engine's ``dip_unit_points``, which reads a
Parquet folder out of core as well as a frame), and::

    pool        = region DIP fund budget ÷ reimbursement ratio          (DIP 总额)
    point value = pool ÷ Σ points of the region's hospitals, half up to point_value_decimals

Each county is then settled at that point value (``point_value_mode: region``).
Example: budget 64,000,000 元 at ratio 0.64 → pool 100,000,000 元; Σ points 5,000,000 →
point value 20.0000 元/分; a hospital with 120,000 points is worth 2,400,000.00 元.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from settlement.dip.settle import PointValue, points_decimal, price, settlement_point_value
from settlement.money import yuan_display
from settlement.params import DipParams
from settlement.problems import Problem

HOSPITAL_SCOPES = ("county", "city")
#: the per-hospital region DIP table (区域病种分值汇总): money int64 fen
HOSPITAL_COLUMNS = ["county_id", "unit_id", "unit_name", "category", "level", "scope", "cases",
                    "excluded_cases", "point_units", "points", "gross_value", "at_cost",
                    "self_pay", "violation_deduction"]


@dataclass(frozen=True)
class RegionDip:
    """The region's point value, its derivation and the region DIP per hospital."""

    point_value: PointValue
    decimals: int  # case points are point_units × 10^-decimals
    hospitals: pd.DataFrame  # HOSPITAL_COLUMNS, one row per hospital with cases
    problems: list[Problem]

    @property
    def value(self) -> Decimal:
        return self.point_value.settlement

    def derivation(self) -> list[tuple[str, str]]:
        """(label, value) lines: budget ÷ ratio = pool; pool ÷ Σ points = point value."""
        pv = self.point_value
        return [("病例分值合计 Σ points（全区域医院）", f"{pv.total_points:,}"),
                ("DIP 总额 pool = 基金预算 ÷ 报销比例", f"{yuan_display(pv.pool)} 元"),
                ("测算点值（未取整）pool ÷ Σ points", "" if pv.formula_value is None
                 else f"{pv.formula_value:.10f}"),
                ("区域结算点值 settlement point value", f"{pv.settlement} 元/分")]


def hospital_units(units: pd.DataFrame) -> pd.DataFrame:
    """The units frame the region's DIP is scored on: hospitals as members, the rest external.

    A city hospital has no community: it gets a placeholder (its own unit id) so that the
    scoring treats it as a member; the community of a case is always the insured's.
    """
    hospital = (units["scope"].isin(HOSPITAL_SCOPES) & units["category"].ne("village_clinic")
                ).fillna(False).to_numpy()
    out = units.copy()
    out["community_id"] = out["community_id"].where(~hospital | out["community_id"].notna(),
                                                    out["unit_id"])
    out.loc[~hospital, "community_id"] = pd.NA
    category = out["category"].where(~(hospital & out["category"].eq("external").fillna(False)),
                                     "county_hospital")
    out["category"] = category.where(hospital, "external")
    return out.astype(units.dtypes.to_dict())


def hospital_points(tables: dict[str, pd.DataFrame], params: DipParams,
                    dated: list[tuple] | None = None, engine=None):
    """Σ per hospital of the region (:func:`hospital_units`) of the points of ``tables``' cases
    (:class:`settlement.dip.scan.DipPoints`): all the region's cases, or one county's share."""
    units = hospital_units(tables["units"])
    return _scan(engine).dip_unit_points(tables["inpatient_cases"], units, tables["dip_groups"],
                                         tables["dip_reference_costs"], params, dated=dated)


def region_point_value(tables: dict[str, pd.DataFrame], params: DipParams,
                       dated: list[tuple] | None = None, engine=None) -> RegionDip:
    """Score every case of the region at its hospitals; the region's point value."""
    sums = hospital_points(tables, params, dated, engine)
    return combine([sums.table], sums.decimals, tables["units"], params, list(sums.problems))


def combine(parts: list[pd.DataFrame], decimals: int, units: pd.DataFrame, params: DipParams,
            problems: list[Problem] | None = None) -> RegionDip:
    """The region's point value from the counties' shares (exact int64 sums per hospital)."""
    sums = pd.concat(parts, ignore_index=True)
    keys = sums["unit_id"].astype(str)
    sums = sums.drop(columns="unit_id").groupby(keys.to_numpy(), sort=True).sum()
    sums = sums.rename_axis("unit_id").reset_index().astype({c: "int64" for c in sums.columns})
    total = int(sums["point_units"].sum())
    pv, found = settlement_point_value(points_decimal(total, decimals), params)
    return RegionDip(pv, decimals, _hospital_table(sums, units, pv, decimals),
                     list(problems or []) + found)


def _scan(engine):
    """The configured scan engine when it has the DIP scan, else the pandas reference."""
    from settlement.dip.scan import PandasDipScan
    from settlement.scan import resolve

    try:
        chosen = resolve(engine)
    except Exception:  # noqa: BLE001 - an engine that cannot start: the reference scan
        return PandasDipScan()
    return chosen if hasattr(chosen, "dip_unit_points") else PandasDipScan()


def _hospital_table(sums: pd.DataFrame, units: pd.DataFrame, pv: PointValue,
                    decimals: int) -> pd.DataFrame:
    info = units.assign(unit_id=units["unit_id"].astype(str)).set_index("unit_id")
    out = sums.assign(unit_id=sums["unit_id"].astype(str)).reset_index(drop=True)
    for col in ("county_id", "unit_name", "category", "level", "scope"):
        out[col] = info.loc[out["unit_id"], col].to_numpy()
    out["points"] = out["point_units"].to_numpy(dtype="float64") / 10.0 ** decimals
    out["gross_value"] = price(out["point_units"], pv.settlement, decimals).to_numpy(np.int64)
    out = out.sort_values(["county_id", "unit_id"], na_position="last", kind="stable")
    return out[HOSPITAL_COLUMNS].reset_index(drop=True)  # counties in id order, then the city
