"""The run manifest (运行清单) ``reports/<run_id>/manifest.json``: what an auditor needs to replay.

It names the run (id, county, year, scenario, status), fingerprints everything that went in
(SHA-256 of every input file and of the config), the code that ran (package version and git
commit when the package runs from a checkout), step timings and row counts::

    {
      "code_version": {"git_commit": "29243b3…", "git_dirty": false, "package": "0.1.0",
                       "text": "0.1.0+g29243b3c1d2e"},
      "config_sha256": "9f2c…",
      "county": "示例县",
      "input_files": {"communities.csv": "1b4e…", …},
      "run_id": "20251231T120000Z-1a2b3c4d",
      …
    }

Keys are sorted at every level and the JSON is UTF-8 with Chinese kept readable, so two
manifests differ only where the runs differ (run id, times, timings).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

from settlement import __version__

_ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool]:
    """(commit, modified) of the checkout the package runs from; (None, False) if not one."""
    if not (_ROOT / ".git").exists():
        return None, False
    try:
        commit = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    return commit or None, bool(status.strip())


def code_version() -> str:
    """``0.1.0`` or ``0.1.0+g29243b3c1d2e`` (``.dirty`` when the checkout has local changes)."""
    commit, dirty = git_state()
    if commit is None:
        return __version__
    return f"{__version__}+g{commit[:12]}" + (".dirty" if dirty else "")


def code_version_info() -> dict[str, Any]:
    commit, dirty = git_state()
    return {"package": __version__, "git_commit": commit, "git_dirty": dirty, "text": code_version()}


def manifest_dict(meta: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The manifest content from a :class:`~settlement.store.runs.RunRecord` or a mapping."""
    data = dict(meta.as_dict() if hasattr(meta, "as_dict") else meta)
    hashes = data.pop("input_hashes", None) or data.pop("input_files", None) or {}
    result_rows = data.pop("result_rows", None) or {}
    input_rows = data.pop("input_rows", None) or {}
    out = {
        "run_id": data.get("run_id"),
        "county": data.get("county"),
        "year": data.get("year"),
        "scenario": data.get("scenario", "base"),
        "status": data.get("status"),
        "started_at": data.get("started_at"),
        "finished_at": data.get("finished_at"),
        "input_files": dict(hashes),
        "config_path": data.get("config_path"),
        "data_dir": data.get("data_dir"),
        "config_sha256": data.get("config_sha256"),
        "code_version": code_version_info(),
        "timings_seconds": dict(data.get("timings") or {}),
        "row_counts": {"inputs": dict(input_rows), "results": dict(result_rows)},
        "supersedes": data.get("supersedes"),
    }
    extra = {k: v for k, v in data.items() if k not in out and k not in
             ("timings", "failure_reason", "closed", "closed_at", "superseded_by", "code_version",
              "owner_host", "owner_pid", "owner_started_at", "heartbeat_at", "report_dir")}
    if data.get("failure_reason"):
        out["failure_reason"] = data["failure_reason"]
    out.update(extra)
    return out


def write_manifest(run_dir: str | Path, meta: Mapping[str, Any] | Any) -> Path:
    """Write ``run_dir/manifest.json`` atomically (sorted keys, UTF-8); returns its path.

    The text goes to a temporary file in the same folder, is flushed to disk and then
    renamed over ``manifest.json`` (``os.replace``): a reader sees the old manifest or the new
    one, never half of one, even if the process is killed or the disk fills.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "manifest.json"
    text = json.dumps(manifest_dict(meta), sort_keys=True, ensure_ascii=False, indent=2, default=str)
    handle, temp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=run_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path
