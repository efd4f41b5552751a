"""Keep `carbon_gateway_store_up` current without waiting for someone to call /readyz, and
`carbon_gateway_usage_writer_backlog` (what the usage writer still holds in memory) with it.

Docker Compose only probes /healthz, so without this the CounterStoreDown alert would see
nothing there. The probe runs in the app's lifespan, one per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from gateway.observability.metrics import Metrics

DEFAULT_INTERVAL_S = 10.0
STOP_TIMEOUT_S = 2.0  # a probe that will not stop is abandoned after this: shutdown must never hang on it


class StoreHealthProbe:
    """Calls `ping()` every `interval_s` seconds and exports the answer as store_up{backend}; `backlog()`, when
    given, is exported as usage_writer_backlog at the same pace.

    Usage in the lead's lifespan:
        probe = StoreHealthProbe(metrics, store.ping, "redis")
        probe.start()
        try: yield
        finally: await probe.stop()
    """

    def __init__(
        self,
        metrics: Metrics,
        ping: Callable[[], Awaitable[bool]],
        backend: str,
        interval_s: float = DEFAULT_INTERVAL_S,
        backlog: Callable[[], int] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._metrics = metrics
        self._ping = ping
        self._backend = backend
        self._interval_s = interval_s
        self._backlog = backlog
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def check_once(self) -> bool:
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result of a ping that finished
            # as the task was cancelled, swallowing the cancellation, and the lifespan then waited forever.
            async with asyncio.timeout(max(self._interval_s, 1.0)):
                up = bool(await self._ping())
        except Exception:  # any failure to answer is "down"; the probe itself must not die
            up = False
        self._metrics.set_store_up(up, self._backend)
        if self._backlog is not None:
            self._metrics.set_writer_backlog(self._backlog())
        return up

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-health-probe")

    async def stop(self) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None
        self._stopping = True
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not task.done():
            task.cancel()  # a cancellation swallowed somewhere below: try once more, then leave it behind
            await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if task.done() and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()

    async def _run(self) -> None:
        while not self._stopping:
            await self.check_once()
            await asyncio.sleep(self._interval_s)
