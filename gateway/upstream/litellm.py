"""Non-OpenAI providers (Anthropic, Bedrock, Vertex, ...) through LiteLLM's translation.

LiteLLM is imported on first use only (it costs ~2 s and ~180 MB); the app warms it up at start
when a configured model needs it, so no request pays the import.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway.endpoints import Endpoint
from gateway.errors import UpstreamTimeout, UpstreamUnreachable, error_body
from gateway.upstream.base import UpstreamResponse, from_bytes

_litellm: Any = None


def load_litellm() -> Any:
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import litellm

        litellm.suppress_debug_info = True
        litellm.drop_params = True
        _litellm = litellm
    return _litellm


async def warm_up() -> None:
    await asyncio.to_thread(load_litellm)


class LiteLLMUpstream:
    """A provider LiteLLM translates (Anthropic, Bedrock, Vertex, ...), answered in OpenAI's shape."""

    def __init__(
        self,
        litellm_model: str,
        *,
        api_key: str | None,
        api_base: str | None,
        timeout_s: float,
        max_retries: int,
        extra_params: Mapping[str, Any],
    ) -> None:
        self._fixed = {**extra_params, "model": litellm_model, "api_key": api_key, "timeout": timeout_s}
        self._fixed["num_retries"] = max_retries
        self._timeout_s = timeout_s
        if api_base:
            self._fixed["api_base"] = api_base

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        litellm = load_litellm()
        params = {k: v for k, v in payload.items() if k != "model"}
        params.update(self._fixed)
        try:
            # The model's `timeout` is the call's whole time, LiteLLM's retries included (a stream's events
            # are then watched by gateway.deadlines).
            async with asyncio.timeout(self._timeout_s):
                if endpoint is Endpoint.EMBEDDINGS:
                    result = await litellm.aembedding(**params)
                elif endpoint is Endpoint.COMPLETIONS:
                    result = await litellm.atext_completion(**params)
                else:
                    result = await litellm.acompletion(**params)
        except TimeoutError:
            raise UpstreamTimeout(f"after {self._timeout_s:g} s in total (the model's timeout, LiteLLM)") from None
        except Exception as exc:
            return _failure(exc)
        if stream:
            return _stream(result)
        return from_bytes(200, orjson.dumps(result.model_dump(exclude_none=True)))


def _failure(exc: Exception) -> UpstreamResponse:
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if "Timeout" in name:
        raise UpstreamTimeout("(LiteLLM)") from None
    if "APIConnectionError" in name or not isinstance(status, int):
        raise UpstreamUnreachable(f"(LiteLLM): {name}") from None
    message = str(getattr(exc, "message", "") or exc)[:500]
    kind = "invalid_request_error" if 400 <= status < 500 else "upstream_error"
    return from_bytes(status, error_body(message, kind, None, getattr(exc, "code", None)))


def _stream(result: Any) -> UpstreamResponse:
    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in result:
                yield b"data: " + orjson.dumps(chunk.model_dump(exclude_none=True)) + b"\n\n"
        except Exception as exc:
            raise UpstreamUnreachable(f"mid-stream (LiteLLM): {type(exc).__name__}") from None
        yield b"data: [DONE]\n\n"

    return UpstreamResponse(200, {"content-type": "text/event-stream"}, chunks=chunks)
