"""Upstream transports: raw OpenAI-compatible passthrough, LiteLLM translation, offline demo.

Each returns an `UpstreamResponse`, so the proxy meters and relays all three the same way.
"""

from gateway.upstream.base import UpstreamResponse

__all__ = ["UpstreamResponse"]
