"""Which parameters differ between two runs (参数差异), with the document each comes from.

A run records its config path and the config's SHA-256. The parameters are read back from
that file and resolved for the run's year (:func:`run_parameters`); if the file has gone or
changed since the run, the note says so (the values listed are then the file's current ones).

:func:`parameter_differences` compares two traces leaf by leaf::

    corridor.surplus   A {mode: marginal, bands: …}  示医保发〔2024〕3号 第八条，自 2023-01-01
                       B {mode: first_dollar, …}     42 CFR §425.604，自 2023-01-01
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from settlement.config import ConfigError, ResolvedValue, load_config, resolve

PARAM_COLUMNS = ["path", "label_zh", "value_a", "value_b", "source_a", "source_b"]


@dataclass
class RunParameters:
    """The resolved parameter trace of a run's config (``None`` if unreadable) and a note."""

    trace: dict[str, ResolvedValue] | None
    note: str = ""
    tier_labels: dict[str, str] | None = None


def run_parameters(config_path: str | None, config_sha256: str | None, year: int) -> RunParameters:
    """Parameters of a run from its recorded config file, checked against the recorded hash."""
    if not config_path or not Path(config_path).exists():
        return RunParameters(None, f"配置文件不可读，无法列出参数 config file not available: {config_path}")
    try:
        config = load_config(config_path)
        resolved = resolve(config, year)
    except ConfigError as exc:
        return RunParameters(None, f"配置文件有误，无法列出参数 config cannot be resolved: {exc.problems[:1]}")
    note = ""
    if config_sha256 and config.sha256 != config_sha256:
        note = (f"配置文件 {config_path} 在结算后已修改，参数按当前文件列出 "
                "config changed since the run; values are the file's current ones")
    labels = {t.tier: t.label_zh for t in resolved.params.distribution.tiers}
    return RunParameters(resolved.trace, note, labels)


def value_text(value) -> str:
    """A parameter value as short, stable text (JSON with Chinese kept, Decimals exact)."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_plain)
    return _plain(value)


def _plain(value) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def source_text(trace: ResolvedValue | None) -> str:
    if trace is None:
        return "（未设置 not set）"
    return f"{trace.reference}（自 {trace.since.isoformat()} 起）"


def parameter_differences(a: dict[str, ResolvedValue], b: dict[str, ResolvedValue]) -> pd.DataFrame:
    """One row per parameter whose value differs (or exists on one side only), by path."""
    rows = []
    for path in sorted(set(a) | set(b)):
        ta, tb = a.get(path), b.get(path)
        va = value_text(ta.value) if ta else ""
        vb = value_text(tb.value) if tb else ""
        if ta is not None and tb is not None and va == vb:
            continue
        label = (tb or ta).label_zh
        rows.append((path, label, va, vb, source_text(ta), source_text(tb)))
    return pd.DataFrame(rows, columns=PARAM_COLUMNS)

