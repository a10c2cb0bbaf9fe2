"""The run record as Python values (结算记录): what a run is, and a row of ``runs`` read back.

- :class:`RunMeta` — what the pipeline knows when a run starts;
- :class:`RunRecord` — one row of ``runs`` with its input fingerprints (times aware UTC);
- :func:`new_run_id` — ``20251231T120000Z-1a2b3c4d``, sortable by start time, never colliding.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Mapping

from settlement.store.manifest import code_version
from settlement.store.owner import Owner
from settlement.store.tables import runs


TIMES = ("started_at", "finished_at", "closed_at", "owner_started_at", "heartbeat_at")


@dataclass
class RunMeta:
    """What a run is, as known when it starts (the pipeline fills it)."""

    county: str
    year: int
    scenario: str = "base"
    config_sha256: str | None = None
    input_hashes: dict[str, str] = field(default_factory=dict)  # file (relative) → SHA-256
    input_rows: dict[str, int] = field(default_factory=dict)
    config_path: str | None = None
    data_dir: str | None = None
    code_version: str = field(default_factory=code_version)
    report_root: str | None = None  # the run folder will be <report_root>/<run_id>
    kind: str = "year"  # "month": a monthly DIP pre-settlement (no period closing applies)
    month: str | None = None  # YYYY-MM of a month run


@dataclass
class RunRecord:
    """One row of ``runs`` with its input fingerprints, as the store reads it back."""

    run_id: str
    county: str
    year: int
    scenario: str
    status: str
    failure_reason: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    config_path: str | None
    config_sha256: str | None
    data_dir: str | None
    code_version: str | None
    timings: dict
    input_rows: dict
    result_rows: dict
    result_columns: dict  # table → {"stored": [...], "not_stored": [...]}
    supersedes: str | None
    superseded_by: str | None
    closed: bool
    closed_at: dt.datetime | None
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_started_at: dt.datetime | None = None
    heartbeat_at: dt.datetime | None = None
    interrupted: bool = False
    report_dir: str | None = None
    kind: str = "year"  # year / month (revision 0007)
    month: str | None = None  # YYYY-MM of a month run
    input_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> Owner | None:
        if self.owner_host is None or self.owner_pid is None or self.owner_started_at is None:
            return None
        return Owner(self.owner_host, self.owner_pid, self.owner_started_at)

    def as_dict(self) -> dict:
        """JSON-ready (times as ISO 8601 UTC)."""
        out = asdict(self)
        for key in TIMES:
            out[key] = out[key].isoformat() if out[key] else None
        return out


def new_run_id(meta: RunMeta, now: dt.datetime) -> str:
    """``20251231T120000Z-1a2b3c4d``: sortable by start time, unique by hash and nonce."""
    seed = json.dumps([meta.config_sha256, sorted(meta.input_hashes.items()), now.isoformat(),
                       secrets.token_hex(8)])
    return f"{now:%Y%m%dT%H%M%SZ}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes (stored as UTC), PostgreSQL aware ones: both → aware UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def to_record(row: Mapping, hashes: dict[str, str]) -> RunRecord:
    values = {k: row[k] for k in runs.c.keys()}
    for key in TIMES:
        values[key] = _utc(values[key])
    for key in ("timings", "input_rows", "result_rows", "result_columns"):
        values[key] = dict(values[key] or {})
    values["closed"] = bool(values["closed"])
    values["interrupted"] = bool(values["interrupted"])
    return RunRecord(**values, input_hashes=hashes)
