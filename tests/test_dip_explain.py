"""The case explanations are a lookup table by case class (issue 13 §3): every class the
vocabulary allows has its sentences, and each sentence is the one derived here from the case.

One case per class (and per way an unmatched case is settled), at the tertiary hospital H3
(level coefficient 1.0), the secondary HX (its own coefficient 0.95) and with a basic group
(coefficient 1 at every level); group G500 has score 500, B100 score 100, reference cost
10,000 元 at every level; bounds 0.5 and 2.0 (both inclusive unless a test says otherwise).
"""

from __future__ import annotations

import pytest

from settlement.dip.explain import CLASS_TEXTS, COEF_RULE_TEXT
from settlement.dip.scoring import COEF_SOURCES
from settlement.vocabulary import CASE_CLASSES
from test_dip import run

# one case of each class: (case, rule sentence, full sentence); cost → ratio = cost ÷ 10,000
CASES = {
    "normal": ({"total_cost": 9_000},  # r 0.9: 500 × 1.0 = 500
               "正常病例（0.5 ≤ 倍率 ≤ 2.0）：分值 = 病种分值 × 等级系数（三级）1.0",
               "正常病例：倍率 0.9（0.5 ≤ 倍率 ≤ 2.0），分值 = 病种分值 500 × 等级系数（三级）1.0 = 500 分"),
    "low": ({"total_cost": 1_000, "dip_group": "B100"},  # r 0.1: 100 × 0.1 × 1 = 10
            "费用偏低病例（倍率 < 0.5）：分值 = 病种分值 × 倍率 × 基层病种系数 1",
            "费用偏低病例：倍率 0.1 < 0.5，分值 = 病种分值 100 × 倍率 0.1 × 基层病种系数 1 = 10 分"),
    "high": ({"total_cost": 60_000, "unit_id": "HX"},  # r 6: 500 × (6 − 2 + 1) × 0.95 = 2375
             "费用偏高病例（倍率 > 2.0）：分值 = 病种分值 × (倍率 − 2.0 + 1) × 机构系数 0.95"
             "；倍率超过 5 倍，待专家评议",
             "费用偏高病例：倍率 6 > 2.0，分值 = 病种分值 500 × (倍率 6 − 2.0 + 1) × 机构系数 0.95"
             " = 2375 分；倍率超过 5 倍，待专家评议"),
    "special": ({"total_cost": 9_000, "special_points": 88.0},
                "特例单议病例：按核定分值结算，不适用倍率和系数",
                "特例单议病例：按核定分值 88 分结算，不适用倍率和系数"),
    "unmatched": ({"total_cost": 9_000, "dip_group": None, "fund_paid": 4_000},
                  "未入组病例：不计分值，按即时结算基金支付结算",
                  "未入组病例：不计分值，按即时结算基金支付 4000.00 元结算"),
}


def test_every_case_class_of_the_vocabulary_has_its_sentences():
    assert list(CLASS_TEXTS) == list(CASE_CLASSES)
    assert set(CASES) == set(CASE_CLASSES)  # and the test below explains one of each
    assert set(COEF_RULE_TEXT) == set(range(len(COEF_SOURCES)))


@pytest.mark.parametrize("case_class", CASE_CLASSES)
def test_each_class_is_explained_by_its_entry(case_class):
    case, rule, full = CASES[case_class]
    ruled = run([case]).cases
    assert ruled["case_class"].tolist() == [case_class]
    assert ruled["explanation"].tolist() == [rule]
    assert run([case], explain="full").cases["explanation"].tolist() == [full]


def test_an_excluded_unmatched_case_names_its_reason():
    case = {"total_cost": 9_000, "dip_group": "NOPE"}  # a code not in the catalogue
    text = "未入组病例：不予结算（病种编码不在病种目录中）"
    assert run([case]).cases["explanation"].tolist() == [text]
    assert run([case], explain="full").cases["explanation"].tolist() == [text]
    by_policy = run([{"total_cost": 9_000, "dip_group": None}], unmatched_policy="excluded")
    assert by_policy.cases["explanation"].tolist() == ["未入组病例：不予结算（未入组病例，按规定不予结算）"]


def test_exclusive_bounds_and_special_points_times_the_coefficient():
    # bounds exclusive: r = 0.5 is low (≤ 0.5), r = 2.0 is high (≥ 2.0); 500 × 0.5 = 250,
    # 500 × (2 − 2 + 1) = 500; special 88 × the secondary level coefficient 0.9 = 79.2
    cases = [{"total_cost": 5_000}, {"total_cost": 20_000},
             {"total_cost": 9_000, "special_points": 88.0, "unit_id": "H2"}]
    opts = dict(low_bound_inclusive=False, high_bound_inclusive=False,
                special_points_apply_coefficient=True)
    assert run(cases, **opts).cases["explanation"].tolist() == [
        "费用偏低病例（倍率 ≤ 0.5）：分值 = 病种分值 × 倍率 × 等级系数（三级）1.0",
        "费用偏高病例（倍率 ≥ 2.0）：分值 = 病种分值 × (倍率 − 2.0 + 1) × 等级系数（三级）1.0",
        "特例单议病例：分值 = 核定分值 × 等级系数（二级）0.9"]
    assert run(cases, explain="full", **opts).cases["explanation"].tolist() == [
        "费用偏低病例：倍率 0.5 ≤ 0.5，分值 = 病种分值 500 × 倍率 0.5 × 等级系数（三级）1.0 = 250 分",
        "费用偏高病例：倍率 2 ≥ 2.0，分值 = 病种分值 500 × (倍率 2 − 2.0 + 1) × 等级系数（三级）1.0"
        " = 500 分",
        "特例单议病例：核定分值 88 × 等级系数（二级）0.9 = 79.2 分"]
