"""The serving process settles its start-up heap (gateway/heap.py): garbage collected first, the rest frozen;
and it hands the GIL over sooner (gateway/threads.py)."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import heap, threads
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
    for settle in (False, True):
        gc.unfreeze()
        sys.setswitchinterval(0.005)
        app = create_app(config, routes={SCRIPTED: scripted_route(), "demo": demo_route()}, settle_heap=settle)
        async with app.router.lifespan_context(app):
            assert (gc.get_freeze_count() > 0) is settle
            assert sys.getswitchinterval() == pytest.approx(threads.SWITCH_INTERVAL_S if settle else 0.005)
