"""Set up prometheus_client's multiprocess mode before uvicorn starts its workers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(path: str | None, workers: int) -> str | None:
    """Create (or empty) the shared metrics directory and export it to the workers.

    `path` is the operator's PROMETHEUS_MULTIPROC_DIR, if any. With one worker and no path
    nothing is needed and None comes back. Otherwise the directory is created, stale `*.db`
    files from a previous run are removed (they would resurrect old counts), and the
    variable is set in os.environ so that spawned workers inherit it. Call it in the parent
    before uvicorn spawns workers; workers pick their value store when they import
    prometheus_client.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if path is None and workers == 1:
        return None
    directory = Path(path) if path else Path(tempfile.mkdtemp(prefix="carbon-gateway-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    return str(directory)
