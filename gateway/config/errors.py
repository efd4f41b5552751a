"""The one error a bad config raises: which file, which key, and why."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A config the gateway refuses. `file`, `key` (dotted, e.g. `store.lease_s`) and `reason` are fields."""

    def __init__(self, file: str | Path, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}")
        self.file = str(file)
        self.key = key
        self.reason = reason
