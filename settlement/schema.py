"""The data contract in machine-readable form (数据契约).

Each file ``settlement/schemas/<table>.yaml`` (package data) describes one input table of CONTRACT.md: its columns
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

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

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

#: default longest text per logical type, in characters (a column may set its own max_length):
#: longer values are rejected at validation, before they reach a workbook or the database
MAX_LENGTH = {"id": 64, "text": 100, "codes": 200}  # enums and periods have their own exact checks

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
    max_length: int | None = None  # characters; None: the type's default (MAX_LENGTH)

    @property
    def pattern(self) -> str | None:
        return PATTERNS.get(self.type)

    @property
    def length_limit(self) -> int | None:
        """Most characters a cell may hold (ids 64, names and other text 100, code lists 200)."""
        return self.max_length if self.max_length is not None else MAX_LENGTH.get(self.type)

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


#: libyaml's safe loader when PyYAML was built with it (10× the pure-Python one), else PyYAML's
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(path: Path) -> TableSchema:
    with open(path, encoding="utf-8") as fh:
        return TableSchema.model_validate(yaml.load(fh, Loader=_SAFE_LOADER))


#: Every input table the engine reads, in the order of CONTRACT.md: each needs a definition
#: ``<table>.yaml`` (required or optional — an optional table absent from the data folder is an
#: empty frame, which needs its columns). Which ones the data folder must hold is each file's
#: ``required`` (CONTRACT.md; ``settlement.validation.REQUIRED_TABLES`` states it in code).
TABLES = (
    "communities", "fund_budget", "units", "dip_groups", "dip_reference_costs",
    "inpatient_cases", "outpatient_claims", "performance_scores", "chronic_enrollees",
    "public_health_workpoints", "prepayments", "overrun_adjustments", "family_doctor_fees",
)


class ContractError(Exception):
    """The table definitions cannot be used: none found, one unreadable, or one missing.

    ``problems`` are :class:`~settlement.problems.Problem` records (Chinese, English alongside),
    all of them; ``str()`` joins them for a console.
    """

    def __init__(self, problems: list):
        super().__init__("\n".join(f"{p.message_zh} / {p.message_en}" for p in problems))
        self.problems = problems


@lru_cache(maxsize=1)
def contract() -> dict[str, TableSchema]:
    """All input-table schemas shipped in the package, keyed by table name, in CONTRACT order.

    Raises :class:`ContractError` when the definitions are missing or broken: never an empty
    contract (which would let any folder pass validation).
    """
    return load_contract(SCHEMA_DIR)


def load_contract(directory: Path) -> dict[str, TableSchema]:
    """The schemas of ``directory/*.yaml``; :class:`ContractError` lists every problem."""
    from settlement.problems import Problem

    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise ContractError([Problem(
            "contract.none", "error", "",
            f"找不到数据表定义（{directory} 中没有 *.yaml 文件）：安装不完整，请重新安装 settlement，无法校验任何数据",
            f"no table definitions found in {directory}: the installation is incomplete; reinstall settlement",
            file=str(directory))])
    found, problems = {}, []
    for path in files:
        try:
            found[path.stem] = load_schema(path)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:  # pydantic: ValueError
            problems.append(Problem("contract.unreadable", "error", path.stem,
                                    f"数据表定义文件无法读取：{exc}", f"table definition unreadable: {exc}",
                                    file=str(path)))
    unreadable = {p.table for p in problems}
    for name in TABLES:
        if name not in found and name not in unreadable:
            problems.append(Problem(
                "contract.missing", "error", name,
                f"缺少数据表 {name} 的定义文件 {name}.yaml：安装不完整，请重新安装 settlement",
                f"definition {name}.yaml missing from {directory}: reinstall settlement",
                file=str(Path(directory) / f"{name}.yaml")))
    if problems:
        raise ContractError(problems)
    ordered = {name: found.pop(name) for name in TABLES}
    ordered.update(sorted(found.items()))
    return ordered
