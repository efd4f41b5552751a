"""Raw-bytes passthrough to OpenAI-compatible upstreams over pooled keep-alive connections.

JSON requests go over `gateway.upstream.http1` (a lean HTTP/1.1 client: ~18 µs of CPU per request on this
machine against aiohttp's 85-110 µs, and httpx's several times that); multipart uploads over aiohttp
(`gateway.upstream.forms`, imported at the first upload).
Retries with backoff on connect errors, 429 and 5xx, before any byte reaches the client.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from gateway.endpoints import Endpoint
from gateway.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from gateway.multipart import Part
from gateway.upstream.base import UpstreamResponse
from gateway.upstream.http1 import Http1Client, Http1Response, TransportError
from gateway.watchdog import deadline_at

if TYPE_CHECKING:
    from gateway.upstream.forms import FormSession

log = logging.getLogger("carbon_gateway.upstream")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
WIRE_ERRORS = (TimeoutError, TransportError)
KEEPALIVE_S = 60.0
_MAX_RETRY_AFTER_S = 10.0


class PassthroughClient:
    """The pooled HTTP clients every passthrough model shares (closed in the app's lifespan): JSON requests on the
    lean HTTP/1.1 client (`gateway.upstream.http1`), multipart uploads on aiohttp (opened at the first one)."""

    def __init__(self, *, backoff_s: float = 0.2) -> None:
        self._forms: FormSession | None = None
        self._http1 = Http1Client(keepalive_s=KEEPALIVE_S)
        self._backoff_s = backoff_s

    async def close(self) -> None:
        await self._http1.close()
        if self._forms is not None:
            await self._forms.close()
            self._forms = None

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        api_key: str | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_retries: int,
        total_timeout_s: float,
        stream: bool = False,
    ) -> UpstreamResponse:
        """POST `body`, retrying. A non-stream call ends within `total_timeout_s`, every attempt, retry, upload
        and the answer's body included; a stream's answer must start within it (then `gateway.deadlines`
        watches the events), and its reads wait at most `read_timeout_s` each."""
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"

        async def attempt(deadline: float) -> UpstreamResponse:
            resp = await self._http1.post(
                url,
                body,
                headers,
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=read_timeout_s,
                stream=stream,
            )
            return _wrap(resp, None if stream else deadline, total_timeout_s)

        return await self._send(attempt, max_retries, total_timeout_s)

    async def post_form(
        self,
        url: str,
        parts: Sequence[Part],
        *,
        api_key: str | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_retries: int,
        total_timeout_s: float,
    ) -> UpstreamResponse:
        """A multipart/form-data POST (audio uploads), the parts sent as the client sent them; the same
        retries and deadline as `post`."""
        if self._forms is None:
            # aiohttp takes ~85 ms to import: in a thread, so the loop serves on meanwhile.
            module = await asyncio.to_thread(importlib.import_module, "gateway.upstream.forms")
            if self._forms is None:  # another upload's import may have finished first
                self._forms = module.FormSession(KEEPALIVE_S)
        forms = self._forms
        headers = {"accept-encoding": "identity"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"

        async def attempt(deadline: float) -> UpstreamResponse:
            resp = await forms.post(
                url, parts, headers, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s
            )
            return _within(resp, deadline, total_timeout_s)

        return await self._send(attempt, max_retries, total_timeout_s)

    async def _send(
        self,
        attempt: Callable[[float], Awaitable[UpstreamResponse]],
        max_retries: int,
        total_timeout_s: float,
    ) -> UpstreamResponse:
        """`attempt(deadline)` until it answers with a status not worth retrying, or retries run out."""
        deadline = asyncio.get_running_loop().time() + total_timeout_s
        tried = 0
        try:
            with deadline_at(deadline):
                while True:
                    try:
                        resp = await attempt(deadline)
                    except WIRE_ERRORS as exc:
                        if tried < max_retries:
                            tried += 1
                            await asyncio.sleep(self._delay(tried, None))
                            continue
                        raise transport_failure(exc, f"after {tried + 1} attempt(s)") from None
                    if resp.status in RETRYABLE_STATUS and tried < max_retries:
                        retry_after = resp.headers.get("retry-after")
                        resp.close()
                        tried += 1
                        await asyncio.sleep(self._delay(tried, retry_after))
                        continue
                    return resp
        except TimeoutError:
            raise _overall(total_timeout_s) from None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), _MAX_RETRY_AFTER_S)
            except ValueError:
                pass
        base: float = self._backoff_s * (2 ** (attempt - 1))
        return base * (0.5 + random.random())  # jitter spreads retries of concurrent requests


def _overall(total_timeout_s: float) -> UpstreamTimeout:
    return UpstreamTimeout(f"after {total_timeout_s:g} s in total (the model's timeout)")


def transport_failure(exc: BaseException, when: str) -> UpstreamError:
    """A timeout is a 504, anything else on the wire a 502; both may fall back to another model. The client sees
    the failure's kind; the log has its detail (a refused connection, an untrusted certificate...)."""
    kind = exc.kind if isinstance(exc, TransportError) else type(exc).__name__
    log.warning("upstream failure %s: %s: %s", when, kind, exc)
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(when)
    return UpstreamUnreachable(f"{when}: {kind}")


class PassthroughUpstream:
    """An OpenAI-compatible upstream: the client's JSON forwarded as bytes, only `model` rewritten."""

    def __init__(
        self,
        client: PassthroughClient,
        api_base: str,
        *,
        api_key: str | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        stream_idle_s: float,
        max_retries: int,
    ) -> None:
        self._client = client
        self._api_base = api_base
        self._api_key = api_key
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._stream_idle_s = stream_idle_s
        self._max_retries = max_retries

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        return await self._client.post(
            f"{self._api_base}{endpoint.path}",
            orjson.dumps(payload),
            api_key=self._api_key,
            connect_timeout_s=self._connect_timeout_s,
            read_timeout_s=self._stream_idle_s if stream else self._read_timeout_s,
            max_retries=self._max_retries,
            total_timeout_s=self._read_timeout_s,
            stream=stream,
        )

    async def send_form(self, endpoint: Endpoint, parts: Sequence[Part]) -> UpstreamResponse:
        """A multipart request (`parts` with `model` already rewritten) to the endpoint's path."""
        return await self._client.post_form(
            f"{self._api_base}{endpoint.path}",
            parts,
            api_key=self._api_key,
            connect_timeout_s=self._connect_timeout_s,
            read_timeout_s=self._read_timeout_s,
            max_retries=self._max_retries,
            total_timeout_s=self._read_timeout_s,
        )


def _wrap(resp: Http1Response, deadline: float | None, total_timeout_s: float) -> UpstreamResponse:
    async def read() -> bytes:
        return await _read_within(resp.read, deadline, total_timeout_s)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.chunks():
                yield chunk
        except WIRE_ERRORS as exc:
            raise transport_failure(exc, "mid-stream") from None

    return UpstreamResponse(resp.status, resp.headers, read=read, chunks=chunks, close=resp.close)


def _within(resp: UpstreamResponse, deadline: float, total_timeout_s: float) -> UpstreamResponse:
    """An upload's answer, read by the call's deadline."""
    body = resp.read

    async def read() -> bytes:
        return await _read_within(body, deadline, total_timeout_s)

    return UpstreamResponse(resp.status, resp.headers, read=read, close=resp.close)


async def _read_within(
    read: Callable[[], Awaitable[bytes]], deadline: float | None, total_timeout_s: float
) -> bytes:
    """The whole answer, by the call's deadline when it has one (a stream's has none); failures as the error tree."""
    try:
        if deadline is None:
            return await read()
        try:
            with deadline_at(deadline):
                return await read()
        except TimeoutError:
            raise _overall(total_timeout_s) from None
    except WIRE_ERRORS as exc:
        raise transport_failure(exc, "while sending its response") from None
