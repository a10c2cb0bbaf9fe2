"""Global budget package per community (§2.1): financing → available → reserve → package."""

from decimal import Decimal

import pandas as pd

from global_budget_scenario import YUAN, communities, fund_budget, s, sample_params
from settlement.params import PackageParams
from settlement.stages.package import PACKAGE_COLUMNS, settle_packages

PARAMS = PackageParams(risk_reserve_rate=Decimal("0.05"), package_share=Decimal("1"))


def test_issue_county_package_552_900_000():
    # County: 600,000 insured × 1,070 元 = 642,000,000.00 financing;
    # − 600,000 × 100 元 critical-illness premium = 60,000,000.00 → available 582,000,000.00;
    # reserve 582,000,000 × 5 % = 29,100,000.00 → package 552,900,000.00.
    county = settle_packages(communities((600_000,), ("county",)), fund_budget(("county",)), PARAMS).table
    row = county.iloc[0]
    assert row["financing"] == 600_000 * 1070 * YUAN == 642_000_000 * YUAN
    assert row["available"] == (642_000_000 - 60_000_000) * YUAN
    assert row["reserve"] == 29_100_000 * YUAN
    assert row["package"] == (582_000_000 - 29_100_000) * YUAN == 552_900_000 * YUAN


def test_communities_a_60_and_b_40_percent():
    # A: 360,000 × (1,070 − 100) = 349,200,000.00; × 95 % = 331,740,000.00
    # B: 240,000 × 970 = 232,800,000.00; × 95 % = 221,160,000.00; A + B = 552,900,000.00
    frame = settle_packages(communities(), fund_budget(), PARAMS).table.set_index("community_id")
    assert frame.loc["A", "available"] == 349_200_000 * YUAN
    assert frame.loc["A", "reserve"] == 17_460_000 * YUAN
    assert frame.loc["A", "package"] == 331_740_000 * YUAN
    assert frame.loc["B", "reserve"] == 11_640_000 * YUAN
    assert frame.loc["B", "package"] == 221_160_000 * YUAN
    assert frame["package"].sum() == 552_900_000 * YUAN
    assert list(frame.reset_index().columns) == PACKAGE_COLUMNS
    assert all(str(frame[c].dtype) == "int64" for c in ("financing", "available", "reserve", "package"))
    text = frame.loc["A", "package_explanation"]
    assert "360,000 × 人均筹资 1,070.00 = 385,200,000.00" in text
    assert "349,200,000.00 × 5% = 17,460,000.00" in text
    assert "= 331,740,000.00" in text


def test_sample_config_gives_the_same_rates():
    params = sample_params().package
    frame = settle_packages(communities(), fund_budget(), params).table
    assert frame["package"].tolist() == [331_740_000 * YUAN, 221_160_000 * YUAN]


def test_official_package_overrides_and_difference_is_shown():
    # B's bureau figure 221,000,000.00 vs computed 221,160,000.00 → difference −160,000.00
    budget = fund_budget(official=[None, 221_000_000 * YUAN])
    frame = settle_packages(communities(), budget, PARAMS).table.set_index("community_id")
    assert frame.loc["A", "package_source"] == "computed"
    assert frame.loc["A", "package_difference"] == 0
    assert pd.isna(frame.loc["A", "official_package"])
    assert frame.loc["B", "package_source"] == "official"
    assert frame.loc["B", "computed_package"] == 221_160_000 * YUAN
    assert frame.loc["B", "package"] == 221_000_000 * YUAN
    assert frame.loc["B", "package_difference"] == -160_000 * YUAN
    assert "差额 -160,000.00" in frame.loc["B", "package_explanation"]


def test_other_earmarks_share_and_rounding_stay_exact():
    # 1,001 insured × 1,070.01 元 = 1,071,080.01; − 1,001 × (100.00 + 3.33) = 103,433.33
    # → available 967,646.68; reserve × 5 % = 48,382.334 → 48,382.33 (half up);
    # package (967,646.68 − 48,382.33) × 90 % = 827,337.915 → 827,337.92;
    # not packaged = 967,646.68 − 48,382.33 − 827,337.92 = 91,926.43
    budget = fund_budget(("A",))
    budget["per_capita_financing"] = [107_001]
    budget["other_earmarks_per_capita"] = pd.array([333], dtype="Int64")
    params = PackageParams(risk_reserve_rate=Decimal("0.05"), package_share=Decimal("0.9"))
    row = settle_packages(communities((1001,), ("A",)), budget, params).table.iloc[0]
    assert row["financing"] == 1001 * 107_001 == 107_108_001
    assert row["other_earmarks"] == 1001 * 333
    assert row["available"] == 96_764_668
    assert row["reserve"] == 4_838_233
    assert row["package"] == 82_733_792
    assert row["unpackaged"] == 96_764_668 - 4_838_233 - 82_733_792 == 9_192_643


def test_carve_out_comes_off_the_package():
    carve = pd.DataFrame({"community_id": s("A"), "amount": [5_000_000 * YUAN], "label_zh": s("慢病包干预算")})
    frame = settle_packages(communities(), fund_budget(), PARAMS, carve_outs=carve).table.set_index("community_id")
    assert frame.loc["A", "carve_out"] == 5_000_000 * YUAN
    assert frame.loc["A", "package"] == (331_740_000 - 5_000_000) * YUAN
    assert "慢病包干预算" in frame.loc["A", "package_explanation"]
    assert frame.loc["B", "carve_out"] == 0


def test_missing_budget_is_an_error_record_never_raised():
    frame, problems = settle_packages(communities(), fund_budget(("A",)), PARAMS)
    assert frame["community_id"].tolist() == ["A"]
    assert [p.rule for p in problems] == ["package.budget_missing"]
    assert problems[0].severity == "error" and "没有医保基金预算" in problems[0].message_zh


def test_references_are_quoted():
    documents = {"package.risk_reserve_rate": "示医保发〔2024〕3号 第五条"}
    frame = settle_packages(communities(), fund_budget(), PARAMS,
                            cite=lambda path: documents.get(path, "")).table
    assert "（示医保发〔2024〕3号 第五条）" in frame.loc[0, "package_explanation"]
