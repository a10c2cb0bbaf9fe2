"""Static name lists of the fictional pooling region 示例市 (Sample City) and its counties.

Plain data, no randomness (the layout draws from these with its own seeded stream). County
names are two characters + 县 (``东阳县``); township names two characters + 镇/乡 or 街道;
village names a surname, an optional direction and a suffix (``张东庄``, ``李集``).

>>> len(county_stems()) >= 100, len(town_stems()) >= 300, len(village_names()) >= 3000
(True, True, True)
>>> ordinal(0), number_zh(10), number_zh(23)
('一', '十', '二十三')
"""

from __future__ import annotations

from . import catalog

REGION = "示例市"
REGION_EN = "Sample City"

COUNTY_FIRST = "东西南北中新安永长清平宁丰"
COUNTY_SECOND = "阳川河山林丰乐城源江"
TOWN_FIRST = "石柳白红太长安新黄李王马双清桃青高龙金沙"
TOWN_SECOND = "桥林杨旗平乐集庄店坊河水园关山湖岗铺"
VILLAGE_MIDDLES = ("", "东", "西", "南", "北", "前", "后", "大", "小")
NUMERALS = "一二三四五六七八九"

#: private hospitals of a county (社会办医疗机构), in the order they are opened
PRIVATE_NAMES = ("仁和医院", "康宁医院", "博爱医院", "济民医院", "华康医院", "同济医院")

#: the catalogue's city hospitals become the region's first city hospitals (市直医院)
CITY_HOSPITALS = tuple(h for h in catalog.EXTERNAL_HOSPITALS if h[2] == "city")
#: hospitals outside the region (province, out of province), as in the single-county sample
OUTSIDE_HOSPITALS = tuple(h for h in catalog.EXTERNAL_HOSPITALS if h[2] != "city")


def county_stems() -> list[str]:
    return [a + b for a in COUNTY_FIRST for b in COUNTY_SECOND if a != b]


def town_stems() -> list[str]:
    return [a + b for a in TOWN_FIRST for b in TOWN_SECOND if a != b]


def village_names() -> list[str]:
    return [p + m + s for p in catalog.VILLAGE_PREFIXES for m in VILLAGE_MIDDLES
            for s in catalog.VILLAGE_SUFFIXES]


def number_zh(n: int) -> str:
    """1 → 一, 10 → 十, 23 → 二十三 (1 ≤ n ≤ 99)."""
    tens, ones = divmod(n, 10)
    if not tens:
        return NUMERALS[ones - 1]
    return (NUMERALS[tens - 1] if tens > 1 else "") + "十" + (NUMERALS[ones - 1] if ones else "")


def ordinal(k: int) -> str:
    """0 → 一, 1 → 二 … (numbering from position 0)."""
    return number_zh(k + 1)
