"""Test doubles that are real servers: the fake OpenAI-compatible upstream (see ``tests.fakes.upstream``).

Names are imported lazily so ``python -m tests.fakes.upstream`` does not import its own module twice.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BEHAVIOUR_HEADER": "tests.fakes.upstream",
    "FakeUpstream": "tests.fakes.upstream",
    "RecordedRequest": "tests.fakes.upstream",
    "behaviour_header": "tests.fakes.upstream",
    "Behaviour": "tests.fakes.behaviour",
    "DEFAULT_REPLY": "tests.fakes.replies",
    "fake_usage": "tests.fakes.replies",
    "ThreadedFakeUpstream": "tests.fakes.threaded",
    "spawn_fake_upstream": "tests.fakes.process",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tests.fakes' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
