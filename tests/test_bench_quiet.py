"""The benchmark's wait for idle servers before each timed run (tests/bench/processes.py: wait_quiet)."""

from __future__ import annotations

import subprocess
import sys

from tests.bench.processes import wait_quiet, waits_summary

SPIN = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass"
IDLE = "import time; time.sleep(20)"


def _start(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_idle_servers_are_quiet_at_once_and_name_no_one() -> None:
    idle = _start(IDLE)
    try:
        waited, busiest = wait_quiet({"idle": idle.pid}, window_s=0.2, timeout_s=5.0)
    finally:
        idle.kill()
        idle.wait()
    assert busiest is None
    assert waited < 5.0


def test_a_server_that_never_goes_quiet_is_named_with_its_share_of_a_core() -> None:
    idle, spin = _start(IDLE), _start(SPIN)
    try:
        waited, busiest = wait_quiet({"idle": idle.pid, "spinner": spin.pid}, window_s=0.2, timeout_s=1.0)
    finally:
        for process in (idle, spin):
            process.kill()
            process.wait()
    assert waited == 1.0
    assert busiest is not None
    name, share = busiest.split()
    assert name == "spinner"
    assert 0.3 < float(share) <= 1.2  # a busy loop: most of a core (clock ticks; a shared core gives less)


def test_the_summary_lists_the_busiest_only_when_a_wait_timed_out() -> None:
    assert waits_summary([0.1, 0.3]) == {"max": 0.3, "total": 0.4, "runs": 2}
    summary = waits_summary([30.0, 0.1], ["litellm 0.42"])
    assert summary["never_quiet"] == ["litellm 0.42"] and summary["max"] == 30.0
