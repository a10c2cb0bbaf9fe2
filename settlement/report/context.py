"""What the writers need besides the result tables (报表上下文): county, year, run, names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from settlement.problems import Problem


@dataclass(frozen=True)
class ReportContext:
    """Identity of the run and the reference frames the workbooks quote.

    ``units`` / ``communities``: the input frames (unit_id, unit_name, community_id, category…;
    community_id, community_name). ``problems``: the run's problem list (sheet 校验).
    ``param_sources``: parameter path → its value and document, e.g. ``Resolved.source(path)``
    for every path of ``Resolved.trace`` (sheet 总览). ``created``: the workbooks' fixed
    creation time; default the settlement year's last day, so the bytes do not depend on the
    clock.
    """

    county: str
    year: int
    run_id: str
    units: pd.DataFrame
    communities: pd.DataFrame
    problems: Sequence[Problem] = ()
    param_sources: Mapping[str, str] = field(default_factory=dict)
    scenario: str = "base"
    created: dt.datetime | None = None
    payment_method: str = "dip"  # dip or drg: a DRG county's workbooks say DRG
    param_trace: Mapping[str, object] = field(default_factory=dict)  # path → ResolvedValue
    pdf: bool = False  # also write the statements as PDF (LibreOffice)
    chronic_carved: bool = True  # chronic capitation carved out of the package (charts)
    #: tier code → the config's own name of it (label_zh of every distribution / public-health
    #: tier), so a county's workbooks say its tiers as its config does
    tier_labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_run(cls, config, resolved, run_id: str, frames, problems=(), **more) -> "ReportContext":
        """The context of a run: county, year, scenario, payment method and parameter sources
        from the loaded config, the reference frames from the loaded inputs."""
        return cls(config.county, resolved.year, run_id, frames["units"], frames["communities"],
                   problems=problems, scenario=config.scenario,
                   param_sources={p: resolved.source(p) for p in resolved.trace},
                   payment_method=resolved.params.dip.payment_method,
                   param_trace=resolved.trace, chronic_carved=resolved.params.chronic.carve_out,
                   tier_labels=tier_labels(resolved.params), **more)

    @property
    def drg(self) -> bool:
        return str(self.payment_method).lower() == "drg"

    def dz(self, text):
        """``text`` as this county says it: DIP → DRG in a DRG county (labels, sheet names)."""
        return text.replace("DIP", "DRG").replace("分值", "点数") if self.drg and isinstance(text, str) else text

    @property
    def scenario_zh(self) -> str:
        """The scenario as people read it: the base scenario is 基准方案."""
        from settlement.wording import scenario_zh

        return scenario_zh(self.scenario)

    @property
    def created_at(self) -> dt.datetime:
        return self.created or dt.datetime(self.year, 12, 31)

    @cached_property
    def _units_by_id(self) -> dict[str, dict]:
        frame = self.units.astype({"unit_id": str})
        return {r["unit_id"]: r for r in frame.to_dict("records")}

    def unit_row(self, unit_id: str) -> dict:
        row = dict(self._units_by_id.get(str(unit_id), {}))
        return {k: (None if v is pd.NA or (isinstance(v, float) and v != v) else v)
                for k, v in row.items()}

    def unit_names(self) -> dict[str, str]:
        return {k: str(v.get("unit_name", "")) for k, v in self._units_by_id.items()}

    @cached_property
    def _community_names(self) -> dict[str, str]:
        return dict(zip(self.communities["community_id"].astype(str),
                        self.communities["community_name"].astype(str)))

    def community_name(self, community_id) -> str:
        if community_id is None or community_id is pd.NA:
            return "非成员单位"
        return self._community_names.get(str(community_id), str(community_id))


def tier_labels(params) -> dict[str, str]:
    """tier code → label_zh of every tier the parameters define (the first one of a code)."""
    from pydantic import BaseModel

    from settlement.params import Tier

    out: dict[str, str] = {}

    def walk(value) -> None:
        if isinstance(value, Tier):
            out.setdefault(str(value.tier), str(value.label_zh))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(params)
    return out
