"""Multipart/form-data uploads (audio) over aiohttp: the one upstream call the lean HTTP/1.1 client does not make.

Imported at the first upload (`PassthroughClient.post_form`), so a gateway that never sees one does not carry
aiohttp (~12 MB of a process's memory). Its failures leave as the passthrough's: a timeout as TimeoutError,
anything else on the wire as `FormTransportError` (a TransportError naming aiohttp's exception).
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from gateway.multipart import Part
from gateway.upstream.base import UpstreamResponse
from gateway.upstream.http1 import TransportError


class FormTransportError(TransportError):
    """aiohttp's failure on the wire, named after aiohttp's exception."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self._kind = type(exc).__name__

    @property
    def kind(self) -> str:
        return self._kind


class FormSession:
    """One pooled aiohttp session, keep-alive, bytes returned exactly as the upstream sent them."""

    def __init__(self, keepalive_s: float) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=keepalive_s)
        # auto_decompress off: bytes go back to the client exactly as the upstream sent them.
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )

    async def close(self) -> None:
        await self._session.close()

    async def post(
        self,
        url: str,
        parts: Sequence[Part],
        headers: dict[str, str],
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
    ) -> UpstreamResponse:
        """One attempt; the form is built again for each (aiohttp consumes it)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s)
        try:
            resp = await self._session.post(url, data=_form_data(parts), headers=headers, timeout=timeout)
        except aiohttp.ClientError as exc:
            raise _failure(exc) from exc

        async def read() -> bytes:
            try:
                return await resp.read()
            except aiohttp.ClientError as exc:
                raise _failure(exc) from exc
            finally:
                resp.release()

        return UpstreamResponse(resp.status, resp.headers, read=read, close=resp.close)


def _failure(exc: aiohttp.ClientError) -> Exception:
    return TimeoutError(str(exc)) if isinstance(exc, aiohttp.ServerTimeoutError) else FormTransportError(exc)


def _form_data(parts: Sequence[Part]) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    for part in parts:
        if part.filename is None:
            form.add_field(part.name, part.text)
        else:
            form.add_field(part.name, part.data, filename=part.filename, content_type=part.content_type)
    return form
