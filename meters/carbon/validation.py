"""Validation of token counts in /v1/carbon/estimate and /v1/carbon/track bodies (pure, HTTP-free)."""

from __future__ import annotations

# Far above any context window in 2026 (the largest are a few million tokens): a bigger count is a client bug,
# and would otherwise book an absurd amount of carbon to a tenant.
MAX_TOKEN_COUNT = 10_000_000


def validate_token_count(name: str, value: object) -> int:
    """Return `value` as a token count, or raise ValueError whose message names `name`.

    Accepts ints 0..MAX_TOKEN_COUNT. Rejects a missing value (None), bools, floats (even 3.0), strings,
    negatives and counts above MAX_TOKEN_COUNT.
    """
    if value is None:
        raise ValueError(f"'{name}' is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"'{name}' must be >= 0, got {value}")
    if value > MAX_TOKEN_COUNT:
        raise ValueError(f"'{name}' must be <= {MAX_TOKEN_COUNT}, got {value}")
    return value
