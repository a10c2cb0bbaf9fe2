"""Parts add up to the whole they are shown with (issue 9 item 5).

Every result table that shows parts next to a total must let a reader add the parts and get
the total, to the fen — with no difference living in no column. Checked on the sample county
(every row) and on a hand-built case where the DIP case-vs-unit rounding is not zero.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from global_budget_scenario import SCORES, communities, expenditure, fund_budget, sample_params
from settlement.config import load_config, resolve
from settlement.loader import load_folder
from settlement.pipeline import settle
from settlement.stages.corridor import SETTLEMENT_COLUMNS, settle_corridor
from settlement.stages.package import settle_packages
from settlement.store.tables import RESULT_SPECS

ROOT = Path(__file__).resolve().parent.parent
EXPENDITURE_PARTS = ["expenditure_dip", "expenditure_dip_rounding", "expenditure_external",
                     "expenditure_outpatient", "expenditure_other"]


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pd.DataFrame]:
    loaded = load_folder(ROOT / "sample_data")
    resolved = resolve(load_config(ROOT / "configs" / "sample-county.yaml"))
    return settle(loaded.tables, resolved).tables


def test_dip_rounding_is_a_named_column_of_community_settlement():
    # A's DIP cases sum to 1,000,000.00 but its units' settlement (rounded once per unit) is
    # 3 fen more: expenditure 1,000,000.03 = 1,000,000.00 + 0.03, the 0.03 in its own column
    p = sample_params()
    spend = expenditure(100_000_000, 50_000_000)
    spend.loc[0, ["expenditure_dip_rounding", "expenditure"]] = [3, 100_000_003]
    packages = settle_packages(communities(), fund_budget(), p.package).table
    frame = settle_corridor(packages, spend, SCORES, p.corridor).table
    assert "expenditure_dip_rounding" in SETTLEMENT_COLUMNS
    assert frame.loc[0, "expenditure_dip_rounding"] == 3
    assert (frame[EXPENDITURE_PARTS].sum(axis=1) == frame["expenditure"]).all()
    assert "DIP 机构结算与病例明细尾差 0.03" in frame.loc[0, "expenditure_explanation"]


def test_stored_columns_carry_every_part():
    stored = {name: spec.column_names for name, spec in RESULT_SPECS.items()}
    assert set(EXPENDITURE_PARTS) <= set(stored["community_settlement"])
    assert {"surplus_returned", "spend_dip", "spend_external", "spend_outpatient"} <= set(
        stored["chronic_settlement"])
    assert "at_cost" in stored["dip_units"]


def test_community_settlement_parts_equal_expenditure_on_every_row(sample_tables):
    cs = sample_tables["community_settlement"]
    assert (cs["expenditure_dip_rounding"] != 0).any()  # the sample has a rounding difference
    assert (cs[EXPENDITURE_PARTS].sum(axis=1) == cs["expenditure"]).all()
    assert (cs["package"] - cs["expenditure"] == cs["balance"]).all()
    kept = cs["surplus_retained"] + cs["surplus_returned"]
    shared = cs["overrun_fund_share"] + cs["overrun_community_share"]
    assert (kept - shared == cs["balance"]).all()


def test_chronic_settlement_parts_equal_their_totals(sample_tables):
    ch = sample_tables["chronic_settlement"]
    assert (ch[["spend_dip", "spend_external", "spend_outpatient"]].sum(axis=1) == ch["spend"]).all()
    assert (ch["budget"] - ch["spend"] == ch["balance"]).all()
    assert (ch["retained"] + ch["surplus_returned"] - ch["fund_share"] - ch["community_share"]
            == ch["balance"]).all()


def test_dip_units_parts_equal_fund_due_and_fund_paid(sample_tables):
    u = sample_tables["dip_units"]
    assert (u["gross_value"] + u["at_cost"] - u["self_pay"] - u["violation_deduction"]
            == u["fund_due"]).all()
    assert (u["fund_due"] - u["withheld"] + u["returned"] == u["fund_paid"]).all()
    assert (u["fund_paid"] - u["prepaid"] == u["balance"]).all()


def test_public_health_pools_and_ledgers_tie(sample_tables):
    pools = sample_tables["public_health_pools"]
    assert (pools["gross"] - pools["reserved"] == pools["amount"]).all()
    assert (pools["allocated"] + pools["unallocated"] == pools["amount"]).all()
    alloc = sample_tables["public_health_allocation"]
    by_pool = alloc.groupby(["pool", "community_id"])["allocation"].sum()
    assert (pools.set_index(["pool", "community_id"])["allocated"] == by_pool).all()
    assert (sample_tables["dip_ledger"].groupby("section")["amount"].sum() == 0).all()
    ledger = sample_tables["ledger"]
    assert (ledger[ledger["line"] != "total"].groupby("community_id")["amount"].sum() == 0).all()
