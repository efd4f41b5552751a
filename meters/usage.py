"""One request's usage: what the ledger keeps and the counters add up."""

from __future__ import annotations

from dataclasses import dataclass, field

from meters.carbon.estimate import Estimate

# Where the token counts came from: the upstream's `usage` field, or the gateway's own
# count when the upstream gave none, or a client's /v1/carbon/track call.
USAGE_FROM_UPSTREAM = "upstream"
USAGE_COUNTED_BY_GATEWAY = "gateway_count"
USAGE_TRACKED = "tracked"


@dataclass(slots=True)
class UsageRecord:
    request_id: str
    timestamp: float  # unix seconds, UTC
    tenant_id: str  # "anonymous" when no tenant is configured
    model: str  # the gateway's model_name (what the client asked for, after downgrade)
    provider: str  # e.g. "scaleway", "openai", "anthropic", "demo"
    upstream_model: str
    prompt_tokens: int
    completion_tokens: int
    estimate: Estimate
    usage_source: str = USAGE_FROM_UPSTREAM
    key_id: str | None = None
    client_request_id: str | None = None  # the client's own correlation id, if it sent one
    spend: float = 0.0  # in `currency`
    currency: str = "USD"
    tags: dict[str, str] = field(default_factory=dict)
    status: int = 200
    stream: bool = False
    latency_s: float | None = None  # whole request, as the client saw it
    ttft_s: float | None = None  # time to first token (streams)
    overhead_s: float | None = None  # time the gateway itself added
    endpoint: str = "chat.completions"
    datacentre: str | None = None  # where the model's figure assumes it runs (e.g. scw-fr-par-2), if known
    # Whether `spend` counts toward the tenant's spend limits: False when priced in another currency than
    # theirs (still metered and reported under `currency`, never added to a limit in another currency).
    limit_spend: bool = True

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
