"""County policy configuration (政策参数): dated values with units and sources.

A config file (``configs/<county>.yaml``) is a tree, in the manner of openfisca, whose
leaves are *parameters*::

    parameters:
      package:
        risk_reserve_rate:
          label_zh: 风险金提取比例
          unit: ratio
          reference: 示医保发〔2024〕3号 第五条
          values:
            2023-01-01: 0.05
            2026-01-01: 0.04     # applies from its date until the next one
            2027-01-01: null     # expired: no value from this date on

:func:`load_config` reads the file; :func:`resolve` picks, for a settlement year, the value
in force on 1 January of that year for every parameter (a value dated later in the year is
applied by the parameter's period rule — by discharge date, pro rata by days, by person-days —
or, for a parameter that takes one value per year, refused with an error naming it and the
date: ``settlement.params.PERIOD_RULES``), checks each leaf's declared unit
against the unit the engine expects, and builds the typed :class:`~settlement.params.Params`.
Every problem (missing or expired parameter, wrong unit, wrong type) is collected and raised
together as one :class:`ConfigError` naming the parameter and the year.

A scenario file may name ``base_config: ../county.yaml`` and list only the parameters it
changes (:func:`overlay`: a leaf replaces a leaf, sections merge); see
``configs/examples/cms-shared-savings.yaml``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from settlement.params import (ANNUAL, PERIOD_RULE_ZH, Params, check_leaf, expected_units, leaf_type,
                               period_rule)

#: libyaml's safe loader where PyYAML was built with it (the same documents, ≈ 9× faster: a
#: month run reads its config twice), else PyYAML's own
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

LEAF_KEYS = {"values"}


class ConfigError(Exception):
    """One or more configuration problems, each a Chinese + English sentence."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"配置文件有误 configuration errors in {path}:\n" + "\n".join(
            f"  - {p}" for p in problems))


class Leaf(BaseModel):
    """One dated parameter as written in the file."""

    model_config = ConfigDict(extra="forbid")

    values: dict[dt.date, Any]
    unit: str
    reference: str
    label_zh: str = ""
    description: str = ""

    def value_on(self, day: dt.date) -> tuple[bool, Any, dt.date | None]:
        """(found, value, since): the value in force on ``day``; found=False if none or expired."""
        dated = sorted((d, v) for d, v in self.values.items() if d <= day)
        if not dated or dated[-1][1] is None:
            return False, None, dated[-1][0] if dated else None
        return True, dated[-1][1], dated[-1][0]

    def changes_in(self, year: int) -> list[tuple[dt.date, Any]]:
        """Values dated inside ``year`` after 1 January (mid-year changes), in date order."""
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        return sorted((d, v) for d, v in self.values.items() if first < d <= last)


@dataclass(frozen=True)
class ResolvedValue:
    """Trace of one parameter value: where it came from (for statements and the manifest)."""

    path: str
    value: Any
    unit: str
    reference: str
    since: dt.date
    label_zh: str = ""


@dataclass
class Config:
    """A loaded config file: identity, the raw parameter tree, and its hash."""

    path: Path
    county: str
    settlement_year: int
    scenario: str
    tree: dict
    sha256: str
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """Parameters of one settlement year: the typed object and the trace of every value."""

    year: int
    params: Params
    trace: dict[str, ResolvedValue]
    # parameters whose value changes inside the year (by their period rule): the typed values
    # in force from each date, the first from 1 January
    schedules: dict[str, tuple[tuple[dt.date, Any], ...]] = field(default_factory=dict)

    def source(self, path: str) -> str:
        """'5%（示医保发〔2024〕3号，自 2023-01-01 起）' — for explanations: the value as people
        write it (:func:`settlement.wording.cite`), no unit code."""
        from settlement.wording import cite

        t = self.trace[path]
        return cite(t.value, t.unit, t.reference, t.since, self.schedules.get(path, ())[1:])

    def segments(self, path: str) -> list[tuple[dt.date, dt.date, Any]]:
        """(first day, last day, value) of each period of the year with one value of ``path``.

        One segment (1 January – 31 December) unless the value changes inside the year.
        """
        dated = self.schedules.get(path) or ((dt.date(self.year, 1, 1), self._value(path)),)
        ends = [d - dt.timedelta(days=1) for d, _ in dated[1:]] + [dt.date(self.year, 12, 31)]
        return [(d, end, v) for (d, v), end in zip(dated, ends)]

    def joint_segments(self, *paths: str) -> list[tuple[dt.date, dt.date, dict[str, Any]]]:
        """(first day, last day, {path: value}) for the periods in which none of ``paths`` changes."""
        starts = sorted({d for p in paths for d, _ in self.schedules.get(p, ())}
                        | {dt.date(self.year, 1, 1)})
        ends = [d - dt.timedelta(days=1) for d in starts[1:]] + [dt.date(self.year, 12, 31)]
        return [(a, b, {p: self.value_on(p, a) for p in paths}) for a, b in zip(starts, ends)]

    def value_on(self, path: str, day: dt.date) -> Any:
        """The typed value of ``path`` in force on ``day`` of the year."""
        dated = [v for d, v in self.schedules.get(path, ()) if d <= day]
        return dated[-1] if dated else self._value(path)

    def section_segments(self, section: str) -> list[tuple[dt.date, dt.date, Any]]:
        """(first day, last day, the section's typed parameters in force) over the year."""
        paths = [p for p in self.schedules if p.startswith(section + ".")]
        base = getattr(self.params, section)
        if not paths:
            return [(dt.date(self.year, 1, 1), dt.date(self.year, 12, 31), base)]
        return [(a, b, type(base).model_validate(
                    base.model_dump() | {p.split(".", 1)[1]: v for p, v in values.items()}))
                for a, b, values in self.joint_segments(*paths)]

    def _value(self, path: str) -> Any:
        node: Any = self.params
        for key in path.split("."):
            node = getattr(node, key)
        return node


NOT_UTF8 = ("文件不是 UTF-8 编码：请在编辑器中另存为 UTF-8（如记事本“另存为”→ 编码 UTF-8）"
            " the file is not UTF-8 encoded")


def load_config(path: str | Path, _chain: tuple[Path, ...] = ()) -> Config:
    """Read a config file; with ``base_config: FILE`` it is an overlay of that file.

    An overlay replaces whole parameters (leaves) of its base and inherits every other one;
    ``county``, ``settlement_year`` and ``scenario`` default to the base's. The hash covers
    the overlay and its base chain, so a run records exactly what it was given.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), [f"找不到配置文件 file not found: {path}"])
    data = path.read_bytes()
    try:
        raw = yaml.load(data.decode("utf-8-sig"), Loader=SAFE_LOADER)
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [NOT_UTF8]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"YAML 格式错误 cannot parse YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigError(str(path), ["配置文件应为键值结构 top level must be a mapping"])
    base = _base_of(path, raw, _chain)
    problems = [f"缺少顶层字段 `{key}` missing top-level key `{key}`"
                for key in ("county", "settlement_year", "parameters")
                if key not in raw and base is None] + _top_level_problems(raw, base is not None)
    if problems:
        raise ConfigError(str(path), problems)
    if base is None:
        return Config(path=path, county=str(raw["county"]),
                      settlement_year=int(raw["settlement_year"]),
                      scenario=str(raw.get("scenario", "base")), tree=raw["parameters"],
                      sha256=hashlib.sha256(data).hexdigest(), raw=raw)
    return Config(path=path, county=str(raw.get("county", base.county)),
                  settlement_year=int(raw.get("settlement_year", base.settlement_year)),
                  scenario=str(raw.get("scenario", base.scenario)),
                  tree=overlay(base.tree, raw.get("parameters") or {}),
                  sha256=hashlib.sha256(data + base.sha256.encode()).hexdigest(), raw=raw)


#: the keys a county config (or an overlay) may hold at its top level
TOP_LEVEL_KEYS = ("county", "county_en", "settlement_year", "scenario", "parameters", "base_config")


def _top_level_problems(raw: dict, is_overlay: bool) -> list[str]:
    """A typo at the top level (``senario:``) would be ignored, a year written as text would
    stop the run with a traceback: both said in words."""
    problems = [f"未知顶层字段 `{key}`（是否拼写有误？可用的字段：{'、'.join(TOP_LEVEL_KEYS)}）"
                f" unknown top-level key `{key}`" for key in map(str, raw) if key not in TOP_LEVEL_KEYS]
    year = raw.get("settlement_year")
    if year is not None and (isinstance(year, bool) or not str(year).strip().isdigit()):
        problems.append(f"顶层字段 `settlement_year` 应写成四位数的年份（如 2025），文件中为 {year!r}"
                        f" settlement_year must be a year such as 2025")
    parameters = raw.get("parameters")
    if "parameters" in raw and not isinstance(parameters, dict) and not (is_overlay and parameters is None):
        problems.append("顶层字段 `parameters` 应为键值结构（各参数分节）parameters must be a mapping")
    return problems


def _base_of(path: Path, raw: dict, chain: tuple[Path, ...]) -> Config | None:
    if raw.get("base_config") is None:
        return None
    base_path = (path.parent / str(raw["base_config"])).resolve()
    if not base_path.exists():
        raise ConfigError(str(path), [f"base_config 指向的基础配置文件不存在 base config not found: "
                                      f"{raw['base_config']}（{base_path}）"])
    if base_path in chain or base_path == path.resolve():
        raise ConfigError(str(path), [f"base_config 循环引用（方案文件互相引用）cycle: {base_path}"])
    return load_config(base_path, chain + (path.resolve(),))


def overlay(base: dict, over: dict) -> dict:
    """``base`` with the parameters of ``over``: a leaf replaces a leaf, sections merge."""
    out = dict(base)
    for key, node in over.items():
        below = out.get(key)
        both_sections = (isinstance(node, dict) and isinstance(below, dict)
                         and not LEAF_KEYS <= node.keys() and not LEAF_KEYS <= below.keys())
        out[key] = overlay(below, node) if both_sections else node
    return out


def _leaves(tree: dict, prefix: str = "") -> dict[str, dict]:
    out = {}
    for key, node in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(node, dict) and LEAF_KEYS <= node.keys():
            out[path] = node
        elif isinstance(node, dict):
            out.update(_leaves(node, path))
        else:
            out[path] = {"__bad__": node}
    return out


def _set(tree: dict, path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def resolve(config: Config, year: int | None = None) -> Resolved:
    """Typed parameters for ``year`` (default: the config's settlement year), or ConfigError."""
    year = year or config.settlement_year
    day = dt.date(year, 1, 1)
    units = expected_units()
    problems: list[str] = []
    nested: dict = {}
    trace: dict[str, ResolvedValue] = {}
    schedules: dict[str, tuple[tuple[dt.date, Any], ...]] = {}
    for path, node in _leaves(config.tree).items():
        if "__bad__" in node:
            problems.append(f"参数 `{path}` 应写成 unit/reference/values 结构 "
                            f"parameter `{path}` must have unit, reference and values")
            continue
        try:
            leaf = Leaf.model_validate(node)
        except ValidationError as exc:
            problems.append(f"参数 `{path}` 结构有误 malformed parameter `{path}`: {_brief(exc)}")
            continue
        if path in units and leaf.unit != units[path]:
            problems.append(f"参数 `{path}` 的单位应为 `{units[path]}`，文件中为 `{leaf.unit}` "
                            f"parameter `{path}` must be in `{units[path]}`, found `{leaf.unit}`")
            continue
        if path not in units:
            problems.append(f"未知参数 `{path}` unknown parameter `{path}`")
            continue
        found, value, since = leaf.value_on(day)
        if not found and not Params.is_required(path):
            continue  # an optional parameter without a value this year keeps its default
        if not found:
            why = (f"已于 {since.isoformat()} 失效 expired on {since.isoformat()}" if since
                   else "生效日期晚于该年度 first value starts after that year")
            problems.append(f"参数 `{path}` 在 {year} 年没有有效值（{why}）"
                            f" parameter `{path}` has no value for {year}")
            continue
        errors = check_leaf(path, value)
        if errors:
            problems.append(f"参数 `{path}` 在 {year} 年的取值 {value!r} 无效 invalid value for "
                            f"`{path}`: " + "; ".join(errors))
            continue
        changes, bad = _mid_year(path, leaf, year, value)
        if bad:
            problems += bad
            continue
        if changes:
            schedules[path] = changes
        _set(nested, path, value)
        trace[path] = ResolvedValue(path, value, leaf.unit, leaf.reference, since, leaf.label_zh)
    for path in sorted(set(units) - set(_leaves(config.tree))):
        if Params.is_required(path):
            problems.append(f"缺少参数 `{path}`（{year} 年结算需要）"
                            f" missing parameter `{path}` needed for {year}")
    if problems:
        raise ConfigError(str(config.path), problems)
    try:
        params = Params.model_validate(nested)
    except ValidationError as exc:
        raise ConfigError(str(config.path), [
            f"参数 `{'.'.join(str(x) for x in err['loc'])}` 在 {year} 年的取值无效："
            f"{err['msg']} (value {err.get('input')!r})" for err in exc.errors()]) from exc
    resolved = Resolved(year=year, params=params, trace=trace, schedules=schedules)
    problems = _segment_problems(resolved)
    if problems:
        raise ConfigError(str(config.path), problems)
    return resolved


def _segment_problems(resolved: Resolved) -> list[str]:
    """Each period of a section whose parameters change inside the year must be valid too."""
    problems = []
    for section in sorted({p.split(".", 1)[0] for p in resolved.schedules}):
        try:
            resolved.section_segments(section)
        except ValidationError as exc:
            problems.append(f"参数 `{section}` 年中变更后的组合无效 the {section} parameters in force "
                            f"after a mid-year change are invalid: {_brief(exc)}")
    return problems


def _mid_year(path: str, leaf: Leaf, year: int, first: Any) -> tuple[tuple, list[str]]:
    """(typed schedule or (), problems) for the values of ``path`` dated inside ``year``.

    A change is applied by the parameter's period rule (:data:`settlement.params.PERIOD_RULES`)
    or refused with an error naming the parameter and the date — never silently ignored.
    """
    changes = leaf.changes_in(year)
    if not changes:
        return (), []
    rule = period_rule(path)
    dates = "、".join(d.isoformat() for d, _ in changes)
    if rule == ANNUAL:
        return (), [f"参数 `{path}` 在 {year} 年中变更（{dates} 起的取值），该参数按年度取值，"
                    f"不能在年中变更：请把新值的生效日期改为 {year + 1}-01-01，或按年度分别结算 "
                    f"parameter `{path}` changes inside {year} (on {dates}); it takes one value "
                    f"per year"]
    problems, typed = [], [(dt.date(year, 1, 1), _typed(path, first))]
    for day, value in changes:
        errors = ["值为空（参数失效）value is null"] if value is None else check_leaf(path, value)
        if errors:
            problems.append(f"参数 `{path}` 自 {day.isoformat()} 起的取值 {value!r} 无效（年中变更按"
                            f"{PERIOD_RULE_ZH[rule]}）invalid value from {day.isoformat()} for "
                            f"`{path}`: " + "; ".join(errors))
        else:
            typed.append((day, _typed(path, value)))
    return tuple(typed), problems


def _typed(path: str, value: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(leaf_type(path)).validate_python(value)


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
