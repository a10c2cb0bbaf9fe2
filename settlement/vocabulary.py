"""The shared vocabulary (共用术语): codes and tests every stage means the same way.

Defined once here and imported, never re-written in a stage:

* **member unit** (成员单位): a unit of ``units`` that belongs to a community
  (``community_id`` given) and is not an outside institution (category ``external``).
  A county hospital with no community, or an ``external`` row, is not a member::

      is_member(units)  →  [True, True, False]   for  (C1, lead_hospital), (C1, village_clinic),
                                                       (<NA>, external)

* **scope** (所在地域) of a treating institution relative to the county; **claim type**
  (门诊类型); **category** (机构类别) and **level** (医院等级) of a unit — the enums of
  ``settlement/schemas/units.yaml`` and ``outpatient_claims.yaml`` (a test keeps them equal);
* **case class** (病例类型) of DIP/DRG scoring;
* **public-health pool** (公卫资金池) names;
* **tier** (层级) of a unit in the surplus and public-health distributions, **claim kind**
  (住院/门诊) of an audited claim, **DIP ledger section** (DIP台账部分).

Every code a results table carries (the CSVs keep the codes: they are the contract) is shown
to people in Chinese through these tables (``settlement/report/results_book.py``).
"""

from __future__ import annotations

import re

import pandas as pd

# ------------------------------------------------------------------ units
EXTERNAL = "external"  # category of an institution outside the communities (县外/非成员机构)

CATEGORIES = ("lead_hospital", "county_hospital", "private", "township_center", "village_clinic",
              EXTERNAL)
CATEGORY_ZH = {"lead_hospital": "牵头医院", "county_hospital": "其他县级医院", "private": "社会办医疗机构",
               "township_center": "乡镇卫生院", "village_clinic": "村卫生室", EXTERNAL: "县外机构"}

LEVELS = ("tertiary", "secondary", "primary", "unrated")
LEVEL_ZH = {"tertiary": "三级", "secondary": "二级", "primary": "一级", "unrated": "未定级"}

SCOPES = ("county", "city", "province", "national")  # 县内, 市内县外, 省内市外, 省外
SCOPE_ZH = {"county": "县内", "city": "市内县外", "province": "省内市外", "national": "省外"}

# ------------------------------------------------------------------ claims and cases
CLAIM_TYPES = ("general", "chronic_special", "two_diseases")
CLAIM_TYPE_ZH = {"general": "普通门诊", "chronic_special": "门诊慢特病", "two_diseases": "“两病”门诊"}

CASE_CLASSES = ("normal", "low", "high", "special", "unmatched")
CASE_CLASS_ZH = {"normal": "正常病例", "low": "费用偏低病例", "high": "费用偏高病例",
                 "special": "特例单议病例", "unmatched": "未入组病例"}

CLAIM_KINDS = ("inpatient", "outpatient")
CLAIM_KIND_ZH = {"inpatient": "住院", "outpatient": "门诊"}

LEDGER_SECTION_ZH = {"package": "打包额测算", "settlement": "打包额使用", "distribution": "分配到成员单位",
                     "check": "轧差"}  # the community ledger's (医共体台账) sections
DIP_LEDGER_SECTIONS = ("pool", "units", "budget", "region")
DIP_LEDGER_SECTION_ZH = {"pool": "基金去向", "units": "成员单位结算", "budget": "预算点值与年终清算",
                         "region": "区域对账"}

# ------------------------------------------------------------------ distribution tiers
TIERS = ("county", "township", "village")
TIER_ZH = {"county": "县级医院", "township": "乡镇卫生院", "village": "村卫生室"}  # the sample config's label_zh
COUNTY_WIDE_ZH = "全县"  # scope "county" of an indicator, a check or an audit total: the whole county
AUDIT_BY_ZH = {"unit": "按机构", "community": "按参保人所属医共体", "rule": "按审核规则",
               "county": COUNTY_WIDE_ZH}  # claims_audit_totals.by

DIP_SETTLEMENT_ZH = {"scored": "按分值结算", "at_cost": "按基金实际支付", "excluded": "不予结算"}  # dip_cases.settlement
COEFFICIENT_SOURCE_ZH = {"level": "等级系数", "unit": "机构系数", "basic": "基层病种系数",
                         "approved": "核定分值（等级系数）"}  # dip_cases.coefficient_source

# ------------------------------------------------------------------ public health
POOLS = ("basic", "two_diseases")
POOL_ZH = {"basic": "基本公共卫生服务经费", "two_diseases": "两病一体化签约服务经费"}


def scope_level_zh(codes) -> str:
    """Scopes and levels of the ratio table in words: 'city secondary' → '市内县外 二级',
    'province、national' → '省内市外、省外'; other words (转诊, an id) unchanged."""
    if not isinstance(codes, str):
        return codes
    return "".join(SCOPE_ZH.get(w, LEVEL_ZH.get(w, w)) for w in re.split(r"([ 、])", codes))


def is_member(units: pd.DataFrame) -> pd.Series:
    """Boolean Series (same index as ``units``): the unit is a member unit of a community."""
    member = units["community_id"].notna() & units["category"].astype("string").ne(EXTERNAL)
    return member.fillna(False).astype(bool)


def member_units(units: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``units`` that are member units."""
    return units.loc[is_member(units)]


def community_of_members(units: pd.DataFrame) -> pd.Series:
    """unit_id → community_id (str) of every member unit."""
    member = member_units(units)
    return pd.Series(member["community_id"].astype(str).to_numpy(),
                     index=member["unit_id"].astype(str).to_numpy())
