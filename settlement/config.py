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
in force on 1 January of that year for every parameter, checks each leaf's declared unit
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

from settlement.params import Params, check_leaf, expected_units

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

    def source(self, path: str) -> str:
        """'0.05（ratio，示医保发〔2024〕3号，自 2023-01-01）' — for explanations."""
        t = self.trace[path]
        return f"{t.value}（{t.unit}，{t.reference}，自 {t.since.isoformat()} 起）"


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
        raw = yaml.safe_load(data.decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"YAML 格式错误 cannot parse YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigError(str(path), ["配置文件应为键值结构 top level must be a mapping"])
    base = _base_of(path, raw, _chain)
    problems = [f"缺少顶层字段 `{key}` missing top-level key `{key}`"
                for key in ("county", "settlement_year", "parameters")
                if key not in raw and base is None]
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
    return Resolved(year=year, params=params, trace=trace)


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
