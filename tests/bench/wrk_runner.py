"""Drive load with Debian's ``wrk``: a generated Lua script POSTs the body and prints a JSON summary."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.bench.loadgen import LoadResult

_SUMMARY_MARK = "BENCH_SUMMARY "

_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{headers}wrk.body = [==[{body}]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    body: bytes,
    *,
    connections: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    cpus: str | None = None,
) -> LoadResult:
    """One wrk run (one thread: the load generator must stay on its own core)."""
    if b"]==]" in body:
        raise ValueError("body cannot be embedded in the Lua long string")
    header_lines = "".join(
        f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n" for name, value in (headers or {}).items()
    )
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_LUA.format(body=body.decode(), mark=_SUMMARY_MARK, headers=header_lines))
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            "-s",
            str(script),
            url,
        ]
        if cpus is not None and shutil.which("taskset"):
            command = ["taskset", "-c", cpus, *command]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    for line in completed.stdout.splitlines():
        if line.startswith(_SUMMARY_MARK):
            summary = json.loads(line[len(_SUMMARY_MARK) :])
            break
    else:
        raise RuntimeError(f"wrk gave no summary (exit {completed.returncode}): {completed.stderr.strip()}")
    duration = summary["duration_us"] / 1e6
    errors = sum(summary[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        tool="wrk",
        connections=connections,
        requests=summary["requests"],
        errors=errors,
        duration_s=round(duration, 3),
        rps=round(summary["requests"] / duration, 1) if duration > 0 else 0.0,
        p50_ms=round(summary["p50_us"] / 1000, 3),
        p99_ms=round(summary["p99_us"] / 1000, 3),
    )
