"""Run the fake upstream as a separate process (benchmarks, tests that run the gateway as a subprocess)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def spawn_fake_upstream(
    port: int = 0,
    *,
    cpus: str | None = None,
    record_limit: int = 1000,
    timeout_s: float = 15.0,
    args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[str], int]:
    """Start ``python -m tests.fakes.upstream`` and return (process, port) once it printed ``ready <port>``.

    ``cpus`` (e.g. ``"1"``) pins it with ``taskset -c`` when taskset exists. The caller terminates it.
    """
    command = [sys.executable, "-m", "tests.fakes.upstream", "--port", str(port)]
    command += ["--record-limit", str(record_limit), *args]
    if cpus is not None and shutil.which("taskset"):
        command = ["taskset", "-c", cpus, *command]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = _readline(process, timeout_s)
    if not line.startswith("ready "):
        process.kill()
        raise RuntimeError(f"fake upstream did not start: {line!r}")
    return process, int(line.split()[1])


def _readline(process: subprocess.Popen[str], timeout_s: float) -> str:
    """First stdout line, or '' if the process dies or stays silent past the timeout."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return ""
    return process.stdout.readline()
