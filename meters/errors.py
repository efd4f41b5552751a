"""The domain's one error for bad input: which field, and why (callers turn it into a 400 or a config error)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FieldError(ValueError):
    """A value that cannot be accepted. `key` is the dotted path of the field (e.g. `limits.gco2e_per_month`)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def unknown_key_reason(key: str, known: Iterable[str], noun: str = "key") -> str:
    """`unknown key (did you mean 'max_retries'?)`, or the list of known keys when nothing is close."""
    choices = sorted(known)
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.75)
    if close:
        return f"unknown {noun} (did you mean {close[0]!r}?)"
    return f"unknown {noun} (expected one of {', '.join(choices)})"


def near_miss(key: str, known: Iterable[str]) -> str | None:
    """The known key `key` is most likely a typo of, if any (`max_retires` → `max_retries`)."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.85)
    return close[0] if close and close[0] != key else None
