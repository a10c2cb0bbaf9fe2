"""Village clinics' guaranteed income (村卫生室保底收入, seed 004): subsidy derived here."""

from decimal import Decimal

import pandas as pd

from settlement.params import ScoreRule, VillageGuaranteeParams
from settlement.stages.village_guarantee import village_guarantee

PARAMS = VillageGuaranteeParams(amount=Decimal("48000"), clinics=("V1", "V2", "T1", "V9"),
                                assessment_rule=ScoreRule(method="proportional"),
                                pool="县级财政村医保底补助资金")
UNITS = pd.DataFrame({"unit_id": ["V1", "V2", "T1"], "community_id": ["C1", "C1", "C1"],
                      "category": ["village_clinic", "village_clinic", "township_center"]})
SCORES = pd.DataFrame({"entity_type": ["unit", "unit"], "entity_id": ["V1", "V2"],
                       "score": [92.0, 80.0]})
# V1: public health 20,500.00 + package share 10,000.00; V2: 50,000.00 in all
FUNDS = pd.DataFrame({"unit_id": ["V1", "V1", "V2"], "fund": ["public_health", "package", "public_health"],
                      "entitlement": [2_050_000, 1_000_000, 5_000_000]})
FEES = pd.DataFrame({"unit_id": ["V1"], "payee_id": ["V1"], "amount": [100_000]})


def test_subsidy_tops_the_income_up_to_the_assessed_guarantee():
    result = village_guarantee(PARAMS, UNITS, SCORES, FUNDS, FEES)
    table = result.table.set_index("unit_id")
    guaranteed = 4_800_000 * 92 // 100  # 44,160.00
    assert table.loc["V1", "guaranteed"] == guaranteed
    assert table.loc["V1", "subsidy"] == guaranteed - 3_050_000 - 100_000 == 1_266_000
    assert table.loc["V2", "guaranteed"] == 3_840_000 and table.loc["V2", "subsidy"] == 0
    assert "由县级财政村医保底补助资金支付" in table.loc["V1", "explanation"]
    assert [p.value for p in result.problems] == ["T1", "V9"]  # not village clinics


def test_no_clinics_no_table():
    assert village_guarantee(VillageGuaranteeParams(), UNITS, SCORES, FUNDS).table.empty
