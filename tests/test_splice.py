"""`usage.carbon` spliced into the upstream's bytes: the result is always the body with usage.carbon set."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.splice import splice_usage_carbon

CARBON = {"gco2e": 0.0123, "gco2e_min": 0.01, "gco2e_max": 0.02, "method": "coefficient", "note": "Zürich ☃"}


def expected(body: bytes) -> dict[str, Any]:
    data = orjson.loads(body)
    data["usage"]["carbon"] = CARBON
    return data


SPLICED = [
    b'{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}',
    b'{\n  "id": "x",\n  "usage": {\n    "prompt_tokens": 1,\n    "completion_tokens": 2\n  }\n}\n',
    b'{"usage":{}}',
    b'{"choices":[{"message":{"content":"\\"usage\\": {} \xe2\x98\x83 caf\xc3\xa9"}}],"usage":{"prompt_tokens":5}}',
    b'{"choices":[{"usage":{"prompt_tokens":9}}],"usage":{"prompt_tokens":1,"details":{"cached":0}}} \r\n',
    b'{"a":"ends with a backslash \\\\","usage":{"prompt_tokens":2}}',
    b'{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}',  # duplicate key: the last one wins
]

NOT_SPLICED = [
    b'{"usage":{"prompt_tokens":1},"id":"usage last? no"}',  # usage not last
    b'{"usage":{"prompt_tokens":1},"x":{"usage":{"prompt_tokens":1}}}',  # the last "usage" is nested
    b'{"usage":{"prompt_tokens":1},"note":"\\"usage\\":{\\"prompt_tokens\\":1}}"}',  # in a string
    b'{"usage":{"prompt_tokens":1,"carbon":{"old":1}}}',  # already has carbon: the full path replaces it
    b'{"usage":{"prompt_tokens":1},"y":[{"usage":{"prompt_tokens":1}}]}',
]


@pytest.mark.parametrize("body", SPLICED)
def test_spliced_body_is_the_body_with_usage_carbon(body: bytes) -> None:
    data = orjson.loads(body)
    spliced = splice_usage_carbon(body, data["usage"], CARBON)
    assert spliced is not None
    assert orjson.loads(spliced) == expected(body)
    # Everything before the insertion is the upstream's bytes, untouched.
    assert spliced.startswith(body[: body.rfind(b'"usage"')])


@pytest.mark.parametrize("body", NOT_SPLICED)
def test_bodies_where_usage_is_not_last_are_left_to_the_full_path(body: bytes) -> None:
    data = orjson.loads(body)
    assert splice_usage_carbon(body, data["usage"], CARBON) is None


def test_usage_rewritten_by_the_gateway_does_not_match_the_bytes() -> None:
    body = b'{"id":"x","usage":{"prompt_tokens":-1}}'
    assert splice_usage_carbon(body, {"prompt_tokens": 4, "completion_tokens": 0}, CARBON) is None
