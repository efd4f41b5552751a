"""Audited factors: an effective per-model g/1k from a supplier's audited month (e.g. Scaleway's
Environmental Footprint API, seed 000), so that live figures follow the authoritative monthly aggregate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from meters.carbon.errors import CatalogueError

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True)
class AuditedFigure:
    """One model's audited month: kgCO2e and the tokens it covers (split into prompt/completion if known)."""

    kg_co2e: float
    tokens: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def per_1k(self, input_weight: float | None = None) -> tuple[float, float]:
        """(g per 1k input tokens, g per 1k output tokens) reproducing the month's total exactly.

        Without a split (or without `input_weight`) every token carries the same share:
        g/1k = kg x 1e6 / tokens. With prompt/completion counts and `input_weight` (an input token's gCO2e
        relative to an output token's, from the energy model), the total is shared so that
        kg x 1000 = g_in x prompt + g_out x completion and g_in = input_weight x g_out
        (Scaleway footprints input and output tokens separately).
        """
        grams = self.kg_co2e * 1000
        if input_weight is None or self.prompt_tokens is None or self.completion_tokens is None:
            per_token = grams / self.tokens
            return per_token * 1000, per_token * 1000
        weighted_tokens = input_weight * self.prompt_tokens + self.completion_tokens
        if weighted_tokens <= 0:
            per_token = grams / self.tokens
            return per_token * 1000, per_token * 1000
        out_per_token = grams / weighted_tokens
        return input_weight * out_per_token * 1000, out_per_token * 1000


@dataclass(frozen=True, slots=True)
class AuditedMonth:
    month: str  # "YYYY-MM"
    figures: Mapping[str, AuditedFigure]  # by catalogue id (or model name when not in the catalogue)
    source: str


def _count(month: str, model: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CatalogueError(f"audited {month}: {model!r}: {key} must be an integer >= 0, got {value!r}")
    return value


def parse_figure(month: str, model: str, value: object) -> AuditedFigure:
    """Accepts an AuditedFigure, (kg_co2e, tokens) or (kg_co2e, prompt_tokens, completion_tokens)."""
    if isinstance(value, AuditedFigure):
        kg, tokens, prompt, completion = (
            value.kg_co2e,
            value.tokens,
            value.prompt_tokens,
            value.completion_tokens,
        )
    elif isinstance(value, tuple) and len(value) == 2:
        kg, tokens, prompt, completion = value[0], value[1], None, None
    elif isinstance(value, tuple) and len(value) == 3:
        kg, prompt, completion = value
        prompt = _count(month, model, "prompt_tokens", prompt)
        completion = _count(month, model, "completion_tokens", completion)
        tokens = prompt + completion
    else:
        raise CatalogueError(
            f"audited {month}: {model!r}: expected (kg_co2e, tokens)"
            " or (kg_co2e, prompt_tokens, completion_tokens)"
        )
    if isinstance(kg, bool) or not isinstance(kg, (int, float)) or not math.isfinite(kg) or kg < 0:
        raise CatalogueError(f"audited {month}: {model!r}: kg_co2e must be a finite number >= 0, got {kg!r}")
    tokens = _count(month, model, "tokens", tokens)
    if tokens == 0:
        raise CatalogueError(f"audited {month}: {model!r}: tokens must be > 0 to derive a per-token factor")
    return AuditedFigure(float(kg), tokens, prompt, completion)


def check_month(month: object) -> str:
    if not isinstance(month, str) or not _MONTH.match(month):
        raise CatalogueError(f"audited month must be 'YYYY-MM', got {month!r}")
    return month
