"""store_report pauses the cyclic GC while it reads and builds, and always resumes it (see reporting.py)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from meters.reports import ReportError
from meters.store import Store
from meters.store.reporting import cyclic_gc_paused, store_report
from tests.support import stores as helpers

factory, store, clock = helpers.factory, helpers.store, helpers.clock


async def test_collector_resumed_after_a_report_and_after_an_error(store: Store) -> None:
    assert gc.isenabled()
    report = await store_report(store, "2030-03", catalogue_version="c", gateway_version="g")
    assert report.period.text == "2030-03"
    assert gc.isenabled()
    with pytest.raises(ReportError):
        await store_report(store, "2030-13", catalogue_version="c", gateway_version="g")
    assert gc.isenabled()


async def test_overlapping_reports_resume_when_the_last_ends() -> None:
    first_in, second_done = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        with cyclic_gc_paused():
            first_in.set()
            await second_done.wait()
            assert not gc.isenabled()  # the second report ended first: still paused for this one
        assert gc.isenabled()

    async def second() -> None:
        await first_in.wait()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        second_done.set()

    await asyncio.gather(first(), second())
    assert gc.isenabled()


def test_resumed_when_the_report_fails_inside() -> None:
    with pytest.raises(ValueError), cyclic_gc_paused():
        assert not gc.isenabled()
        raise ValueError("store failed")
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
