"""The stage contract (结算环节约定): every stage is ``run(frames, ctx) -> StageResult``.

As in beancount, where each step is ``(entries, options) -> (entries, errors)``, a stage of
:func:`settlement.pipeline.settle` takes the frames computed so far and one :class:`Context`,
and returns its tables and its problems as data. A stage never appends to a caller's list and
never raises for a condition of the data (that is an error :class:`~settlement.problems.Problem`);
it raises only when an invariant of the engine itself breaks (a ledger that does not balance).

``ctx.cite(path)`` is the document a parameter comes from, for explanations; an unknown
parameter path raises :class:`UnknownParameter` (a typo is a bug, never an empty citation)::

    ctx.cite("corridor.surplus")   → '示医保发〔2024〕3号 第七条'
    ctx.cite("corridor.surplis")   → UnknownParameter
    ctx.source("package.risk_reserve_rate") → '5%（示医保发〔2024〕3号，自 2023-01-01 起）'

A known parameter the config leaves at its default has no document: ``cite`` gives "" and
``source`` the value alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd

from settlement.config import Resolved
from settlement.params import Params, expected_units
from settlement.problems import Problem


class UnknownParameter(KeyError):
    """A parameter path the engine does not define (``Params``): a bug in the caller."""

    def __init__(self, path: str):
        super().__init__(f"未定义的参数 unknown parameter path `{path}`")
        self.path = path


@cache
def parameter_paths() -> frozenset[str]:
    """Every leaf parameter path of :class:`~settlement.params.Params`."""
    return frozenset(expected_units())


def known(path: str) -> str:
    """``path`` itself, or :class:`UnknownParameter` when ``Params`` has no such leaf."""
    if path not in parameter_paths():
        raise UnknownParameter(path)
    return path


def uncited(path: str) -> str:
    """The citation of a stage called without a config (tests, benchmarks): none, but the path
    is still checked, so a typo fails there too."""
    known(path)
    return ""


def bracketed(cite: Callable[[str], str], path: str) -> str:
    """'（document）' for an explanation, or '' when the parameter has no document."""
    reference = cite(path)
    return f"（{reference}）" if reference else ""


@dataclass
class StageResult:
    """What a stage returns: its tables by name and its problems.

    ``tables`` are result tables of the run (``Settlement.tables``); ``working`` are frames a
    later stage needs but the run does not publish (chronic carve-outs, the package lines …);
    ``summary`` carries small non-table facts for the run summary (the DIP summary).
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    working: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class Frames:
    """The frames a stage reads: the loader's input tables, the result and working tables of
    the stages before it (kept apart: ``family_doctor_fees`` is both an input and a result)."""

    inputs: Mapping[str, pd.DataFrame]
    results: dict[str, pd.DataFrame] = field(default_factory=dict)
    working: dict[str, Any] = field(default_factory=dict)

    def add(self, result: StageResult) -> None:
        self.results.update(result.tables)
        self.working.update(result.working)


@dataclass(frozen=True)
class Context:
    """One settlement's parameters: typed ``params`` of the ``year``, their trace, the scan engine.

    ``engine``: the scan engine (:mod:`settlement.scan`); None lets each scan pick the default.
    """

    resolved: Resolved
    engine: Any = None

    @property
    def params(self) -> Params:
        return self.resolved.params

    @property
    def year(self) -> int:
        return self.resolved.year

    def cite(self, path: str) -> str:
        """The document ``path``'s value comes from ('' at its default); unknown path raises."""
        trace = self.resolved.trace.get(known(path))
        return trace.reference if trace is not None else ""

    def source(self, path: str) -> str:
        """The value as people write it with its document and date (:meth:`Resolved.source`)."""
        if known(path) in self.resolved.trace:
            return self.resolved.source(path)
        from settlement.wording import UNIT_SUFFIX, human_value

        value, unit = self.resolved.value_on(path, dt.date(self.year, 1, 1)), expected_units()[path]
        suffix = "" if isinstance(value, (dict, list, tuple, bool)) else UNIT_SUFFIX.get(unit, "")
        return f"{human_value(value, unit)}{suffix}（默认值 default）"

    def segments(self, path: str) -> list[tuple[dt.date, dt.date, Any]]:
        return self.resolved.segments(known(path))

    def joint_segments(self, *paths: str) -> list[tuple[dt.date, dt.date, dict[str, Any]]]:
        return self.resolved.joint_segments(*(known(p) for p in paths))

    def section_segments(self, section: str) -> list[tuple[dt.date, dt.date, Any]]:
        return self.resolved.section_segments(section)


@dataclass(frozen=True)
class Stage:
    """A named stage: ``name`` is the step the run times and shows (Chinese + English)."""

    name: str
    run: Callable[[Frames, Context], StageResult]
