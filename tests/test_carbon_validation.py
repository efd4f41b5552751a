"""validate_token_count: the pure validator behind /v1/carbon/estimate and /v1/carbon/track bodies."""

from __future__ import annotations

import pytest

from meters.carbon import MAX_TOKEN_COUNT, validate_token_count


@pytest.mark.parametrize("value", [0, 1, 400, MAX_TOKEN_COUNT])
def test_accepts_integer_counts(value: int) -> None:
    assert validate_token_count("prompt_tokens", value) == value


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (None, "required"),
        (-1, ">= 0"),
        (1.0, "integer"),
        (2.5, "integer"),
        ("12", "integer"),
        (True, "integer"),
        (False, "integer"),
        ([3], "integer"),
        (MAX_TOKEN_COUNT + 1, "<="),
        (10**30, "<="),
    ],
)
def test_rejects_with_a_message_naming_the_param(value: object, needle: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_token_count("completion_tokens", value)
    assert "completion_tokens" in str(caught.value)
    assert needle in str(caught.value)
