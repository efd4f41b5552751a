"""/readyz tells the truth and matches the failure policy, and a deleted state dir loses no usage (issue 10,
item 11). Store-level tests run on both backends (tests/support/stores.py); /readyz runs in process."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import httpx

from meters.store import Store
from tests.support import stores as helpers
from tests.support.inprocess import edge
from tests.support.ports import free_port
from tests.support.stores import REDIS_URL, StoreFactory, make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock
PERIOD = "2030-03"  # the month of tests.support.stores.T0


async def test_a_healthy_store_is_writable(store: Store) -> None:
    assert await store.backend.writable()


async def test_a_state_dir_deleted_under_a_running_store_loses_no_usage(factory: StoreFactory) -> None:
    """Before: the embedded store went on writing into the deleted file; the 40 requests were gone at the next
    start. Now the file is recreated from the open database at the next call, with everything in it."""
    first = await factory.open()
    for _ in range(5):
        assert await first.meter.record(make_record("acme"))
    shutil.rmtree(factory.state_dir)
    for _ in range(40):
        assert await first.meter.record(make_record("acme"))
    assert await first.backend.writable()
    await first.close()
    factory.opened.remove(first)
    again = await factory.open()
    usage = await again.reports.usage("acme", PERIOD)
    assert usage["totals"]["requests"] == 45


async def test_a_state_dir_that_cannot_be_recreated_is_not_writable(factory: StoreFactory) -> None:
    opened = await factory.open()
    assert await opened.meter.record(make_record("acme"))
    shutil.rmtree(factory.state_dir)
    factory.state_dir.write_text("a file where the state directory was")  # mkdir fails, even as root
    writable = await opened.backend.writable()
    # Redis keeps its counts in Redis: only the embedded store lives in the state directory.
    assert writable is (factory.backend != "sqlite")
    factory.state_dir.unlink()


async def _readyz(tmp_path: Path, **store: object) -> httpx.Response:
    async with edge(tmp_path, store={"state_dir": str(tmp_path / "state"), **store}) as (client, _gw):
        return await client.get("/readyz")


async def test_redis_down_under_fail_open_is_ready_but_degraded(tmp_path: Path) -> None:
    answer = await _readyz(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0", on_failure="fail_open")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "degraded" and answer.json()["store"] is False


async def test_redis_down_under_fail_closed_is_not_ready(tmp_path: Path) -> None:
    """A fail_closed gateway does not start without Redis: it starts on the real one, which then "goes down"."""
    prefix = f"cgtest:{uuid.uuid4().hex[:12]}:"
    settings = {"state_dir": str(tmp_path / "state"), "redis_url": REDIS_URL, "on_failure": "fail_closed"}
    async with edge(tmp_path, store={**settings, "prefix": prefix}) as (client, gw):
        assert (await client.get("/readyz")).json()["status"] == "ready"

        async def down() -> bool:
            return False

        gw.store.backend.ping = down  # type: ignore[method-assign]
        answer = await client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "unavailable", answer.text


async def test_an_embedded_store_that_cannot_write_is_not_ready(tmp_path: Path) -> None:
    async with edge(tmp_path) as (client, _gw):
        assert (await client.get("/readyz")).json()["status"] == "ready"
        shutil.rmtree(tmp_path / "state")
        (tmp_path / "state").write_text("not a directory")
        answer = await client.get("/readyz")
        assert answer.status_code == 503, answer.text
        assert answer.json()["status"] == "unavailable" and answer.json()["store_writable"] is False
        (tmp_path / "state").unlink()
        answer = await client.get("/readyz")  # the directory can be made again: recreated, ready
        assert answer.status_code == 200 and answer.json()["status"] == "ready", answer.text
