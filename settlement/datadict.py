"""The data dictionary (数据字典), generated from ``settlement/schemas/*.yaml``.

``docs/data-dictionary.md`` is rendered from the same schema objects that type the loader
and build the Great Expectations suites, so the three cannot drift apart:
``settlement datadict`` rewrites it, ``settlement datadict --check`` (and a test) fails when
the committed file is out of date. One section per table, one line per column::

    | total_cost | 医疗总费用 | 金额（元，最多两位小数） money | 是 | 否 | | ≥ 0 元 | | 住院医疗总费用（元）… |
"""

from __future__ import annotations

from pathlib import Path

from settlement.schema import PATTERNS, TYPE_LABEL_ZH, Column, TableSchema, contract

DEFAULT_PATH = Path("docs") / "data-dictionary.md"  # relative to the current folder (the project's root)

INTRO = """\
# 数据字典 Data dictionary

> 本文件由 `settlement datadict` 根据 `settlement/schemas/*.yaml` 自动生成，请勿手工修改。
> Generated from `settlement/schemas/*.yaml` by `settlement datadict`; do not edit by hand.

输入数据是一个目录，每张表一个文件：`<表名>.csv`（UTF-8，可带 BOM；也接受 GBK/GB18030）、
`<表名>.parquet`，或目录中任一 `.xlsx` 工作簿里名为 `<表名>` 的工作表（表头可以不在第一行）。
金额单位为元，最多两位小数，可带千分位逗号（`12,345.60`）、`¥`/`元`、全角数字（`１２３４．５６`），按分精确读取；
日期为 `YYYY-MM-DD`，也接受 `2025/1/28`、`2025年1月28日`、`20250128` 和 Excel 日期单元格；
是/否列接受 `true/false`、`1/0`、`是/否`、`Y/N`；编码按文本读取，保留前导零（不要让 Excel 把编码变成
`4.40102E+17` 或去掉前导零）。表头可以写列名，也可以写下表的中文「名称」（如 `机构编码`）。
NaN、无穷大（inf）和超出范围的数值一律报错。

The input is a folder with one file per table: `<table>.csv` (UTF-8 with or without BOM, or
GBK/GB18030), `<table>.parquet`, or a sheet named `<table>` in any `.xlsx` workbook of the
folder (the header need not be on the first row). Money is yuan with at most two decimals,
thousands separators, `¥`/`元` and full-width digits allowed, read exactly into fen; dates are
`YYYY-MM-DD` (also `2025/1/28`, `2025年1月28日`, `20250128`, Excel date cells); booleans accept
`true/false`, `1/0`, `是/否`, `Y/N`; ids are text (leading zeros kept). A header may be the
column name or its Chinese label (名称). NaN, infinity and out-of-range numbers are errors.

列说明 Column legend: **必填列** — the column must be present in the file; **可空** — a cell
may be empty; **约束** — the checks of the validation step (`settlement validate`).
"""

TYPE_EN = {"id": "id", "text": "text", "enum": "enum", "codes": "codes", "int": "integer",
           "float": "number", "money": "money (yuan)", "date": "date", "bool": "boolean",
           "period": "period", "quarter": "quarter"}


def render(schemas: dict[str, TableSchema] | None = None) -> str:
    """The whole data dictionary as Markdown."""
    schemas = schemas or contract()
    parts = [INTRO, "## 数据表一览 Tables\n",
             "| 表 table | 名称 | English | 必需 required | 主键 key | 列数 columns |",
             "|---|---|---|---|---|---|"]
    for t in schemas.values():
        parts.append(f"| [`{t.table}`](#{t.table}) | {t.label_zh} | {t.label_en} | {_yes(t.required)} "
                     f"| {', '.join(t.primary_key)} | {len(t.columns)} |")
    for t in schemas.values():
        parts += ["", *_table_section(t)]
    parts += ["", *_cross_table_section()]
    return "\n".join(parts) + "\n"


def _table_section(t: TableSchema) -> list[str]:
    lines = [f"<a id=\"{t.table}\"></a>", f"## `{t.table}` — {t.label_zh} {t.label_en}", "",
             _escape(t.description), "",
             f"必需 required: {_yes(t.required)} · 主键 key: `{' + '.join(t.primary_key)}`（不得重复 unique）", "",
             "| 列 column | 名称 | 类型 type | 必填列 | 可空 | 缺省 default | 约束 constraints | 引用 references | 说明 description |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in t.columns:
        lines.append(f"| `{c.name}` | {c.label_zh} | {TYPE_LABEL_ZH[c.type]} {TYPE_EN[c.type]} | {_yes(c.required)} "
                     f"| {_yes(c.nullable)} | {'' if c.default is None else f'`{c.default}`'} "
                     f"| {_escape(constraints(c))} | {'' if not c.references else f'`{c.references}`'} "
                     f"| {_escape(c.description)} |")
    return lines


def constraints(c: Column) -> str:
    """The checks of one column in words: ranges, enum, pattern, year."""
    out = []
    unit = " 元" if c.type == "money" else ""
    if c.min is not None:
        out.append(f"{'>' if c.min_exclusive else '≥'} {_plain(c.min)}{unit}")
    if c.max is not None:
        out.append(f"≤ {_plain(c.max)}{unit}")
    if c.enum:
        out.append("取值 one of: " + ", ".join(f"`{v}`" for v in c.enum))
    if c.type in PATTERNS:
        out.append(f"格式 pattern `{PATTERNS[c.type]}`")
    if c.in_year:
        out.append("在结算年度内 in the settlement year")
    if c.type in ("id", "text", "codes") and c.length_limit:
        out.append(f"最多 {c.length_limit} 个字符 at most {c.length_limit} characters")
    return "；".join(out)


def _cross_table_section() -> list[str]:
    from settlement.validation.cross_table import RULES

    lines = ["## 跨表规则 Cross-table rules", "",
             "在计算之前检查；任何一条不满足，`settlement validate` 退出码为 1，不做任何计算。",
             "Checked before anything is computed; any violation makes `settlement validate` exit 1.", "",
             "| 规则编号 rule id | 规则 | rule |", "|---|---|---|"]
    lines += [f"| `{rule}` | {zh} | {en} |" for rule, zh, en in RULES]
    return lines


def _yes(flag: bool) -> str:
    return "是" if flag else "否"


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write(path: Path = DEFAULT_PATH) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path


def is_up_to_date(path: Path = DEFAULT_PATH) -> bool:
    path = Path(path)
    return path.exists() and path.read_text(encoding="utf-8") == render()
