"""The fake upstream on its own thread and event loop, for synchronous clients.

A sync client (the sync ``openai`` SDK, ``litellm.completion``) called from a test blocks the thread it runs
on; if the fake served on that same loop it could never answer. Here the fake runs on a daemon thread::

    with ThreadedFakeUpstream() as up:
        openai.OpenAI(base_url=up.base_url, api_key="k").chat.completions.create(...)
        up.requests[-1].body

``behave``/``reset`` only swap immutable attributes and ``requests`` is appended to under the GIL, so calling
them from the test thread is safe.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tests.fakes.upstream import FakeUpstream


class ThreadedFakeUpstream:
    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-upstream", daemon=True)
        self.upstream: FakeUpstream | None = None

    def start(self) -> FakeUpstream:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.upstream = future.result(timeout=10)
        return self.upstream

    async def _start(self) -> FakeUpstream:
        upstream = FakeUpstream(**self._options)
        await upstream.start()
        return upstream

    def stop(self) -> None:
        if self.upstream is not None:
            asyncio.run_coroutine_threadsafe(self.upstream.stop(), self._loop).result(timeout=10)
            self.upstream = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
