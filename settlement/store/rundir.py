"""The run folder (运行目录) ``reports/<run_id>/``: written under a temporary name, then renamed.

While a run works its files go to ``reports/<run_id>.partial/``; only when the manifest is
written (atomically, see :func:`~settlement.store.manifest.write_manifest`) is the folder
renamed to ``reports/<run_id>/``. A killed run therefore never leaves a complete-looking
folder without a manifest: what it leaves is ``<run_id>.partial``, and the run record (marked
中断 on the next command) names it.
"""

from __future__ import annotations

import os
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def partial_dir(run_dir: Path) -> Path:
    """``reports/<run_id>`` → ``reports/<run_id>.partial``."""
    return run_dir.with_name(run_dir.name + PARTIAL_SUFFIX)


def publish(run_dir: Path) -> Path:
    """Rename the partial folder to its final name (the final name must not exist yet)."""
    partial = partial_dir(run_dir)
    if run_dir.exists():
        raise FileExistsError(f"运行目录已存在 run folder already exists: {run_dir}")
    os.replace(partial, run_dir)
    return run_dir
