"""Secrets the gateway holds (upstream API keys from the config or the environment) never go back to a client:
an upstream that echoes its key in an error message has it replaced by `[redacted]` before the message is
relayed."""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8  # shorter values ("k", "none") would redact ordinary words


class Redactor:
    def __init__(self, secrets: Iterable[str | None]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text
