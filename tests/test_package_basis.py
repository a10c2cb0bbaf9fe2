"""Package basis (打包基数, seed 002): the county's package re-split by service / signed population."""

from decimal import Decimal

import pandas as pd

from global_budget_scenario import YUAN, communities, fund_budget
from settlement.params import PackageBasisParams, PackageParams
from settlement.stages.package import settle_packages
from settlement.stages.package_lines import basis_measures

PARAMS = PackageParams(risk_reserve_rate=Decimal("0.05"), package_share=Decimal("1"))
# A 331,740,000.00 and B 221,160,000.00 by insured (test_package.py); county 552,900,000.00
COUNTY = 552_900_000 * YUAN
MEASURES = pd.DataFrame({"community_id": ["A", "B"], "service_population": [300_000, 300_000],
                         "signed_population": [60_000, 140_000]})


def packages(basis: PackageBasisParams) -> pd.DataFrame:
    return settle_packages(communities(), fund_budget(), PARAMS, basis=basis,
                           basis_measures=MEASURES).table.set_index("community_id")


def test_insured_basis_changes_nothing():
    frame = packages(PackageBasisParams(basis="insured"))
    assert frame.loc["A", "package"] == 331_740_000 * YUAN and (frame["basis_transfer"] == 0).all()


def test_service_population_splits_the_county_evenly():
    frame = packages(PackageBasisParams(basis="service_population"))
    half = COUNTY // 2  # 300,000 : 300,000
    assert frame.loc["A", "package"] == half == frame.loc["B", "package"]
    assert frame.loc["A", "basis_transfer"] == half - 331_740_000 * YUAN
    assert frame["basis_transfer"].sum() == 0 and frame["package"].sum() == COUNTY
    for cid, r in frame.iterrows():  # the ledger's package section still closes
        assert (r.financing - r.critical_illness - r.other_earmarks - r.reserve - r.unpackaged
                + r.basis_transfer - r.package) == 0, cid
    assert "打包基数按服务人口" in frame.loc["A", "package_explanation"]


def test_weighted_with_signed_population():
    frame = packages(PackageBasisParams(basis="weighted", signed_weight=Decimal("0.5")))
    # weights 0.5 × 300,000 + 0.5 × 60,000 = 180,000 and 0.5 × 300,000 + 0.5 × 140,000 = 220,000
    assert frame.loc["A", "package"] == COUNTY * 180_000 // 400_000
    assert frame.loc["B", "package"] == COUNTY - frame.loc["A", "package"]


def test_measures_from_units_and_signed_persons():
    units = pd.DataFrame({"unit_id": ["H1", "T1", "X1"], "community_id": ["A", "A", None],
                          "category": ["lead_hospital", "township_center", "external"],
                          "service_population": [0, 5_000, 9_999]})
    comms = pd.DataFrame({"community_id": ["A", "B"]})
    m = basis_measures(units, comms, pd.Series({"A": 1_200})).set_index("community_id")
    assert m.loc["A"].tolist() == [5_000, 1_200] and m.loc["B"].tolist() == [0, 0]
