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
* **public-health pool** (公卫资金池) names.
"""

from __future__ import annotations

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

# ------------------------------------------------------------------ public health
POOLS = ("basic", "two_diseases")
POOL_ZH = {"basic": "基本公共卫生服务经费", "two_diseases": "两病一体化签约服务经费"}


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
