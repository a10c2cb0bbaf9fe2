"""Cross-table rules of CONTRACT.md, in our own vectorised code (跨表校验).

Each rule is one small function ``(inputs, year) -> list[Problem]`` listing the offending
rows of one table with the user's row numbers. A rule whose table or column is missing is
skipped (that absence is already an error), cells the loader flagged are not re-reported.

Rules (rule id — what it says):

* ``fk.<table>``        every reference resolves (``inpatient_cases.unit_id`` → ``units``) …
* ``unit.community``    lead hospitals, township centres and village clinics belong to a community
* ``lead.category``     a community's lead unit is a ``lead_hospital`` of that community
* ``village.parent``    a village clinic's parent is a township centre of the same community
* ``unit.parent_cycle`` no unit is its own parent, no loop of parents (validation.id_checks)
* ``id.leading_zeros``  ids that lost leading zeros: one problem, not one per row (id_checks)
* ``budget.missing``    every community has its fund budget row
* ``dip.reference``     every (dip_group, level) of a member-unit case has a reference cost
* ``date.order``        discharge ≥ admission, enrolment end ≥ start
* ``amount.self_pay``   self_pay ≤ total_cost;  ``amount.fund_paid``: fund_paid ≤ total_cost
* ``enrolment.overlap`` nobody is enrolled twice in overlapping periods
* ``period.in_year``    quarters / months of work points and prepayments are in the year
* ``config.level``      the config has a level coefficient for every level with DIP cases

Example: case ZY7 at row 9 of ``inpatient_cases.csv`` has group ``I10.0-01`` at a tertiary
hospital and ``dip_reference_costs`` has no ``(I10.0-01, tertiary)`` row → one problem
(inpatient_cases, row 9, column dip_group, value "I10.0-01 / tertiary").

:func:`money_totals` sums every money column in exact integer fen (Python ints: no float,
no int64 overflow) for the summary sheet; a total beyond int64 is itself an error.

On large tables (:data:`settlement.validation.sql_checks.LARGE_ROWS` rows and more: cases,
claims) the row rules — references, date order, parts ≤ total — and the money totals run as
DuckDB queries that count first and fetch only the failing rows (:mod:`.sql_checks`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from settlement.loader import add_row_problems
from settlement.money import format_yuan
from settlement.problems import Problem
from settlement.validation.id_checks import lost_leading_zeros, parent_cycles
from settlement.validation.inputs import Inputs

MEMBER_CATEGORIES = ("lead_hospital", "township_center", "village_clinic")

#: the rules below, for the data dictionary: (rule id, Chinese, English)
RULES = [
    ("fk.<table>", "引用的编码必须存在（如 inpatient_cases.unit_id 必须在 units 中）",
     "every reference resolves (e.g. inpatient_cases.unit_id in units)"),
    ("fk.entity / fk.payee", "考核对象、预付款收款方必须是已有的机构或医共体",
     "performance entities and prepayment payees are known units or communities"),
    ("unit.community", "牵头医院、乡镇卫生院、村卫生室必须填写所属医共体",
     "lead hospitals, township centres and village clinics belong to a community"),
    ("lead.category", "医共体的牵头单位必须是本医共体的牵头医院（lead_hospital）",
     "a community's lead unit is a lead_hospital of that community"),
    ("village.parent", "村卫生室的上级单位必须是同一医共体的乡镇卫生院",
     "a village clinic's parent is a township centre of the same community"),
    ("unit.parent_cycle", "上级单位不能是本单位自己，也不能形成循环（A → B → A）",
     "no unit is its own parent; parent chains do not loop"),
    ("id.leading_zeros", "编码丢了前导零（如 01001 写成 1001）时只报一次并说明原因",
     "ids that lost their leading zeros are reported once, with the cause"),
    ("budget.missing", "每个医共体都要有医保基金预算行", "every community has a fund_budget row"),
    ("dip.reference", "成员单位住院病例的（病种, 医院等级）必须有同级别次均费用",
     "every (dip_group, level) of a member-unit case has a reference cost"),
    ("date.in_year / period.in_year", "出院日期、就诊日期、季度和预付期间必须在结算年度内",
     "discharge and service dates, quarters and prepayment periods fall in the settlement year"),
    ("date.order", "出院日期不早于入院日期；慢病退出日期不早于纳入日期",
     "discharge ≥ admission; enrolment end ≥ start"),
    ("amount.self_pay / amount.fund_paid", "个人负担、基金支付均不能大于医疗总费用",
     "self_pay ≤ total_cost; fund_paid ≤ total_cost"),
    ("enrolment.overlap", "同一参保人不能在重叠的期间内重复纳入慢病包干",
     "nobody is enrolled twice in overlapping periods"),
    ("config.level", "有住院病例的医院等级必须在配置中有等级系数",
     "the config has a level coefficient for every level with DIP cases"),
    ("amount.total", "各金额列的合计按分精确计算，不得超出可处理范围",
     "money totals are exact in fen and must fit the engine's range"),
]
INT64_MAX = np.iinfo(np.int64).max


def check_cross_table(inputs: Inputs, year: int | None, resolved=None) -> list[Problem]:
    problems: list[Problem] = lost_leading_zeros(inputs)  # first: the rows it explains are flagged
    for rule in (foreign_keys, entity_references, unit_membership, lead_units, village_parents,
                 parent_cycles, budgets_present, reference_costs, date_order, amounts_within_total,
                 enrolment_overlaps, periods_in_year):
        problems += rule(inputs, year)
    if resolved is not None:
        problems += level_coefficients(inputs, resolved)
    return problems


def _rows(problems: list[Problem], inputs: Inputs, rule: str, table: str, column: str,
          mask: pd.Series, values, zh: str, en: str, severity: str = "error") -> None:
    """List the rows where ``mask`` holds, minus cells the loader already reported.

    ``values``: the value shown per row — a Series, or a function of the mask that computes
    it for the offending rows only (formatting a million dates to show three is wasteful)."""
    mask = mask.fillna(False).astype(bool) & inputs.usable(table, *column.split("+"))
    if mask.any():
        shown = values(mask) if callable(values) else values
        add_row_problems(problems, rule, table, inputs.file(table), column, mask,
                         shown.reindex(mask.index[mask.to_numpy()]), zh, en, severity)


def _label(inputs: Inputs, table: str, column: str) -> str:
    return inputs.schemas[table].column(column).label_zh


# ---------------------------------------------------------------- references
def foreign_keys(inputs: Inputs, year=None) -> list[Problem]:
    """Every column with ``references: table.column`` in its schema resolves."""
    problems: list[Problem] = []
    for table, schema in inputs.schemas.items():
        for col in schema.columns:
            target, key = col.reference_table, col.reference_column
            if not target or not inputs.has(table, col.name) or not inputs.has(target, key):
                continue
            bad = inputs.unresolved(table, col.name, [(target, key)])
            values = (lambda mask, t=table, c=col.name: inputs.tables[t].loc[mask, c])  # the bad rows only
            target_zh = inputs.schemas[target].label_zh
            _rows(problems, inputs, f"fk.{target}", table, col.name, bad, values,
                  f"「{col.label_zh}」在「{target_zh}」表（{target}.{key}）中不存在",
                  f"{col.name} not found in {target}.{key}")
    return problems


def entity_references(inputs: Inputs, year=None) -> list[Problem]:
    """performance_scores.entity_id and prepayments.payee_id name a unit or a community."""
    problems: list[Problem] = []
    units = inputs.tables["units"]["unit_id"] if inputs.has("units", "unit_id") else None
    communities = inputs.tables["communities"]["community_id"] \
        if inputs.has("communities", "community_id") else None
    if units is None or communities is None:
        return problems
    if inputs.has("performance_scores", "entity_type", "entity_id"):
        f = inputs.tables["performance_scores"]
        as_unit = f["entity_type"].eq("unit").fillna(False) & ~f["entity_id"].isin(units)
        as_comm = f["entity_type"].eq("community").fillna(False) & ~f["entity_id"].isin(communities)
        _rows(problems, inputs, "fk.entity", "performance_scores", "entity_id",
              (as_unit | as_comm) & f["entity_id"].notna(), f["entity_id"],
              "考核对象不存在（entity_type=unit 时应为机构编码，community 时应为医共体编码）",
              "entity_id is not a known unit / community of its entity_type")
    if inputs.has("prepayments", "payee_id"):
        f = inputs.tables["prepayments"]
        bad = f["payee_id"].notna() & ~f["payee_id"].isin(units) & ~f["payee_id"].isin(communities)
        _rows(problems, inputs, "fk.payee", "prepayments", "payee_id", bad, f["payee_id"],
              "收款方既不是机构也不是医共体", "payee_id is neither a unit nor a community")
    return problems


# ---------------------------------------------------------------- community structure
def unit_membership(inputs: Inputs, year=None) -> list[Problem]:
    problems: list[Problem] = []
    if inputs.has("units", "category", "community_id"):
        u = inputs.tables["units"]
        bad = u["category"].isin(MEMBER_CATEGORIES) & u["community_id"].isna()
        _rows(problems, inputs, "unit.community", "units", "community_id", bad, u["category"],
              "牵头医院、乡镇卫生院和村卫生室必须填写所属医共体",
              "lead hospitals, township centres and village clinics need a community_id")
    return problems


def lead_units(inputs: Inputs, year=None) -> list[Problem]:
    """communities.lead_unit_id is a lead_hospital whose community_id is this community."""
    problems: list[Problem] = []
    if not (inputs.has("communities", "community_id", "lead_unit_id")
            and inputs.has("units", "unit_id", "category", "community_id")):
        return problems
    c = inputs.tables["communities"]
    units = inputs.tables["units"].drop_duplicates("unit_id").set_index("unit_id")
    lead = c["lead_unit_id"]
    found = lead.isin(units.index)  # unknown ids are fk.units problems already
    category = lead.map(units["category"]).astype("string")
    home = lead.map(units["community_id"]).astype("string")
    bad = found & (category.ne("lead_hospital").fillna(True) | home.ne(c["community_id"]).fillna(True))
    shown = lead.astype("string") + "（" + category.fillna("") + "，" + home.fillna("无医共体") + "）"
    _rows(problems, inputs, "lead.category", "communities", "lead_unit_id", bad, shown,
          "牵头单位必须是本医共体的牵头医院（category=lead_hospital 且所属医共体为本医共体）",
          "the lead unit must be a lead_hospital of this community")
    return problems


def village_parents(inputs: Inputs, year=None) -> list[Problem]:
    """A village clinic's parent_unit_id is a township_center of the same community."""
    problems: list[Problem] = []
    if not inputs.has("units", "unit_id", "category", "community_id", "parent_unit_id"):
        return problems
    u = inputs.tables["units"]
    village = u["category"].eq("village_clinic").fillna(False)
    parent = u["parent_unit_id"]
    _rows(problems, inputs, "village.parent", "units", "parent_unit_id", village & parent.isna(),
          u["unit_id"], "村卫生室必须填写所属乡镇卫生院（parent_unit_id）",
          "a village clinic needs its parent township centre")
    by_id = u.drop_duplicates("unit_id").set_index("unit_id")
    known = parent.isin(by_id.index)
    p_category = parent.map(by_id["category"]).astype("string")
    p_community = parent.map(by_id["community_id"]).astype("string")
    wrong = village & known & (p_category.ne("township_center").fillna(True)
                               | p_community.ne(u["community_id"]).fillna(True))
    shown = parent.astype("string") + "（" + p_category.fillna("") + "，" + p_community.fillna("无医共体") + "）"
    _rows(problems, inputs, "village.parent", "units", "parent_unit_id", wrong, shown,
          "村卫生室的上级单位必须是同一医共体的乡镇卫生院（township_center）",
          "a village clinic's parent must be a township_center of the same community")
    return problems


def budgets_present(inputs: Inputs, year=None) -> list[Problem]:
    problems: list[Problem] = []
    if inputs.has("communities", "community_id") and inputs.has("fund_budget", "community_id"):
        c = inputs.tables["communities"]
        bad = c["community_id"].notna() & ~c["community_id"].isin(inputs.tables["fund_budget"]["community_id"])
        _rows(problems, inputs, "budget.missing", "communities", "community_id", bad, c["community_id"],
              "该医共体在「医保基金预算」表（fund_budget）中没有数据", "community has no fund_budget row")
    return problems


# ---------------------------------------------------------------- cases and claims
def member_levels(inputs: Inputs) -> pd.DataFrame | None:
    """Cases with a DIP group at member units: (dip_group, level) per case row (once)."""
    return inputs.cached("member_levels", lambda: _levels_of_cases(inputs))


def _levels_of_cases(inputs: Inputs) -> pd.DataFrame | None:
    if not (inputs.has("inpatient_cases", "unit_id", "dip_group")
            and inputs.has("units", "unit_id", "level", "community_id", "category")):
        return None
    cases = inputs.tables["inpatient_cases"]
    units = inputs.tables["units"].drop_duplicates("unit_id").set_index("unit_id")
    member = units["community_id"].notna() & units["category"].ne("external").fillna(True)
    level = cases["unit_id"].map(units["level"].where(member)).astype("string")
    keep = cases["dip_group"].notna() & level.notna()
    return pd.DataFrame({"dip_group": cases["dip_group"], "level": level})[keep]


def reference_costs(inputs: Inputs, year=None) -> list[Problem]:
    problems: list[Problem] = []
    used = member_levels(inputs)
    if used is None or not inputs.has("dip_reference_costs", "group_code", "level"):
        return problems
    if inputs.has("dip_groups", "group_code"):  # unknown groups are fk.dip_groups problems already
        used = used[used["dip_group"].isin(inputs.tables["dip_groups"]["group_code"])]
    ref = inputs.tables["dip_reference_costs"]
    have = pd.MultiIndex.from_frame(ref[["group_code", "level"]].astype(object))
    pairs = pd.MultiIndex.from_frame(used[["dip_group", "level"]].astype(object))
    bad = pd.Series(~pairs.isin(have), index=used.index).reindex(inputs.tables["inpatient_cases"].index,
                                                                  fill_value=False)
    shown = (used["dip_group"] + " / " + used["level"]).reindex(bad.index)
    _rows(problems, inputs, "dip.reference", "inpatient_cases", "dip_group", bad, shown,
          "该病种在收治医院等级下没有「同级别次均费用」（dip_reference_costs）",
          "no reference cost for this (dip_group, level of the treating unit)")
    return problems


def date_order(inputs: Inputs, year=None) -> list[Problem]:
    problems: list[Problem] = []
    for table, start, end, zh in (
            ("inpatient_cases", "admission_date", "discharge_date", "出院日期早于入院日期"),
            ("chronic_enrollees", "enroll_start", "enroll_end", "退出日期早于纳入日期")):
        if inputs.has(table, start, end):
            f = inputs.tables[table]
            bad = inputs.sql.mask(table, f'"{end}" < "{start}"') if inputs.sql.large(table) \
                else (f[end] < f[start]).fillna(False)
            bad = bad & inputs.usable(table, start)
            shown = lambda m, f=f, start=start, end=end: (  # noqa: E731
                f.loc[m, start].dt.strftime("%Y-%m-%d") + " > " + f.loc[m, end].dt.strftime("%Y-%m-%d"))
            _rows(problems, inputs, "date.order", table, end, bad, shown, zh, f"{end} is before {start}")
    return problems


def amounts_within_total(inputs: Inputs, year=None) -> list[Problem]:
    """self_pay ≤ total_cost (cases); fund_paid ≤ total_cost (cases and claims)."""
    problems: list[Problem] = []
    for table, part, rule, zh in (
            ("inpatient_cases", "self_pay", "amount.self_pay", "个人负担不能大于医疗总费用"),
            ("inpatient_cases", "fund_paid", "amount.fund_paid", "基金支付不能大于医疗总费用"),
            ("outpatient_claims", "fund_paid", "amount.fund_paid", "基金支付不能大于医疗总费用")):
        if inputs.has(table, part, "total_cost"):
            f = inputs.tables[table]
            # a negative total is a value.range problem already: comparing parts to it is noise
            bad = inputs.sql.mask(table, f'"{part}" > total_cost AND total_cost >= 0') if inputs.sql.large(table) \
                else (f[part] > f["total_cost"]) & (f["total_cost"] >= 0)
            bad = bad & inputs.usable(table, "total_cost")
            if bad.any():
                shown = format_yuan(f.loc[bad, part]) + " > " + format_yuan(f.loc[bad, "total_cost"])
                _rows(problems, inputs, rule, table, part, bad, shown, zh, f"{part} exceeds total_cost")
    return problems


def enrolment_overlaps(inputs: Inputs, year=None) -> list[Problem]:
    """Per person, each enrolment starts after every earlier one ended (open end = forever)."""
    problems: list[Problem] = []
    if not inputs.has("chronic_enrollees", "person_id", "enroll_start", "enroll_end"):
        return problems
    f = inputs.tables["chronic_enrollees"]
    f = f[f["person_id"].notna() & f["enroll_start"].notna()]
    if not f["person_id"].duplicated().any():
        return problems
    ordered = f.sort_values(["person_id", "enroll_start"], kind="stable")
    person = ordered["person_id"].to_numpy()
    start = _days(ordered["enroll_start"])
    end = pd.Series(_days(ordered["enroll_end"]), index=ordered.index).fillna(OPEN_END)
    previous_end = end.groupby(person).cummax().groupby(person).shift(1)  # latest end so far
    overlap = pd.Series(start <= previous_end.to_numpy(), index=ordered.index)
    bad = overlap.reindex(inputs.tables["chronic_enrollees"].index, fill_value=False)
    shown = lambda m: (ordered.loc[m[m].index, "enroll_start"].dt.strftime("%Y-%m-%d") + " ~ "  # noqa: E731
                       + ordered.loc[m[m].index, "enroll_end"].dt.strftime("%Y-%m-%d").fillna("（在册）"))
    _rows(problems, inputs, "enrolment.overlap", "chronic_enrollees", "enroll_start", bad, shown,
          "同一参保人的慢病纳入期间相互重叠（重复纳入）",
          "the person is enrolled twice in overlapping periods")
    return problems


OPEN_END = 10**9  # days: an enrolment without end lasts forever


def _days(dates: pd.Series) -> np.ndarray:
    """datetime64 → float day numbers (NaT → NaN), exact for any real date."""
    days = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    return np.where(np.isnat(days), np.nan, days.astype("int64").astype("float64"))


def periods_in_year(inputs: Inputs, year: int | None) -> list[Problem]:
    problems: list[Problem] = []
    if not year:
        return problems
    for table in ("public_health_workpoints", "prepayments"):
        if inputs.has(table, "period"):
            period = inputs.tables[table]["period"]
            bad = period.notna() & ~period.str.startswith(str(year)).fillna(False)
            _rows(problems, inputs, "period.in_year", table, "period", bad, period,
                  f"期间应在结算年度 {year} 年内", f"period must fall in the settlement year {year}")
    return problems


def level_coefficients(inputs: Inputs, resolved) -> list[Problem]:
    """Every hospital level with member-unit DIP cases has a level coefficient in the config."""
    used = member_levels(inputs)
    try:
        known = set(resolved.params.dip.level_coefficients)
    except AttributeError:
        return []
    if used is None:
        return []
    missing = sorted(set(used["level"].dropna().unique()) - known)
    return [Problem("config.level", "error", "config",
                    f"配置中缺少医院等级「{level}」的等级系数（dip.level_coefficients），该等级有住院病例",
                    f"dip.level_coefficients has no value for level {level}", column="level", value=level)
            for level in missing]


# ---------------------------------------------------------------- exact money totals
def exact_sum(values: pd.Series) -> int:
    """Σ of an int64 fen column as an exact Python int (no float, no int64 overflow)."""
    v = values.dropna().to_numpy(dtype="int64")
    high, low = v >> 32, v & 0xFFFFFFFF  # v == high × 2^32 + low, each part sums safely
    return int(high.sum(dtype="int64")) * (1 << 32) + int(low.sum(dtype="int64"))


def money_totals(inputs: Inputs) -> pd.DataFrame:
    """One row per money column of every loaded table: rows and the exact total in fen."""
    rows = []
    for table, schema in inputs.schemas.items():
        if not inputs.has(table):
            continue
        frame = inputs.tables[table]
        columns = [c for c in schema.columns_of_type("money") if inputs.has(table, c.name)]
        sums = inputs.sql.exact_sums(table, [c.name for c in columns]) if inputs.sql.large(table) else {}
        for col in columns:
            total = sums[col.name] if col.name in sums else exact_sum(frame[col.name])
            rows.append({"table": table, "column": col.name, "label_zh": col.label_zh,
                         "rows": len(frame), "total_fen": total})
    return pd.DataFrame(rows, columns=["table", "column", "label_zh", "rows", "total_fen"])


def total_problems(inputs: Inputs, totals: pd.DataFrame) -> list[Problem]:
    """A column whose total does not fit int64 fen would overflow every later sum."""
    return [Problem("amount.total", "error", r.table,
                    f"「{r.label_zh}」合计超出可处理范围（{r.total_fen // 100} 元），请检查金额单位",
                    f"the total of {r.column} is too large to settle", file=inputs.file(r.table),
                    column=r.column, value=str(r.total_fen // 100))
            for r in totals.itertuples() if abs(r.total_fen) > INT64_MAX]
