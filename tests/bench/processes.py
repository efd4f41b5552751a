"""Processes under benchmark: the gateway's config and start, readiness, CPU pinning, and RSS from /proc."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_MODEL = "bench"


def cpu_plan(pin: bool) -> tuple[str | None, str | None]:
    """(gateway cpus, upstream + load generator cpus): one core each when taskset and two cores exist."""
    if not pin or shutil.which("taskset") is None:
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return str(cores[0]), str(cores[1])


def pinned(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus is not None else command


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in ``extra`` replaces ``base``."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def gateway_config(upstream_port: int, extra_config: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": BENCH_MODEL,
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": f"http://127.0.0.1:{upstream_port}/v1",
                    "api_key": "fake",
                },
            }
        ]
    }
    if extra_config is not None:
        extra = yaml.safe_load(extra_config.read_text()) or {}
        if not isinstance(extra, dict):
            raise SystemExit(f"{extra_config}: the extra config must be a YAML mapping")
        config = merge(config, extra)
    return config


def gateway_command() -> list[str]:
    """The installed console script, or the same entry point through this interpreter."""
    script = shutil.which("carbon-gateway")
    if script is not None:
        return [script]
    return [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]


def start_gateway(
    config_path: Path,
    port: int,
    cpus: str | None,
    log_path: Path,
    state_dir: Path,
    root: Path = REPO_ROOT,
    loop_lag: str = "1",
) -> subprocess.Popen[bytes]:
    """Start the gateway; its embedded store lives in ``state_dir`` so no run sees another's counters.

    ``REDIS_URL`` from the environment passes through, selecting the Redis store instead. ``loop_lag`` is
    ``CARBON_GATEWAY_LOOP_LAG``'s value (``"steps"`` adds the longest-step probe, on asyncio's own loop).
    """
    arguments = ["serve", "--config", str(config_path), "--port", str(port), "--workers", "1"]
    command = [*gateway_command(), *arguments]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("GATEWAY_MASTER_KEY", None)
    env["CARBON_GATEWAY_STATE_DIR"] = str(state_dir)
    env["CARBON_GATEWAY_LOOP_LAG"] = loop_lag  # its worst loop stall per second, on stderr (the log)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    with log_path.open("wb") as log:
        return subprocess.Popen(pinned(command, cpus), cwd=root, env=env, stdout=log, stderr=log)


def wait_ready(process: subprocess.Popen[bytes], url: str, timeout_s: float, log_path: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the gateway's log if it exits or never gets there."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gateway not ready at {url} after {timeout_s}s:\n{log_path.read_text()[-3000:]}")


def wait_port(process: subprocess.Popen[Any], port: int, timeout_s: float) -> None:
    """Wait until something accepts TCP connections on ``port`` (for servers without a health route)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout_s}s")


def probe(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One request, to check the route works (and whether carbon headers come back) before timing it."""
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces; fields after its closing parenthesis are fixed.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def allowed_cpus(pid: int) -> str:
    """The CPUs the kernel lets ``pid`` run on, to show that pinning took effect."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _descendants_and_self(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process and its descendants, from /proc/<pid>/stat."""
    ticks = 0
    for current in _descendants_and_self(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_quiet(
    pids: Mapping[str, int], *, window_s: float = 0.3, max_share: float = 0.1, timeout_s: float = 30.0
) -> tuple[float, str | None]:
    """Waits until the servers (name -> pid) together use under ``max_share`` of a core over ``window_s`` (a
    slow peer still working off the last run's queue would otherwise steal the shared core from the next
    target's run). Returns the seconds waited and None; or, if they never went quiet, ``timeout_s`` and the
    server that used the most CPU in the last window, with its share of a core (``"litellm 0.42"``)."""
    start = at = time.monotonic()
    before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    used: dict[str, float] = {}
    elapsed = window_s
    while time.monotonic() - start < timeout_s:
        time.sleep(window_s)
        after = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
        now = time.monotonic()
        used, elapsed, at = {name: after[name] - before[name] for name in after}, now - at, now
        if sum(used.values()) <= max_share * elapsed:
            return round(now - start - elapsed, 3), None
        before = after
    if not used:
        return timeout_s, None
    busiest = max(used, key=lambda name: used[name])
    return timeout_s, f"{busiest} {used[busiest] / elapsed:.2f}"


def waits_summary(waits: list[float], never_quiet: list[str] | None = None) -> dict[str, Any]:
    """The waits' max and total; ``never_quiet``: for each wait that timed out, the busiest server then."""
    summary: dict[str, Any] = {"max": max(waits, default=0.0), "total": round(sum(waits), 3), "runs": len(waits)}
    if never_quiet:
        summary["never_quiet"] = never_quiet
    return summary


def tree_memory_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory, summed over the process and its descendants."""
    pids = _descendants_and_self(pid)
    return {
        "rss_mb": round(sum(_status_kb(p, "VmRSS") for p in pids) / 1024, 1),
        "peak_rss_mb": round(sum(_status_kb(p, "VmHWM") for p in pids) / 1024, 1),
        "processes": len(pids),
    }


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_baseline(
    bench: Any,
    upstream_port: int,
    cpus: str | None,
    workdir: Path,
    target: Any,
    *,
    name: str = "baseline",
    loop_lag: str = "1",
) -> None:
    """The bare Starlette + aiohttp passthrough (``tests/bench/baseline.py``), with the loop-lag monitor on."""
    from tests.support.ports import free_port

    port = free_port()
    command = [sys.executable, "-m", "tests.bench.baseline", "--port", str(port)]
    command += ["--upstream", f"http://127.0.0.1:{upstream_port}/v1"]
    log_path = bench.logs[name] = workdir / f"{name}.log"
    env = {**os.environ, "CARBON_GATEWAY_LOOP_LAG": loop_lag}
    with log_path.open("wb") as log:
        baseline = subprocess.Popen(
            pinned(command, cpus), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log, env=env
        )
    bench.servers[name] = baseline
    wait_port(baseline, port, 30)
    bench.targets[name] = target(port, "bench-model", {})


_BACKLOG = b"carbon_gateway_usage_writer_backlog "


def usage_backlog(port: int) -> int | None:
    """A carbon-gateway's usage writer backlog (finished requests not yet in the store), from its /metrics; None
    for a server that exports none. After a run, a backlog of more than a batch or two means the writer fell
    behind: the work it deferred is not in that run's CPU per request."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    for line in body.splitlines():
        if line.startswith(_BACKLOG):
            return int(float(line[len(_BACKLOG) :]))
    return None


def log_size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def loop_lag_lines(path: Path | None, offset: int) -> list[dict[str, Any]]:
    """The server's ``CARBON_GATEWAY_LOOP_LAG`` lines logged after ``offset``, parsed."""
    if path is None or not path.exists():
        return []
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    lines = []
    for line in text.splitlines():
        if '"loop_lag"' in line:
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                lines.append(parsed)
    return lines


def worst(lines: list[dict[str, Any]], field: str) -> float | None:
    """The largest numeric ``field`` in loop-lag lines (``loop_lag_lines``): ``max_ms`` (wall clock, includes the
    OS running other work), ``max_busy_ms`` (the loop's own work only), ``gc_max_ms``, …; None if none has it."""
    values = [line[field] for line in lines if isinstance(line.get(field), (int, float))]
    return float(max(values)) if values else None
