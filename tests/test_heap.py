"""The serving process settles its start-up heap (gateway/heap.py): garbage collected first, the rest frozen;
and it hands the GIL over sooner (gateway/threads.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import heap, threads, tokens
from gateway.app import create_app
from tests.support.inprocess import SCRIPTED, demo_route, edge_config, parse_edge_config, scripted_route


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process must not keep what it froze
    gc.set_threshold(*threshold)
    sys.setswitchinterval(interval)


def test_settle_collects_cycles_before_freezing(unfrozen: None) -> None:
    garbage = Node()
    garbage.other = Node()
    garbage.other.other = garbage
    gone = weakref.ref(garbage)
    kept = Node()
    kept.other = kept
    del garbage
    frozen = heap.settle()
    assert gone() is None  # start-up garbage is collected, not frozen for the process's life
    assert frozen == gc.get_freeze_count() > 1000
    assert not any(obj is kept for obj in gc.get_objects())  # out of the collector's walks, still alive
    assert kept.other is kept
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


async def test_only_the_serving_app_settles(unfrozen: None, tmp_path: Path) -> None:
    config = parse_edge_config(edge_config(tmp_path, observability={"log_requests": False}), tmp_path)
    tokens._encoding.cache_clear()
    for settle in (False, True):
        gc.unfreeze()
        sys.setswitchinterval(0.005)
        app = create_app(config, routes={SCRIPTED: scripted_route(), "demo": demo_route()}, settle_heap=settle)
        async with app.router.lifespan_context(app):
            assert (gc.get_freeze_count() > 0) is settle
            assert sys.getswitchinterval() == pytest.approx(threads.SWITCH_INTERVAL_S if settle else 0.005)
            # The serving process loads the tokenizer before its first connection, not at a stream cut short.
            assert (tokens._encoding.cache_info().currsize == 1) is settle
            assert any(t.name == "cg-heap-release" for t in threading.enumerate()) is settle
        assert not any(t.name == "cg-heap-release" for t in threading.enumerate())


def test_release_hands_freed_pages_back_periodically(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(heap, "_TRIM", lambda pad: calls.append(pad) or 1)
    with heap.releasing(every_s=0.01):
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(calls) >= 3 and set(calls) == {0}  # at once, then every interval
    stopped = len(calls)
    time.sleep(0.05)
    assert len(calls) == stopped  # the thread ended with the block
    monkeypatch.setattr(heap, "_TRIM", None)  # no glibc: nothing to call, nothing released
    assert heap.release() is False


def test_the_cli_and_app_import_neither_redis_nor_aiohttp() -> None:
    """~9 and ~12 MB of a serving process: redis-py comes with a Redis store (REDIS_URL), aiohttp with the first
    multipart upload (gateway/upstream/forms.py)."""
    code = "import sys, gateway.cli, gateway.app; print(sorted({'redis', 'aiohttp'} & set(sys.modules)))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert found.stdout.strip() == "[]", found.stderr
