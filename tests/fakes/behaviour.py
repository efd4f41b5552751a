"""How the fake upstream misbehaves: one persistent setting plus per-request overrides.

A ``Behaviour`` is immutable. ``FailureCounter`` counts failures already served, per behaviour source, so
"fail N times, then succeed" works both for the persistent setting and for overrides sent with each
request (a retrying gateway resends the same override, and the count carries across the retries).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tests.fakes.replies import DEFAULT_REPLY


@dataclass(frozen=True)
class Behaviour:
    fail_status: int | None = None
    """Answer with this HTTP status and an OpenAI-shaped error body instead of a reply."""
    fail_times: int | None = None
    """How many requests fail before the fake succeeds again; None = every request."""
    stall_s: float = 0.0
    """Sleep before answering (success or failure), to exercise timeouts."""
    omit_usage: bool = False
    """Leave ``usage`` out of JSON replies and the usage chunk out of streams."""
    error_body: dict[str, Any] | None = None
    """Error body to send instead of the default OpenAI-shaped one."""
    stream_chunk_delay_s: float = 0.0
    """Sleep between SSE events (also before the first one), to make a slow stream."""
    reply_text: str = DEFAULT_REPLY
    """Text of the reply; ``completion_tokens`` is its word count."""
    close_mid_stream: bool = False
    """Close the connection halfway through the answer (after the first content chunk for streams)."""
    key: str | None = None
    """Only for overrides: tells identical overrides apart so their failure counts are separate."""

    @classmethod
    def from_mapping(cls, raw: Any) -> Behaviour:
        """Validate a JSON object (header, body field or control endpoint) into a Behaviour."""
        if not isinstance(raw, dict):
            raise ValueError("behaviour must be a JSON object")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown behaviour keys: {', '.join(unknown)}")
        behaviour = cls(**raw)
        behaviour.validate()
        # JSON may say 2 for 2.0; the server tells sleeps from writes by their float type.
        return dataclasses.replace(
            behaviour,
            stall_s=float(behaviour.stall_s),
            stream_chunk_delay_s=float(behaviour.stream_chunk_delay_s),
        )

    def validate(self) -> None:
        """Raise ValueError naming the first field that is out of range or of the wrong type."""
        if self.fail_status is not None and not (
            isinstance(self.fail_status, int) and 100 <= self.fail_status <= 599
        ):
            raise ValueError("fail_status must be an HTTP status code")
        if self.fail_times is not None and (not isinstance(self.fail_times, int) or self.fail_times < 0):
            raise ValueError("fail_times must be a non-negative integer or null")
        for name in ("stall_s", "stream_chunk_delay_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
        if not isinstance(self.reply_text, str):
            raise ValueError("reply_text must be a string")
        if self.error_body is not None and not isinstance(self.error_body, dict):
            raise ValueError("error_body must be a JSON object")


NORMAL = Behaviour()


class FailureCounter:
    """Failures served so far, keyed by where the behaviour came from."""

    def __init__(self) -> None:
        self._served: dict[object, int] = {}

    def should_fail(self, source: object, behaviour: Behaviour) -> bool:
        """Decide for one request, and count it if it fails."""
        if behaviour.fail_status is None:
            return False
        served = self._served.get(source, 0)
        if behaviour.fail_times is not None and served >= behaviour.fail_times:
            return False
        self._served[source] = served + 1
        return True

    def clear(self) -> None:
        self._served.clear()
