"""Identifier checks across tables (编码校验): lost leading zeros, circular parents.

**Leading zeros stripped by Excel** (``lost_leading_zeros``). When a column of ids was saved as
numbers, ``01001`` became ``1001`` (or ``1001`` became ``1001.0``), and every reference to it in the other tables would be a
"不存在" error — thousands of them, none saying why. Before the foreign-key rule runs, each
reference whose unresolved values resolve once leading zeros are ignored on both sides is
explained in **one** problem naming the table that lost its zeros (the referenced one, or the
referencing one) and an example; those rows are then not reported one by one.

Example: ``units.csv`` holds ``1001``; ``inpatient_cases.csv`` and ``outpatient_claims.csv``
refer to ``01001`` in 9,000 rows → one error on ``units.unit_id``: 编码 1001 在其他表中写作
01001 … (9,000 行引用), instead of 9,000 fk.units errors.

**Parents** (``parent_cycles``): a unit cannot be its own parent, and following
``parent_unit_id`` upwards must end (A → B → A is an error on every unit of the loop).
"""

from __future__ import annotations

import pandas as pd

from settlement.problems import Problem
from settlement.validation.inputs import Inputs

#: references that are not plain ``references:`` in the schema: column → (tables, key columns)
ENTITY_REFERENCES = {("performance_scores", "entity_id"): (("units", "unit_id"), ("communities", "community_id")),
                     ("prepayments", "payee_id"): (("units", "unit_id"), ("communities", "community_id"))}


def references(inputs: Inputs):
    """(table, column, [(target table, key)]) of every id reference whose tables were read."""
    out = []
    for table, schema in inputs.schemas.items():
        for col in schema.columns:
            if col.references:
                out.append((table, col.name, [(col.reference_table, col.reference_column)]))
    for (table, column), targets in ENTITY_REFERENCES.items():
        out.append((table, column, list(targets)))
    return [(t, c, [(tt, k) for tt, k in targets if inputs.has(tt, k)]) for t, c, targets in out
            if t in inputs.schemas and inputs.has(t, c)]


def _stripped(values: pd.Series) -> pd.Series:
    """An id as a number would show it: no leading zeros, no ``.0`` (``01001``, ``1001.0`` → ``1001``)."""
    return values.astype("string").str.replace(r"\.0+$", "", regex=True).str.lstrip("0")


def _changed(written: str, target_id: str) -> str:
    """Which side a spreadsheet rewrote: "target" (the referenced table) or "reference"."""
    if written.endswith(".0") or (len(written) < len(target_id) and not target_id.endswith(".0")):
        return "reference"
    return "target"


def lost_leading_zeros(inputs: Inputs) -> list[Problem]:
    """One problem per table whose ids lost their leading zeros; the rows it explains are
    marked in ``inputs.flagged`` so the foreign-key rules do not list them again."""
    found: dict[tuple[str, str], dict] = {}  # (table that lost zeros, column) → summary
    for table, column, targets in references(inputs):
        if not targets:
            continue
        unresolved = inputs.unresolved(table, column, targets)
        if not unresolved.any():
            continue
        values = inputs.tables[table][column]
        known = pd.concat([inputs.tables[t][k].dropna() for t, k in targets]).astype("string")
        by_stripped = dict(zip(_stripped(known), known))
        near = _stripped(values[unresolved]).map(by_stripped)
        matched = near.notna() & _stripped(values[unresolved]).ne("")
        if not matched.any():
            continue
        rows = near.index[matched.to_numpy()]
        written, target_id = values[rows].iloc[0], near[rows].iloc[0]
        if _changed(str(written), str(target_id)) == "target":  # the referenced table was rewritten
            t, k = next((t, k) for t, k in targets if target_id in set(inputs.tables[t][k].dropna()))
            key = (t, k)
        else:
            key = (table, column)
        entry = found.setdefault(key, {"rows": 0, "tables": [], "example": (written, target_id)})
        entry["rows"] += len(rows)
        entry["tables"].append(f"{table}.{column}")
        _flag(inputs, table, column, rows)
    return [_problem(inputs, t, c, e) for (t, c), e in found.items()]


def _flag(inputs: Inputs, table: str, column: str, rows) -> None:
    import numpy as np

    key = (table, column)
    inputs.flagged[key] = np.union1d(inputs.flagged.get(key, np.array([], dtype="int64")), np.asarray(rows))


def _problem(inputs: Inputs, table: str, column: str, entry: dict) -> Problem:
    written, target_id = (str(v) for v in entry["example"])
    ours, theirs = (target_id, written) if (table, column) != _first_reference(entry) else (written, target_id)
    how = "多了 .0" if ours.endswith(".0") else "丢了前导零"
    label = inputs.schemas[table].column(column).label_zh
    where = "、".join(dict.fromkeys(entry["tables"]))
    return Problem(
        "id.leading_zeros", "error", table,
        f"「{label}」看起来{how}：本表的 {ours} 在别处写作 {theirs}（涉及 {where}，共 {entry['rows']} 行引用，"
        "未逐行列为“不存在”）。很可能是 Excel 把编码当成数字保存了：请把该列设为「文本」格式后重新导出或粘贴",
        f"{table}.{column} looks like ids rewritten as numbers ({ours} vs {theirs}); "
        f"{entry['rows']} references in {where}", file=inputs.file(table), column=column, value=f"{ours} ↔ {theirs}")


def _first_reference(entry: dict) -> tuple[str, str]:
    table, column = entry["tables"][0].split(".")
    return table, column


def parent_cycles(inputs: Inputs, year=None) -> list[Problem]:
    """No unit is its own parent; no chain of parents returns to where it started."""
    if not inputs.has("units", "unit_id", "parent_unit_id"):
        return []
    units = inputs.tables["units"]
    parent = {u: p for u, p in zip(units["unit_id"], units["parent_unit_id"]) if pd.notna(u) and pd.notna(p)}
    in_loop: dict[str, str] = {}
    for start in parent:
        path, node = [], start
        while node in parent and node not in path and node not in in_loop:
            path.append(node)
            node = parent[node]
        if node in path:  # a loop: node … back to node
            loop = path[path.index(node):]
            for member in loop:
                in_loop[member] = " → ".join(loop[loop.index(member):] + loop[:loop.index(member)] + [member])
    problems: list[Problem] = []
    for row, unit in zip(units.index, units["unit_id"]):
        if unit in in_loop:
            own = parent.get(unit) == unit
            problems.append(Problem(
                "unit.parent_cycle", "error", "units",
                "上级单位不能是本单位自己" if own else f"上级单位形成了循环：{in_loop[unit]}",
                "a unit cannot be its own parent" if own else f"parent units form a loop: {in_loop[unit]}",
                file=inputs.file("units"), row=int(row), column="parent_unit_id", value=in_loop[unit][:100]))
    return problems
