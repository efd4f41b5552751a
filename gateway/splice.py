"""`usage.carbon` spliced into the upstream's body bytes instead of re-serialising the whole body.

OpenAI-compatible servers put `usage` last; then the carbon object is inserted just before the `}` that
closes `usage`, and every other byte stays as the upstream sent it. The splice is taken only when it is
provably right: the last `"usage"` in the body is an unescaped key whose member, parsed on its own, closes
the top-level object and equals the parsed `usage`. Anything else (usage elsewhere, rewritten by the
gateway, already holding a `carbon`) returns None and the caller re-serialises as before.
"""

from __future__ import annotations

from typing import Any

import orjson

_USAGE_KEY = b'"usage"'
_BACKSLASH = 0x5C


def splice_usage_carbon(body: bytes, usage: dict[str, Any], carbon: dict[str, Any]) -> bytes | None:
    """`body` with `"carbon": carbon` added as the last member of its top-level `usage`, or None."""
    if "carbon" in usage:
        return None  # replacing a member is not an insertion: leave it to the full path
    at = body.rfind(_USAGE_KEY)
    if at <= 0:
        return None
    backslashes = 0
    while at - backslashes - 1 >= 0 and body[at - backslashes - 1] == _BACKSLASH:
        backslashes += 1
    if backslashes % 2:
        return None  # an escaped quote inside a string
    end = len(body.rstrip())
    if body[end - 1 : end] != b"}":
        return None
    close = len(body[: end - 1].rstrip())  # just past the `}` that should close `usage`
    if body[close - 1 : close] != b"}":
        return None
    try:
        member = orjson.loads(b"{" + body[at:end])
    except orjson.JSONDecodeError:
        return None
    if member != {"usage": usage}:
        return None
    separator = b"," if usage else b""
    return b"".join((body[: close - 1], separator, b'"carbon":', orjson.dumps(carbon), body[close - 1 :]))
