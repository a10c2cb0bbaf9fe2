"""Errors as data (问题清单): every anomaly becomes a :class:`Problem` record.

Validation rules, the loader and the settlement stages append problems to a list instead of
raising at the first one; the report writers turn the list into the console summary and the
Excel problem list. A run stops when any problem has severity ``error``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

Severity = Literal["error", "warning"]

SEVERITY_ZH = {"error": "错误", "warning": "警告"}


@dataclass(frozen=True)
class Problem:
    """One problem found in the input or during settlement.

    ``row`` is the row number as the user sees it in their own file (CSV: the header is
    row 1; Excel: the sheet's row number); ``None`` for problems of a whole table or column.
    """

    rule: str  # stable rule id, e.g. "money.format", "fk.units"
    severity: Severity
    table: str
    message_zh: str  # the rule in Chinese, for the user
    message_en: str = ""
    file: str = ""
    row: int | None = None
    column: str = ""
    value: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


PROBLEM_COLUMNS = ["severity", "table", "file", "row", "column", "value", "rule",
                   "message_zh", "message_en"]


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """Problems as a table, errors first, then by table, file, row and column."""
    frame = pd.DataFrame([p.as_dict() for p in problems], columns=PROBLEM_COLUMNS)
    if frame.empty:
        return frame
    frame["_sev"] = frame["severity"].map({"error": 0, "warning": 1})
    frame["_row"] = frame["row"].fillna(-1)
    frame = frame.sort_values(["_sev", "table", "file", "_row", "column", "rule"], kind="stable")
    return frame.drop(columns=["_sev", "_row"]).reset_index(drop=True)


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)
