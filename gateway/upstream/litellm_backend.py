"""Non-OpenAI providers (Anthropic, Bedrock, Vertex, ...) through LiteLLM's translation.

LiteLLM is imported on first use only (it costs ~2 s and ~180 MB); the app warms it up at start
when a configured model needs it, so no request pays the import.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson

from gateway.errors import error_body
from gateway.upstream.base import UpstreamResponse, from_bytes
from gateway.upstream.passthrough import UpstreamFailure

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


async def send(
    endpoint: str,
    body: dict[str, Any],
    *,
    litellm_model: str,
    api_key: str | None,
    api_base: str | None,
    timeout_s: float,
    max_retries: int,
    extra_params: dict[str, Any],
) -> UpstreamResponse:
    litellm = load_litellm()
    params = {**extra_params, **{k: v for k, v in body.items() if k != "model"}}
    params.update(model=litellm_model, api_key=api_key, timeout=timeout_s, num_retries=max_retries)
    if api_base:
        params["api_base"] = api_base
    try:
        if endpoint == "embeddings":
            result = await litellm.aembedding(**params)
        elif endpoint == "completions":
            result = await litellm.atext_completion(**params)
        else:
            result = await litellm.acompletion(**params)
    except Exception as exc:
        return _failure(exc)
    if params.get("stream"):
        return _stream(result)
    return from_bytes(200, orjson.dumps(result.model_dump(exclude_none=True)))


def _failure(exc: Exception) -> UpstreamResponse:
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if "Timeout" in name:
        raise UpstreamFailure(504, "upstream timed out", code="upstream_timeout") from None
    if "APIConnectionError" in name or not isinstance(status, int):
        raise UpstreamFailure(502, f"upstream unreachable: {name}", code="upstream_unreachable") from None
    message = str(getattr(exc, "message", "") or exc)[:500]
    kind = "invalid_request_error" if 400 <= status < 500 else "upstream_error"
    return from_bytes(status, error_body(message, kind, None, getattr(exc, "code", None)))


def _stream(result: Any) -> UpstreamResponse:
    async def chunks():  # type: ignore[no-untyped-def]
        try:
            async for chunk in result:
                yield b"data: " + orjson.dumps(chunk.model_dump(exclude_none=True)) + b"\n\n"
        except Exception as exc:
            raise UpstreamFailure(
                502, f"upstream stream broke: {type(exc).__name__}", code="upstream_unreachable"
            ) from None
        yield b"data: [DONE]\n\n"

    return UpstreamResponse(200, {"content-type": "text/event-stream"}, chunks=chunks)
