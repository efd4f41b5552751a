"""Optional sampling profile of the gateway under load with py-spy (``pip install py-spy``; not a dependency).

``start_py_spy`` samples the gateway's process tree in the background (``--nonblocking``: the gateway is never
paused) into py-spy's collapsed-stack ("raw") format; ``hot_spots`` ranks functions by self and inclusive
sample share, which is what a report needs to name a hot spot.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy_available() -> bool:
    return shutil.which("py-spy") is not None


def start_py_spy(pid: int, duration_s: float, output: Path) -> subprocess.Popen[bytes]:
    command = [
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "250",
        "--duration",
        str(max(1, round(duration_s))),
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _frame_name(frame: str) -> str:
    """``function (path/to/file.py:123)`` → ``function (file.py)``, so lines of one function add up."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    short = "/".join(Path(path).parts[-2:]) if path else "?"
    return f"{name.strip()} ({short})"


def hot_spots(collapsed: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Top functions by self and by inclusive share of samples (percent), from a py-spy raw file."""
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")[1:]]  # first entry: process/thread
        if not frames:
            continue
        total += count
        self_samples[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if total == 0:
        return {"self": [], "inclusive": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * count / total, 1)) for name, count in counter.most_common(top)]

    return {"self": share(self_samples), "inclusive": share(inclusive), "samples": [("total", float(total))]}


def finish_py_spy(profiler: subprocess.Popen[bytes], output: Path) -> dict[str, Any]:
    """Wait for py-spy; its hot spots, or the end of its error output."""
    _, errors = profiler.communicate(timeout=120)
    if profiler.returncode != 0 or not output.exists():
        return {"error": errors.decode(errors="replace")[-500:]}
    return {"raw_file": str(output), **hot_spots(output)}
