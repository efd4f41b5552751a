"""Upstream transports: raw OpenAI-compatible passthrough, LiteLLM translation, offline demo.

Each returns an `UpstreamResponse`, so the proxy meters and relays all three the same way. The passthrough
speaks HTTP/1.1 itself (`http1.py`, with `headers.py` for the answer's headers) and multipart over aiohttp
(`forms.py`, imported at the first upload).
"""

from gateway.upstream.base import UpstreamResponse

__all__ = ["UpstreamResponse"]
