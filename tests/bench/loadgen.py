"""A small async HTTP/1.1 load generator and a time-to-first-token client (used when wrk is missing).

Raw asyncio protocol + httptools response parser, keep-alive connections, one outstanding request per
connection (closed loop, like wrk). ``run_load`` drives ``connections`` loops for a duration or a number of
requests; ``measure_ttft`` sends streaming requests one at a time and times the first content token.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, cast

import httptools

T = TypeVar("T")

# First SSE event with a non-empty delta: chat ("content") or completions ("text").
_FIRST_TOKEN = re.compile(rb'"(?:content|text)":"[^"]')
# Paced load: a connection this far behind its slot skips the slots it missed (``run_load``).
LATE_TOLERANCE_S = 0.002


@dataclass
class LoadResult:
    tool: str
    connections: int
    requests: int
    errors: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    skipped: int = 0  # paced: slots skipped, the connection behind them (see ``run_load``)
    sends_max_1ms: int | None = None  # paced: the most requests sent within any 1 ms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def build_request(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``send`` resolves to (status, seconds to first token or None)."""

    def __init__(self, watch_first_token: bool) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._watch = watch_first_token
        self._waiter: asyncio.Future[tuple[int, float | None]] | None = None
        self._sent_at = 0.0
        self._first_token: float | None = None
        self._seen = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed mid-response"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_exception(ConnectionError(f"bad response: {error}"))
            assert self._transport is not None
            self._transport.close()

    def on_body(self, body: bytes) -> None:
        if self._watch and self._first_token is None:
            self._seen += body
            if _FIRST_TOKEN.search(self._seen):
                self._first_token = time.perf_counter() - self._sent_at

    def on_message_complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._parser.get_status_code(), self._first_token))
        if not self._parser.should_keep_alive() and self._transport is not None:
            self._transport.close()

    def send(self, request: bytes) -> asyncio.Future[tuple[int, float | None]]:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._first_token = None
        self._seen = b""
        self._sent_at = time.perf_counter()
        self._transport.write(request)
        return self._waiter


async def _connect(host: str, port: int, watch_first_token: bool = False) -> _Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: _Connection(watch_first_token), host, port)
    return protocol


async def run_load(
    host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    connections: int,
    duration_s: float | None = None,
    total_requests: int | None = None,
    headers: dict[str, str] | None = None,
    rate: float | None = None,
) -> LoadResult:
    """Closed-loop load: each connection sends its next request when the previous answer is complete.

    ``rate`` (requests per second, all connections together) paces it instead: each connection sends on its
    own schedule (one request every ``connections / rate`` seconds, the connections staggered) — a server kept
    under its capacity, where a late timer on its loop means work that held the loop, not requests queued ahead
    of the timer. A connection that finds itself more than ``LATE_TOLERANCE_S`` behind its slot (its previous
    answer came late, or the generator's own process was held up — it shares a core with the fake upstream)
    skips the slots it missed and keeps its phase, counted in ``skipped``: sending them at once would make every
    late connection fire together (25 requests within 1 ms after a 10 ms pause of the generator, measured), a
    burst the server then serves in one turn of its loop. ``sends_max_1ms`` says how even the arrivals were.
    (A server that stalls longer than a slot is thus offered less meanwhile: paced latencies are not a tail
    measurement; the unpaced runs give the p99.)"""
    if (duration_s is None) == (total_requests is None):
        raise ValueError("give exactly one of duration_s and total_requests")
    if rate is not None and not rate > 0:
        raise ValueError("rate must be > 0")
    request = build_request(host, port, path, body, headers)
    latencies: list[float] = []
    sends: list[float] = []
    errors = skipped = 0
    remaining = total_requests
    started = time.perf_counter()
    deadline = started + duration_s if duration_s is not None else float("inf")

    async def worker(index: int) -> None:
        nonlocal errors, remaining, skipped
        connection = await _connect(host, port)
        interval = connections / rate if rate is not None else 0.0
        scheduled = started + index * interval / connections
        while time.perf_counter() < deadline:
            if rate is not None:
                while True:  # until the slot is now (a sleep that woke too late skips too)
                    behind = time.perf_counter() - scheduled
                    if behind > LATE_TOLERANCE_S:
                        missed = int(behind // interval) + 1
                        scheduled += missed * interval
                        skipped += missed
                    pause = scheduled - time.perf_counter()
                    if pause <= 0:
                        break
                    await asyncio.sleep(pause)
                scheduled += interval
                if time.perf_counter() >= deadline:
                    return
                sends.append(time.perf_counter())
            if remaining is not None:
                if remaining <= 0:
                    return
                remaining -= 1
            if connection.closed:
                connection = await _connect(host, port)
            sent = time.perf_counter()
            try:
                status, _ = await connection.send(request)
            except ConnectionError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if status >= 400:
                errors += 1

    await asyncio.gather(*(worker(index) for index in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        tool="python",
        connections=connections,
        requests=len(latencies),
        errors=errors,
        duration_s=round(elapsed, 3),
        rps=round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=round(percentile(latencies, 0.50) * 1000, 3),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 3),
        skipped=skipped,
        sends_max_1ms=most_within(sends, 0.001) if rate is not None else None,
    )


def most_within(times: list[float], window_s: float) -> int:
    """The most of ``times`` (seconds, any order) that fall within any one window of ``window_s``."""
    ordered = sorted(times)
    most = start = 0
    for end, time_s in enumerate(ordered):
        while time_s - ordered[start] > window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


async def measure_ttft(
    host: str, port: int, path: str, body: bytes, *, requests: int, headers: dict[str, str] | None = None
) -> list[float]:
    """Seconds to the first content token of each of ``requests`` sequential streaming requests (sorted)."""
    request = build_request(host, port, path, body, headers)
    connection = await _connect(host, port, watch_first_token=True)
    ttfts: list[float] = []
    for _ in range(requests):
        if connection.closed:
            connection = await _connect(host, port, watch_first_token=True)
        status, first_token = await connection.send(request)
        if status != 200 or first_token is None:
            raise RuntimeError(f"streaming request failed or had no content token (HTTP {status})")
        ttfts.append(first_token)
    return sorted(ttfts)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one of the coroutines above to its end, on uvloop when available (the client then costs the shared
    core less)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)
