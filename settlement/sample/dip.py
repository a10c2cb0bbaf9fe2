"""The DIP catalogue (病种分值目录) and last year's average cost by level (同级别次均费用).

Groups come from :data:`catalog.DIAGNOSES`: one conservative group per diagnosis
(``I63.9-01 脑梗死:保守治疗``), one per listed procedure (``I63.9-03 脑梗死:血管内取栓术``),
and for every fifth diagnosis with procedures a comprehensive group ``-99`` (综合病种).
Code pattern: ``^[A-Z]\\d{2}\\.\\d-\\d{2}$``.

    score      = base × procedure factor × lognormal noise (σ 0.08), 2 decimals
    avg_cost   = score × 11 元 × level factor × U(0.97, 1.03)
                 level factor: tertiary 1.12, secondary 1.00, primary 0.85

so a group of score 800 costs about 9,860 / 8,800 / 7,480 元 at the three levels, and
tertiary > secondary > primary holds for every group.

``frequency`` is how common a group is among admissions (cheaper groups are commoner,
基层病种 twice as common), used by :mod:`cases` to draw each case's group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from .common import LEVELS, Table, stream, to_fen

YUAN_PER_POINT = 11.0
LEVEL_FACTORS = np.array([1.12, 1.00, 0.85])  # tertiary, secondary, primary


@dataclass
class DipCatalogue:
    code: list[str]
    name: list[str]
    score: np.ndarray
    group_type: list[str]
    basic: np.ndarray  # bool: 基层病种
    women_children: np.ndarray  # bool: treated preferentially by the 妇幼保健院
    childbirth: np.ndarray  # bool: a childbirth (生育) group
    conservative: np.ndarray  # bool: variant -01
    frequency: np.ndarray  # relative frequency among admissions
    avg_cost_fen: np.ndarray  # (groups, 3): tertiary, secondary, primary


def build_dip(seed: int) -> DipCatalogue:
    """Expand the diagnosis list into groups with scores, costs and frequencies."""
    rng = stream(seed, "dip")
    rows = []  # (code, name, base score, factor, tags, variant kind)
    for k, (icd, diagnosis, base, tags, procedures) in enumerate(catalog.DIAGNOSES):
        rows.append((f"{icd}-01", f"{diagnosis}:{catalog.CONSERVATIVE}", base, 1.0, tags, "c"))
        for j, item in enumerate(procedures):
            procedure, factor = item.split("*")
            rows.append((f"{icd}-{j + 2:02d}", f"{diagnosis}:{procedure}", base, float(factor),
                         tags, "p"))
        if procedures and k % catalog.COMPREHENSIVE_EVERY == 0:
            rows.append((f"{icd}-99", f"{diagnosis}:{catalog.COMPREHENSIVE}", base,
                         catalog.COMPREHENSIVE_FACTOR, tags, "z"))
    n = len(rows)
    base = np.array([r[2] for r in rows], dtype=np.float64)
    factor = np.array([r[3] for r in rows])
    kind = np.array([r[5] for r in rows])
    tags = [r[4] for r in rows]
    score = np.round(base * factor * rng.lognormal(0.0, 0.08, n), 2)
    basic = np.array(["b" in t for t in tags]) & (kind == "c")
    group_type = np.where(basic, "basic", np.where(kind == "z", "comprehensive", "core"))
    level_noise = rng.uniform(0.97, 1.03, size=(n, len(LEVELS)))
    avg_cost = to_fen(score[:, None] * YUAN_PER_POINT * LEVEL_FACTORS[None, :] * level_noise)
    variant_weight = np.select([kind == "c", kind == "p"], [1.0, 0.55 / np.sqrt(factor)], 0.06)
    frequency = ((500.0 / base) ** 0.7 * variant_weight * np.where(basic, 1.8, 1.0)
                 * rng.lognormal(0.0, 0.5, n))
    return DipCatalogue(
        code=[r[0] for r in rows], name=[r[1] for r in rows], score=score,
        group_type=[str(t) for t in group_type], basic=basic,
        women_children=np.array(["w" in t or "c" in t for t in tags]),
        childbirth=np.array(["c" in t for t in tags]), conservative=kind == "c",
        frequency=frequency, avg_cost_fen=avg_cost)


def dip_groups_table(dip: DipCatalogue) -> Table:
    return (Table("dip_groups")
            .add("group_code", "id", dip.code)
            .add("group_name", "text", dip.name)
            .add("score", "float", dip.score)
            .add("group_type", "id", dip.group_type))


def dip_reference_costs_table(dip: DipCatalogue) -> Table:
    """One row per (group, level), all three levels for every group."""
    n = len(dip.code)
    codes = [code for code in dip.code for _ in LEVELS]
    levels = list(LEVELS) * n
    return (Table("dip_reference_costs")
            .add("group_code", "id", codes)
            .add("level", "id", levels)
            .add("avg_cost", "money", dip.avg_cost_fen.reshape(-1)))
