"""What an exceeded limit does: reject (429 with a code and Retry-After), or downgrade."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import GatewayError
from meters.limits import LimitName, PolicyAction
from meters.store import Exceeded

# The 429 `code` per limit: a public contract (issue 4).
REJECTION_CODES: dict[LimitName, str] = {
    LimitName.REQUESTS_PER_MINUTE: "rate_limit_exceeded",
    LimitName.TOKENS_PER_MINUTE: "token_quota_exceeded",
    LimitName.TOKENS_PER_DAY: "token_quota_exceeded",
    LimitName.TOKENS_PER_MONTH: "token_quota_exceeded",
    LimitName.SPEND_PER_MONTH: "budget_exceeded",
    LimitName.GCO2E_PER_MONTH: "carbon_budget_exceeded",
}

_UNITS: dict[LimitName, str] = {
    LimitName.REQUESTS_PER_MINUTE: "requests this minute",
    LimitName.TOKENS_PER_MINUTE: "tokens this minute",
    LimitName.TOKENS_PER_DAY: "tokens today (UTC)",
    LimitName.TOKENS_PER_MONTH: "tokens this month (UTC)",
    LimitName.SPEND_PER_MONTH: "spend this month (UTC)",
    LimitName.GCO2E_PER_MONTH: "gCO2e this month (UTC)",
}


def _unit(limit: LimitName, spend_currency: str | None) -> str:
    if limit is LimitName.SPEND_PER_MONTH and spend_currency:
        return f"{spend_currency} spent this month (UTC)"
    return _UNITS[limit]


def downgrade_target(blocked: Sequence[Exceeded]) -> str | None:
    """The model to serve instead, when every blocking limit asks for the same downgrade."""
    targets = {b.policy.model for b in blocked if b.policy.action is PolicyAction.DOWNGRADE}
    if len(targets) != 1 or any(b.policy.action is not PolicyAction.DOWNGRADE for b in blocked):
        return None
    return targets.pop()


def rejection(
    tenant_id: str, blocked: Sequence[Exceeded], headers: dict[str, str], *, spend_currency: str | None = None
) -> GatewayError:
    """429 for the rejecting limit that clears last (Retry-After: when the request could pass).

    A limit whose policy is downgrade does not decide the code: once the rejecting ones clear,
    the request is served, on the lower-carbon model.
    """
    hard = [b for b in blocked if b.policy.action is PolicyAction.REJECT] or blocked
    worst = max(hard, key=lambda b: b.retry_after_s)
    details = "; ".join(
        f"{b.limit.value}: {b.current:.6g} of {b.limit_value:.6g} {_unit(b.limit, spend_currency)} used or reserved"
        f" ({b.scope})"
        for b in blocked
    )
    message = (
        f"Tenant '{tenant_id}' is over a limit, {details}. Retry after {worst.retry_after_s} s, "
        "or ask for a higher limit."
    )
    return GatewayError(
        429,
        message,
        code=REJECTION_CODES[worst.limit],
        type="rate_limit_error",
        headers={**headers, "retry-after": str(worst.retry_after_s)},
    )
