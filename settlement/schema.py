"""The data contract in machine-readable form (数据契约).

Each file ``schemas/<table>.yaml`` describes one input table of CONTRACT.md: its columns
with a logical type, whether the column must be present (``required``), whether a cell
may be empty (``nullable``), ranges, enums, references and Chinese labels. This module
reads those files into typed objects. It is the single source for

* the loader (which dtype each column gets, how money and booleans are parsed),
* the Great Expectations suites of the validation step,
* the generated data dictionary ``docs/data-dictionary.md``.

Logical types::

    id      string identifier, leading zeros kept          -> pandas "string"
    text    free text                                      -> pandas "string"
    enum    one of ``enum``                                 -> pandas "string"
    codes   ";"-separated codes                            -> pandas "string"
    int     integer                                        -> int64
    float   real number (points, scores, ratios)           -> float64
    money   yuan with at most 2 decimals, held as int fen  -> int64 (fen)
    date    ISO YYYY-MM-DD                                  -> datetime64
    bool    true/false/1/0/是/否                             -> bool
    period  YYYY-MM or YYYYQn                              -> pandas "string"
    quarter YYYYQn                                         -> pandas "string"
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

LogicalType = Literal[
    "id", "text", "enum", "codes", "int", "float", "money", "date", "bool", "period", "quarter"
]

STRING_TYPES = frozenset({"id", "text", "enum", "codes", "period", "quarter"})

TYPE_LABEL_ZH = {
    "id": "编码（文本）",
    "text": "文本",
    "enum": "枚举值",
    "codes": "编码列表（分号分隔）",
    "int": "整数",
    "float": "数值",
    "money": "金额（元，最多两位小数）",
    "date": "日期 YYYY-MM-DD",
    "bool": "是/否",
    "period": "期间 YYYY-MM 或 YYYYQn",
    "quarter": "季度 YYYYQn",
}

PATTERNS = {
    "period": r"^\d{4}(-(0[1-9]|1[0-2])|Q[1-4])$",
    "quarter": r"^\d{4}Q[1-4]$",
}


class Column(BaseModel):
    """One column of an input table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: LogicalType
    label_zh: str
    description: str
    required: bool = True
    nullable: bool = False
    default: str | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    enum: tuple[str, ...] | None = None
    references: str | None = None
    in_year: bool = False

    @property
    def pattern(self) -> str | None:
        return PATTERNS.get(self.type)

    @property
    def reference_table(self) -> str | None:
        return self.references.split(".")[0] if self.references else None

    @property
    def reference_column(self) -> str | None:
        return self.references.split(".")[1] if self.references else None


class TableSchema(BaseModel):
    """One input table: its columns, key and labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    label_zh: str
    label_en: str
    description: str
    required: bool
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.table}.{name}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def columns_of_type(self, *types: str) -> list[Column]:
        return [c for c in self.columns if c.type in types]


def load_schema(path: Path) -> TableSchema:
    with open(path, encoding="utf-8") as fh:
        return TableSchema.model_validate(yaml.safe_load(fh))


@lru_cache(maxsize=1)
def contract() -> dict[str, TableSchema]:
    """All input-table schemas, keyed by table name, in the order of CONTRACT.md."""
    order = [
        "communities", "fund_budget", "units", "dip_groups", "dip_reference_costs",
        "inpatient_cases", "outpatient_claims", "performance_scores", "chronic_enrollees",
        "public_health_workpoints", "prepayments", "overrun_adjustments",
    ]
    found = {p.stem: load_schema(p) for p in SCHEMA_DIR.glob("*.yaml")}
    ordered = {name: found.pop(name) for name in order if name in found}
    ordered.update(sorted(found.items()))
    return ordered
