"""Header cells → contract column names (表头识别).

A header cell names a column of the schema when, after trimming (spaces, full-width spaces,
BOM, zero-width spaces) and NFKC normalisation (full-width letters), it is

* the column's name, in any case:            ``unit_id``, ``Unit_ID``, ``ｕｎｉｔ＿ｉｄ``
* the column's Chinese label (``label_zh``):  ``机构编码`` (what a bureau export says)
* both, one in brackets:                     ``机构编码(unit_id)``, ``unit_id（机构编码）``

:func:`resolve_header` maps a header row to column names (an empty cell becomes
``_blank<position>``; an unknown one keeps its trimmed text) and reports two cells naming the
same column. :func:`header_score` counts the known cells of a row: the loaders take the first
row (of the first 20) holding at least half of the schema's columns as the header, so title
rows above a table are skipped.

>>> resolve_header([" 机构编码 ", "unit_name", ""], contract()["units"], "units.csv", [])
['unit_id', 'unit_name', '_blank2']
"""

from __future__ import annotations

import re
import unicodedata

from settlement.problems import Problem
from settlement.schema import TableSchema

HEADER_SEARCH_ROWS = 20
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)
_BRACKETED = re.compile(r"^(.+?)\s*[(（\[【](.+?)[)）\]】]$")


def clean_header(cell) -> str:
    """A header cell as text: invisible characters removed, NFKC, trimmed."""
    if cell is None:
        return ""
    text = unicodedata.normalize("NFKC", str(cell).translate(_INVISIBLE))
    return " ".join(text.split())


def _aliases(schema: TableSchema) -> dict[str, str]:
    names = {}
    for col in schema.columns:
        names[col.name.lower()] = col.name
        names.setdefault(clean_header(col.label_zh).lower(), col.name)
    return names


def column_for(cell, schema: TableSchema) -> str | None:
    """The schema column a header cell names, or None."""
    text = clean_header(cell).lower()
    aliases = _aliases(schema)
    if text in aliases:
        return aliases[text]
    bracketed = _BRACKETED.match(text)
    if bracketed:
        for part in bracketed.groups():
            if part.strip() in aliases:
                return aliases[part.strip()]
    return None


def header_score(cells, schema: TableSchema) -> int:
    return len({column_for(c, schema) for c in cells} - {None})


def header_row(rows: list, schema: TableSchema) -> int:
    """Index of the header among the first rows: the first holding half the schema's columns
    (at least one); 0 when none does (the first row then is the header, and its missing
    columns are reported)."""
    need = max(1, len(schema.columns) // 2)
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if header_score(row, schema) >= need:
            return i
    return 0


def resolve_header(cells, schema: TableSchema, file: str, problems: list[Problem]) -> list[str]:
    """Column names for a header row; two cells naming one column are an error."""
    names: list[str] = []
    seen: dict[str, str] = {}
    for j, cell in enumerate(cells):
        text = clean_header(cell)
        name = column_for(text, schema) or (text if text else f"_blank{j}")
        if name in seen:
            zh = f"列名「{text}」出现了不止一次" if seen[name] == text else \
                f"列名「{seen[name]}」与「{text}」指的是同一列 {name}，只能出现一次"
            problems.append(Problem(
                "column.duplicate", "error", schema.table, zh,
                f"columns {seen[name]!r} and {text!r} both name {name}", file=file, column=name))
            name = f"_duplicate{j}"
        else:
            seen[name] = text
        names.append(name)
    return names
