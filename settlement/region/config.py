"""The region config (统筹区配置): one pooling region, its DIP parameters, its counties.

A region file (``configs/<region>.yaml``, or ``DIR/region.yaml`` written by
``settlement sample --counties N``) names the region, the year and each county's own config;
the DIP parameters are the region's, one set for every county (区域点数法总额预算)::

    region: 示例市
    settlement_year: 2025
    counties:
      - {county_id: C01, config: counties/C01.yaml}   # relative to the region file
    parameters:
      dip: { ...the full dip section, dated leaves as in a county config... }

A county config named here is an ordinary county config WITHOUT ``parameters.dip`` (one that
has it is refused: 区域结算时病种分值付费参数由区域配置统一规定). :func:`county_setups` merges
the region's ``dip`` into each county's tree and resolves it; :func:`with_point_value` then
fixes the county's point value to the region's (``point_value_mode: region``) with a
reference that says where it came from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from settlement.config import NOT_UTF8, Config, ConfigError, Resolved, load_config, resolve

DIP_IS_REGIONAL = "区域结算时病种分值付费参数由区域配置统一规定"


class _CountyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    county_id: str = Field(min_length=1)
    config: str = Field(min_length=1)


class _RegionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(min_length=1)
    region_en: str = ""
    settlement_year: int
    scenario: str = "base"
    counties: list[_CountyEntry] = Field(min_length=1)
    parameters: dict


@dataclass(frozen=True)
class CountyEntry:
    county_id: str
    config_path: Path


@dataclass
class RegionConfig:
    """A loaded region file. ``county``/``sha256`` make it a run's config (the run record's
    county is the region's name; the hash covers the region file and every county config)."""

    path: Path
    region: str
    region_en: str
    settlement_year: int
    scenario: str
    counties: list[CountyEntry]
    dip_tree: dict
    sha256: str

    @property
    def county(self) -> str:
        return self.region

    @property
    def county_ids(self) -> list[str]:
        return [c.county_id for c in self.counties]


@dataclass
class CountySetup:
    """One county of the region: its config (region DIP merged in) and its resolved parameters."""

    county_id: str
    config: Config
    resolved: Resolved


def load_region(path: str | Path) -> RegionConfig:
    """Read and check a region file; every problem in one :class:`ConfigError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), [f"找不到区域配置文件 region file not found: {path}"])
    data = path.read_bytes()
    try:
        raw = yaml.safe_load(data.decode("utf-8-sig"))
        parsed = _RegionFile.model_validate(raw)
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [NOT_UTF8]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"YAML 格式错误 cannot parse YAML: {exc}"]) from exc
    except ValidationError as exc:
        raise ConfigError(str(path), [_field_problem(e) for e in exc.errors()]) from exc
    problems, counties = _county_entries(path, parsed.counties)
    dip = parsed.parameters.get("dip")
    if not isinstance(dip, dict) or not dip:
        problems.append("区域配置缺少 `parameters.dip`（全区域统一的病种分值付费参数）"
                        " the region file needs parameters.dip")
    extra = sorted(set(parsed.parameters) - {"dip"})
    if extra:
        problems.append(f"区域配置的 parameters 只能包含 dip，其余参数写在各县配置中：{'、'.join(extra)}"
                        f" only dip belongs in the region file: {', '.join(extra)}")
    if problems:
        raise ConfigError(str(path), problems)
    digest = hashlib.sha256(data)
    for entry in counties:
        digest.update(entry.config_path.read_bytes())
    return RegionConfig(path, parsed.region, parsed.region_en, parsed.settlement_year,
                        parsed.scenario, counties, dip, digest.hexdigest())


def _field_problem(error: dict) -> str:
    """One field of the region file that does not fit, in words (a typo names the known keys)."""
    from settlement.params import rule_in_chinese

    loc = error["loc"]
    where = ".".join(str(x) for x in loc) or "顶层"
    if len(loc) > 1 and loc[0] == "counties" and isinstance(loc[1], int):  # as the clerk counts
        where = f"counties 第 {loc[1] + 1} 项" + "".join(f".{x}" for x in loc[2:])
    if error["type"] == "extra_forbidden":
        model = _CountyEntry if len(loc) > 1 else _RegionFile
        return (f"区域配置中有未知字段 `{where}`（是否拼写有误？可用的字段：{'、'.join(model.model_fields)}）"
                f" unknown key `{where}` in the region file")
    if error["type"] == "missing":
        return f"区域配置缺少字段 `{where}` the region file needs `{where}`"
    if not loc:
        return ("区域配置文件应为键值结构（region:、settlement_year:、counties:、parameters: 各占一行）"
                " the region file must be a mapping")
    return f"区域配置字段 `{where}` 有误：{rule_in_chinese(error)} region file field is invalid"


def _county_entries(path: Path, entries: list[_CountyEntry]) -> tuple[list[str], list[CountyEntry]]:
    problems, out, seen, files = [], [], set(), {}
    for k, entry in enumerate(entries, start=1):
        config_path = (path.parent / entry.config).resolve()
        if entry.county_id in seen:
            problems.append(f"第 {k} 个县（区）编码 {entry.county_id} 重复 duplicate county_id")
        elif not config_path.is_file():
            problems.append(f"县（区）{entry.county_id} 的配置文件不存在：{entry.config}（{config_path}）"
                            f" county config not found")
        elif config_path in files:  # two counties settled on one county's parameters
            problems.append(f"县（区）{entry.county_id} 与 {files[config_path]} 使用同一个配置文件 "
                            f"{entry.config}：每个县（区）应有自己的配置 two counties name one config")
        seen.add(entry.county_id)
        files.setdefault(config_path, entry.county_id)
        out.append(CountyEntry(entry.county_id, config_path))
    return problems, out


def county_setups(region: RegionConfig) -> list[CountySetup]:
    """Each county's config with the region's ``dip`` merged in, resolved; all problems at once.

    A county config holding ``dip`` (itself or through its base_config) is refused; so is a
    county whose settlement year is not the region's. Problems of the merged ``dip`` leaves
    name the region file, the others the county file.
    """
    setups, problems = [], []
    for entry in region.counties:
        try:
            setups.append(_county_setup(region, entry))
        except ConfigError as exc:
            problems += [f"{exc.path}：{p}" for p in exc.problems]
    if problems:  # the region's own dip leaves fail in every county: each said once
        raise ConfigError(str(region.path), list(dict.fromkeys(problems)))
    return setups


def _county_setup(region: RegionConfig, entry: CountyEntry) -> CountySetup:
    config = load_config(entry.config_path)
    problems = []
    if "dip" in config.tree:
        problems.append(f"{DIP_IS_REGIONAL}：请删除县（区）{entry.county_id} 配置中的 parameters.dip "
                        f"/ in a region run the DIP parameters come from the region file only")
    if config.settlement_year != region.settlement_year:
        problems.append(f"结算年度 {config.settlement_year} 与区域配置的 {region.settlement_year} 不一致 "
                        f"/ settlement year differs from the region's")
    if problems:
        raise ConfigError(str(entry.config_path), problems)
    merged = dataclasses.replace(config, tree={**config.tree, "dip": region.dip_tree})
    try:
        resolved = resolve(merged, region.settlement_year)
    except ConfigError as exc:
        regional = [p for p in exc.problems if "`dip." in p]
        if regional:
            raise ConfigError(str(region.path), regional) from exc
        raise
    return CountySetup(entry.county_id, merged, resolved)


def with_point_value(setup: CountySetup, point_value: Decimal, reference: str, *,
                     whole_region: bool = False) -> CountySetup:
    """The county settled on the region's point value: ``point_value_mode: region`` and
    ``published_point_value`` = ``point_value`` (its reference names the region's derivation).

    ``region``: the DIP ledger starts from the county's money at that value, the region's pool
    only reconciled to (:mod:`settlement.dip.ledger`). A county that is the whole region (a
    region of one, no city hospital) owns the pool: ``published``, the county run's ledger."""
    first = dt.date(setup.resolved.year, 1, 1)
    dip = {**setup.config.tree["dip"],
           "point_value_mode": {"label_zh": "结算点值方式（采用区域统一点值）", "unit": "enum",
                                "reference": reference,
                                "values": {first: "published" if whole_region else "region"}},
           "published_point_value": {"label_zh": "区域结算点值", "unit": "yuan_per_point",
                                     "reference": reference, "values": {first: point_value}}}
    config = dataclasses.replace(setup.config, tree={**setup.config.tree, "dip": dip})
    return CountySetup(setup.county_id, config, resolve(config, setup.resolved.year))
