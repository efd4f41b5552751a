"""`model_list` (LiteLLM's shape) and `router_settings.fallbacks`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.config.reader import Block
from meters.errors import near_miss

ENTRY_KEYS = frozenset({"model_name", "litellm_params", "carbon", "model_info"})
# What the gateway itself reads from `litellm_params`.
TRANSPORT_KEYS = frozenset(
    {"model", "api_base", "api_key", "timeout", "connect_timeout", "stream_timeout", "max_retries"}
)
# LiteLLM's own parameters, passed through to non-OpenAI providers (litellm 1.106.2 `completion()` and
# `embedding()` signatures, plus the provider credentials its docs name). Any other key is passed through
# too, unless it is a near-miss of a known one (`max_retires`), which is refused with a hint.
LITELLM_KEYS = frozenset(
    {
        "api_type", "api_version", "audio", "base_url", "caching", "custom_llm_provider", "deployment_id",
        "dimensions", "encoding_format", "extra_headers", "frequency_penalty", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "modalities", "n", "parallel_tool_calls", "presence_penalty",
        "reasoning_effort", "response_format", "seed", "service_tier", "stop", "temperature", "thinking",
        "tool_choice", "tools", "top_logprobs", "top_p", "user", "organization", "num_retries", "rpm", "tpm",
        "region_name", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name",
        "aws_profile_name", "vertex_project", "vertex_location", "vertex_credentials", "azure_ad_token",
        "tenant_id", "client_id", "client_secret", "input_cost_per_token", "output_cost_per_token",
    }
)  # fmt: skip
T = TypeVar("T", float, None)
PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token")
MODEL_INFO_KEYS = frozenset({*PRICE_KEYS, "currency"})
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_MAX_RETRIES = 2


@dataclass(frozen=True)
class ModelEntry:
    """One configured model, as the config says it (LiteLLM resolves the rest: see gateway.providers)."""

    model_name: str
    model: str  # litellm_params.model, e.g. "scaleway/llama-3.1-8b-instruct"
    api_base: str | None = None
    api_key: str | None = None  # resolved value
    api_key_env: str | None = None  # the VAR of `os.environ/VAR`, for messages
    timeout_s: float = DEFAULT_TIMEOUT_S  # a non-stream call's whole time (each model tried), and its read timeout
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    stream_timeout_s: float | None = None  # a stream's longest wait between two events (None: timeout_s)
    carbon: Mapping[str, Any] | None = None  # the entry's `carbon:` block, for meters.carbon
    input_cost_per_token: float | None = None  # model_info prices override LiteLLM's
    output_cost_per_token: float | None = None
    currency: str | None = None  # of the model_info prices (LiteLLM's are USD)
    extra_params: Mapping[str, Any] = field(default_factory=dict)  # other litellm_params, for LiteLLM

    @property
    def stream_idle_s(self) -> float:
        return self.stream_timeout_s if self.stream_timeout_s is not None else self.timeout_s


def parse_models(top: Block) -> tuple[ModelEntry, ...]:
    value = top.get("model_list")
    if not isinstance(value, list) or not value:
        raise top.fail("model_list", "must be a non-empty list of models")
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        entry = Block(top.file, f"model_list[{i}]", item, ENTRY_KEYS)
        name = entry.get("model_name")
        if not isinstance(name, str) or not name.strip():
            raise entry.fail("model_name", "must be a non-empty string")
        entry = Block(top.file, f"model_list[{i}] ({name})", item, None)
        if name in seen:
            raise entry.fail("model_name", "is configured twice")
        seen.add(name)
        entries.append(_parse_entry(name, entry))
    return tuple(entries)


def _parse_entry(name: str, entry: Block) -> ModelEntry:
    if not isinstance(entry.get("litellm_params"), Mapping):
        raise entry.fail("litellm_params", "must be a mapping with at least `model`")
    params = entry.block("litellm_params", None)
    for param in params.raw:
        known = param in TRANSPORT_KEYS or param in LITELLM_KEYS
        typo = None if known else near_miss(str(param), TRANSPORT_KEYS)
        if typo is not None:
            raise params.fail(str(param), f"unknown key (did you mean {typo!r}?)")
    model = params.get("model")
    if not isinstance(model, str) or not model.strip():
        raise params.fail("model", "must be a non-empty string")
    key = params.secret("api_key")
    if key.value is not None and not (key.value.isascii() and key.value.isprintable()):
        where = f" (from the environment variable {key.var}: a stray newline?)" if key.var else ""
        raise params.fail("api_key", f"must be printable ASCII, without line breaks or control characters{where}")
    carbon = entry.get("carbon")
    if carbon is not None and not isinstance(carbon, Mapping):
        raise entry.fail("carbon", "must be a mapping")
    info = entry.block("model_info", MODEL_INFO_KEYS)
    prices = {k: _price(info, k) for k in PRICE_KEYS}
    currency = info.text("currency")
    return ModelEntry(
        model_name=name,
        model=model,
        # Credentials in it would never be sent (the upstream client authenticates with api_key), and would be a
        # secret everywhere the URL is shown.
        api_base=params.url("api_base", credentials="api_key (the upstream's key)"),
        api_key=key.value,
        api_key_env=key.var,
        timeout_s=_seconds(params, "timeout", DEFAULT_TIMEOUT_S),
        connect_timeout_s=_seconds(params, "connect_timeout", DEFAULT_CONNECT_TIMEOUT_S),
        max_retries=params.integer("max_retries", DEFAULT_MAX_RETRIES, low=0, high=10),
        stream_timeout_s=_seconds(params, "stream_timeout", None),
        carbon=carbon,
        input_cost_per_token=prices["input_cost_per_token"],
        output_cost_per_token=prices["output_cost_per_token"],
        currency=currency.upper() if currency else None,
        extra_params={k: v for k, v in params.raw.items() if k not in TRANSPORT_KEYS},
    )


def _seconds(params: Block, key: str, default: T) -> float | T:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise params.fail(key, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def _price(info: Block, key: str) -> float | None:
    value = info.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise info.fail(key, f"must be a number >= 0 (a price per token), got {value!r}")
    return float(value)


def parse_fallbacks(top: Block, names: set[str]) -> dict[str, tuple[str, ...]]:
    """LiteLLM's shape: `fallbacks: [{"model-a": ["model-b", "model-c"]}]`."""
    router = top.block("router_settings", {"fallbacks"})
    value = router.get("fallbacks")
    if value is None:
        return {}
    if not isinstance(value, list):
        raise router.fail("fallbacks", "must be a list of {model: [fallback, ...]}")
    result: dict[str, tuple[str, ...]] = {}
    for i, item in enumerate(value):
        where = f"fallbacks[{i}]"
        if not isinstance(item, Mapping):
            raise router.fail(where, "must be a mapping {model: [fallback, ...]}")
        for source, targets in item.items():
            if source not in names:
                raise router.fail(f"{where}.{source}", "is not a configured model_name")
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise router.fail(f"{where}.{source}", "must be a list of model names")
            for target in targets:
                if target not in names:
                    raise router.fail(f"{where}.{source}", f"fallback {target!r} is not a configured model_name")
            result[str(source)] = tuple(targets)
    return result
