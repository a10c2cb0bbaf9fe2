"""The region config the generator writes beside the data (区域配置): ``DIR/region.yaml`` and
the county configs it names, ``DIR/counties/<county_id>.yaml`` (AGREEMENTS D).

A county config is the sample county's (``settlement/sample/sample-county.yaml``) with the
county's name, WITHOUT ``parameters.dip`` (the region sets DIP for every county), its own
village clinics under ``village_guarantee.clinics`` and the 两病 pool scaled to its
residents. The region's ``parameters.dip`` is the sample's DIP section with the budget made
consistent with the generated cases, summed county by county (:class:`DipTotals`) over the
region's hospitals (every county's hospitals and township centres, the city hospitals)::

    fund_budget         = Σ fund_paid of their cases × 1.005, to 4 significant figures (元)
    reimbursement_ratio = Σ fund_paid ÷ Σ total_cost of those cases, 2 decimals
    budget_point_value  = fund_budget ÷ reimbursement_ratio ÷ Σ estimated points, 2 decimals
                          (estimated points of a grouped case: group score × its coefficient)

    Σ fund_paid 21,347,512.34 元 → × 1.005 = 21,454,250 → fund_budget 21,450,000 元
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from settlement.config import Leaf

from .cases import Cases
from .common import YEAR
from .dip import DipCatalogue
from .region_catalog import REGION, REGION_EN
from .region_county import RegionCounty
from .region_layout import Region

SAMPLE_CONFIG = Path(__file__).resolve().parent / "sample-county.yaml"
BUDGET_MARGIN = 1.005
BUDGET_FIGURES = 4
REGION_HOSPITAL_SCOPES = ("county", "city")  # as a county's view sees the region
TWO_DISEASES_YUAN_PER_RESIDENT = 300_000 / 551_200  # the sample county's pool at scale 1
FROM = dt.date(YEAR, 1, 1)


def sample_tree() -> dict:
    """The sample county's config as written (a fresh copy)."""
    return yaml.safe_load(SAMPLE_CONFIG.read_text(encoding="utf-8"))


@dataclass
class DipTotals:
    """Σ over the region's hospitals of fund_paid, total_cost (fen) and estimated points."""

    level_coefficients: dict[str, float]
    fund_fen: int = 0
    total_fen: int = 0
    points: float = 0.0
    cases: int = 0
    by_county: dict[str, int] = field(default_factory=dict)

    def add(self, view: RegionCounty, dip: DipCatalogue, cases: Cases) -> None:
        """Add one county's cases (unit rows of its view) treated at the region's hospitals."""
        scope, category = np.array(view.scope), np.array(view.category)
        at = (np.isin(scope[cases.unit_row], REGION_HOSPITAL_SCOPES)
              & (category[cases.unit_row] != "village_clinic"))
        self.fund_fen += int(cases.fund_fen[at].sum())
        self.total_fen += int(cases.total_fen[at].sum())
        self.cases += int(at.sum())
        self.by_county[view.county_id] = int(at.sum())
        coefficient = np.array([float(c) if c is not None else self.level_coefficients[lv]
                                for c, lv in zip(view.dip_coefficient, view.level)])
        grouped = at & (cases.group >= 0)
        group, row = cases.group[grouped], cases.unit_row[grouped]
        self.points += float((dip.score[group] * np.where(dip.basic[group], 1.0,
                                                          coefficient[row])).sum())

    def dip_values(self) -> dict[str, float | int]:
        """fund_budget (元), reimbursement_ratio and budget_point_value for the region."""
        if not (self.fund_fen > 0 and self.points > 0):
            raise ValueError("the region has no grouped case with fund spend at its hospitals: "
                             "the scale is too small")
        fund_yuan = self.fund_fen / 100 * BUDGET_MARGIN
        digits = BUDGET_FIGURES - len(str(int(fund_yuan)))
        budget = int(round(fund_yuan, min(digits, 0)))
        ratio = round(self.fund_fen / self.total_fen, 2)
        point = round(budget / ratio / self.points, 2)
        return {"fund_budget": budget, "reimbursement_ratio": ratio, "budget_point_value": point}


def level_coefficients() -> dict[str, float]:
    """The sample's DIP level coefficients in force on 1 January (for the point estimate)."""
    leaf = Leaf.model_validate(sample_tree()["parameters"]["dip"]["level_coefficients"])
    _, value, _ = leaf.value_on(FROM)
    return {level: float(v) for level, v in value.items()}


def region_dip(totals: DipTotals) -> dict:
    """The sample's DIP section for the whole region, budget from the generated cases."""
    dip = copy.deepcopy(sample_tree()["parameters"]["dip"])
    for leaf in dip.values():
        leaf["reference"] = leaf["reference"].replace("示医保发", "示市医保发")
    for path, value in totals.dip_values().items():
        dip[path]["values"] = {FROM: value}
    dip["fund_budget"]["label_zh"] = "全市（统筹区）DIP 住院统筹基金年度预算"
    dip["fund_budget"]["reference"] = (f"示市医保发〔{YEAR}〕2号 {YEAR} 年度全市住院统筹基金总额预算"
                                       "（区域点数法：各县医共体与市直医院共用一个点值）")
    return dip


def county_config(county: RegionCounty) -> dict:
    """The sample county's config for this county, without parameters.dip."""
    tree = sample_tree()
    tree["county"] = county.county_name
    tree["county_en"] = f"County {county.county_id} of {REGION_EN}"
    parameters = tree["parameters"]
    del parameters["dip"]
    parameters["village_guarantee"]["clinics"]["values"] = {FROM: guaranteed_clinics(county)}
    pool = max(10_000, round(int(county.residents.sum()) * TWO_DISEASES_YUAN_PER_RESIDENT, -4))
    parameters["public_health"]["two_diseases_pool"]["values"] = {FROM: int(pool)}
    return tree


def guaranteed_clinics(county: RegionCounty, count: int = 5) -> list[str]:
    """The first village clinic of each of the county's first ``count`` township centres."""
    first: dict[str, str] = {}
    for uid, category, parent in zip(county.unit_id, county.category, county.parent):
        if category == "village_clinic" and parent not in first:
            first[parent] = uid
    return list(first.values())[:count]


def write_region_config(out_dir: Path, region: Region, totals: DipTotals) -> Path:
    """Write DIR/region.yaml and DIR/counties/<id>.yaml; return the region file's path."""
    out_dir = Path(out_dir)
    (out_dir / "counties").mkdir(parents=True, exist_ok=True)
    listed = []
    for county in region.structures:
        relative = f"counties/{county.county_id}.yaml"
        _dump(out_dir / relative, county_config(county),
              f"# {REGION} {county.county_name}（{county.county_id}）医共体年度结算参数 — 示例数据生成器写出。\n"
              "# 病种分值付费（DIP）参数由区域配置 ../region.yaml 统一规定，本文件不含 parameters.dip。\n")
        listed.append({"county_id": county.county_id, "config": relative})
    region_file = out_dir / "region.yaml"
    _dump(region_file, {"region": REGION, "region_en": REGION_EN, "settlement_year": YEAR,
                        "scenario": "base", "counties": listed,
                        "parameters": {"dip": region_dip(totals)}},
          f"# {REGION}（统筹区）区域结算配置 — 示例数据生成器写出：{len(listed)} 个县（区），"
          "一个区域点值。\n# DIP 预算按生成的病例测算（区域内各县医院与市直医院病例的基金支付）。\n")
    return region_file


class _PlainDumper(yaml.SafeDumper):
    """Safe YAML without anchors and aliases (a shared date key is written out each time)."""

    def ignore_aliases(self, data) -> bool:
        return True


def _dump(path: Path, tree: dict, header: str) -> None:
    text = yaml.dump(tree, Dumper=_PlainDumper, allow_unicode=True, sort_keys=False, width=120)
    path.write_text(header + text, encoding="utf-8")
