"""Settling a whole DIP pooling region (统筹区, issue 13): one point value, many counties.

    config.py   the region file: region, year, counties (each its own county config), the
                region's ``parameters.dip``; merged into each county config
    split.py    the county view of the region's frames; the region's cross-county rules
    dip.py      the region point value over every hospital's cases; the region DIP per hospital
    counties.py the county tasks (one county's rows loaded at a time): check + DIP share, settle
    unassigned.py  rows of the big tables that belong to no county of the region (errors)
    run.py      ``settlement run --region FILE --data DIR [--workers N]``
    summary.py  区域汇总.xlsx

A folder without ``county_id`` is a region of one: ``settlement run --config`` is unchanged.
"""

from settlement.region.config import RegionConfig, county_setups, load_region, with_point_value
from settlement.region.dip import RegionDip, region_point_value
from settlement.region.split import county_view, region_problems

__all__ = ["RegionConfig", "RegionDip", "county_setups", "county_view", "load_region",
           "region_point_value", "region_problems", "with_point_value"]
