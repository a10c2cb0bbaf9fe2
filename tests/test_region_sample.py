"""The sample pooling region (issue 13, point 8): ``settlement sample --counties N``.

One region of three small counties is generated once (seed 11, scale 0.01, CSV) and read
back with the loader; the tests check it against the region contract (AGREEMENTS D): every
community and unit names a county of region.yaml, the county configs resolve with the
region's DIP, care crosses county lines, the DIP budget is the generated cases' spend, the
structure grows with the scale, the same seed gives the same bytes, and the single-county
sample is untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from settlement.cli import main
from settlement.config import load_config, overlay, resolve
from settlement.loader import load_folder
from settlement.sample.region import generate_region
from settlement.sample.region_layout import build_region

ROOT = Path(__file__).resolve().parent.parent
SEED = 11


@pytest.fixture(scope="module")
def region_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("region")
    generate_region(out, counties=3, seed=SEED, scale=0.01)
    return out


@pytest.fixture(scope="module")
def region_file(region_dir) -> dict:
    return yaml.safe_load((region_dir / "region.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tables(region_dir) -> dict[str, pd.DataFrame]:
    loaded = load_folder(region_dir)
    assert loaded.problems == []
    return loaded.tables


def text(series: pd.Series) -> np.ndarray:
    return series.astype(object).where(series.notna(), "").to_numpy()


def where_treated(tables: dict[str, pd.DataFrame], name: str) -> pd.Series:
    """Per row of cases or claims: own county, other county, city hospital or outside."""
    rows, units = tables[name], tables["units"].set_index("unit_id")
    home = text(tables["communities"].set_index("community_id").county_id.reindex(rows.community_id))
    unit_county = text(units.county_id.reindex(rows.unit_id))
    scope = text(units.scope.reindex(rows.unit_id))
    return pd.Series(np.select(
        [unit_county == home, unit_county != "", scope == "city"],
        ["own county", "other county", "city hospital"], "outside"), index=rows.index)


def test_region_config_names_the_counties_and_each_county_config_resolves(region_dir, region_file):
    assert region_file["region"] == "示例市" and region_file["settlement_year"] == 2025
    ids = [entry["county_id"] for entry in region_file["counties"]]
    assert ids == ["C01", "C02", "C03"]
    dip = region_file["parameters"]["dip"]
    for entry in region_file["counties"]:
        config = load_config(region_dir / entry["config"])
        assert "dip" not in config.tree  # the region sets DIP for all its counties
        merged = dataclasses.replace(config, tree=overlay(config.tree, {"dip": dip}))
        params = resolve(merged).params
        assert params.dip.fund_budget == next(iter(dip["fund_budget"]["values"].values()))
        assert params.dip.point_value_mode == "computed"


def test_the_region_run_reads_the_generated_config(region_dir):
    region_config = pytest.importorskip("settlement.region.config")
    region = region_config.load_region(region_dir / "region.yaml")
    setups = region_config.county_setups(region)
    assert [setup.county_id for setup in setups] == ["C01", "C02", "C03"]


def test_every_community_and_unit_belongs_to_a_county_of_the_region(tables, region_file):
    ids = {entry["county_id"] for entry in region_file["counties"]}
    communities, units = tables["communities"], tables["units"]
    assert set(communities.county_id) == ids
    in_county = units[units.county_id.notna()]
    assert set(in_county.county_id) == ids and (in_county.scope == "county").all()
    members = in_county[in_county.community_id.notna()]
    county_of = communities.set_index("community_id").county_id
    assert (county_of.reindex(members.community_id).to_numpy() == members.county_id.to_numpy()).all()
    others = units[units.county_id.isna()]
    assert (others.category == "external").all() and others.community_id.isna().all()
    assert (others.scope == "city").sum() >= 6  # the city hospitals (市直医院)
    assert set(others.scope) == {"city", "province", "national"}


def test_patients_cross_county_lines_inside_the_region(tables):
    for name in ("inpatient_cases", "outpatient_claims"):
        where = where_treated(tables, name)
        shares = where.value_counts(normalize=True)
        assert shares["own county"] > 0.75, name
        assert shares["other county"] > 0.002, name  # 跨县就医 inside the region
        assert shares["city hospital"] > 0.02 and shares["outside"] > 0.02, name
        county = text(tables["communities"].set_index("community_id").county_id
                      .reindex(tables[name].community_id))
        crossing = pd.crosstab(county, where)
        assert (crossing["own county"] > 0).all() and (crossing["other county"] > 0).all(), name


def test_ids_are_unique_across_the_region(tables):
    for name, key in (("inpatient_cases", "case_id"), ("outpatient_claims", "claim_id"),
                      ("units", "unit_id"), ("prepayments", "payment_id"),
                      ("chronic_enrollees", "person_id")):
        assert tables[name][key].is_unique, name
    cases = tables["inpatient_cases"]
    county = tables["communities"].set_index("community_id").county_id.reindex(cases.community_id)
    assert (cases.person_id.str[:3].to_numpy() == county.to_numpy()).all()


def test_the_region_dip_budget_is_the_generated_cases_spend(tables, region_file):
    """fund_budget = Σ fund_paid of the cases at the region's hospitals × 1.005 to four
    significant figures; reimbursement_ratio = Σ fund_paid ÷ Σ total_cost, two decimals."""
    cases, units = tables["inpatient_cases"], tables["units"].set_index("unit_id")
    unit = units.reindex(cases.unit_id)
    at_hospital = ((unit.county_id.notna() | (unit.scope == "city"))
                   & (unit.category != "village_clinic")).to_numpy()
    fund, total = int(cases.fund_paid[at_hospital].sum()), int(cases.total_cost[at_hospital].sum())
    fund_yuan = fund / 100 * 1.005
    places = len(str(int(fund_yuan))) - 4
    expected_budget = round(fund_yuan / 10 ** places) * 10 ** places
    dip = region_file["parameters"]["dip"]
    value = lambda leaf: next(iter(dip[leaf]["values"].values()))  # noqa: E731
    assert value("fund_budget") == expected_budget
    assert value("reimbursement_ratio") == round(fund / total, 2)
    assert 8.0 < value("budget_point_value") < 16.0  # ≈ 11 元 a point × level cost factors


def test_county_configs_guarantee_their_own_village_clinics(region_dir, region_file, tables):
    units = tables["units"].set_index("unit_id")
    for entry in region_file["counties"]:
        params = yaml.safe_load((region_dir / entry["config"]).read_text(encoding="utf-8"))
        clinics = next(iter(params["parameters"]["village_guarantee"]["clinics"]["values"].values()))
        assert clinics and (units.loc[clinics, "county_id"] == entry["county_id"]).all()
        assert (units.loc[clinics, "category"] == "village_clinic").all()


def test_units_and_communities_grow_with_the_scale():
    """The single-county sample keeps 241 units at every scale; a region county grows."""
    counts = []
    for scale in (0.05, 1.0, 5.0):
        region = build_region(SEED, 3, scale)
        counts.append((sum(len(c.unit_id) for c in region.structures),
                       sum(len(c.community_ids) for c in region.structures),
                       sum(c.category.count("township_center") for c in region.structures),
                       len(region.city)))
    units, communities, townships, city = (list(column) for column in zip(*counts))
    assert units == sorted(units) and len(set(units)) == 3
    assert communities == sorted(communities) and communities[0] < communities[-1]
    assert townships == sorted(townships) and townships[0] < townships[-1]
    assert city == sorted(city) and city[0] < city[-1]


def test_county_sizes_differ_and_add_up_to_the_scale():
    region = build_region(SEED, 10, 1.0)
    sizes = np.array([spec.size for spec in region.counties])
    assert sizes.sum() == pytest.approx(2.0 * 10)
    assert sizes.max() > 1.5 * sizes.min()


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_parquet_holds_the_same_rows(tmp_path, tables):
    generate_region(tmp_path / "a", counties=3, seed=SEED, scale=0.01, fmt="parquet")
    result = CliRunner().invoke(main, ["sample", "--out", str(tmp_path / "b"), "--counties", "3",
                                       "--seed", str(SEED), "--scale", "0.01", "--format",
                                       "parquet"])
    assert result.exit_code == 0, result.output
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    for county in ("C01", "C02", "C03"):
        assert (tmp_path / "a" / "inpatient_cases" / f"county_id={county}" / "part-0.parquet").is_file()
        assert (tmp_path / "a" / "outpatient_claims" / f"county_id={county}" / "part-0.parquet").is_file()
    parquet = load_folder(tmp_path / "a").tables
    for name, frame in tables.items():  # the CSV region of the same seed
        pd.testing.assert_frame_equal(parquet[name].reset_index(drop=True),
                                      frame.reset_index(drop=True), check_dtype=False, obj=name)
    generate_region(tmp_path / "c", counties=3, seed=SEED + 1, scale=0.01, fmt="parquet")
    assert digest(tmp_path / "c")["units.parquet"] != digest(tmp_path / "a")["units.parquet"]


def test_a_smaller_region_written_over_a_larger_one_leaves_no_stale_county(tmp_path):
    generate_region(tmp_path, counties=3, seed=SEED, scale=0.005, fmt="parquet")
    generate_region(tmp_path, counties=2, seed=SEED, scale=0.005, fmt="parquet")
    assert sorted(p.name for p in (tmp_path / "inpatient_cases").iterdir()) == \
        ["county_id=C01", "county_id=C02"]
    assert set(load_folder(tmp_path).tables["communities"].county_id) == {"C01", "C02"}


def test_without_counties_the_sample_is_the_single_county_byte_for_byte(tmp_path):
    result = CliRunner().invoke(main, ["sample", "--out", str(tmp_path), "--scale", "0.1"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "region.yaml").exists()
    committed = sorted((ROOT / "sample_data").glob("*.csv"))
    assert [p.name for p in committed] == sorted(p.name for p in tmp_path.glob("*.csv"))
    for path in committed:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_an_impossible_region_is_refused_in_words(tmp_path):
    result = CliRunner().invoke(main, ["sample", "--out", str(tmp_path), "--counties", "500"])
    assert result.exit_code != 0 and "counties" in result.output
