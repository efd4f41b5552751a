"""Issue 10 items 2 and 5: bad input is a 4xx naming the `param` (upstream nonsense a 502), never a 500, in
OpenAI's error shape; integers a client sets are bounded, so no reservation can wrap a store's counters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.hardening.support import AUTH, BACKENDS, outstanding, settled, tenant_edge
from tests.support.inprocess import SCRIPTED, ScriptedUpstream, edge

HI = [{"role": "user", "content": "hi"}]


def nested(depth: int, leaf: Any = "x") -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def deep_body(depth: int, where: str) -> bytes:
    """A chat body whose `where` (`x` at the top, or the message's `content`) nests `depth` lists (too deep for
    orjson or json to write)."""
    value = b"[" * depth + b'"x"' + b"]" * depth
    if where == "x":
        return b'{"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "x": ' + value + b"}"
    return b'{"model": "scripted", "messages": [{"role": "user", "content": ' + value + b"}]}"


def shaped(response: Any, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and isinstance(error["message"], str)
    assert error["param"] == param
    return dict(error)


CLIENT_CASES = [
    # (route, body, param): each was a 500 or was served with a value that broke the store
    ("chat/completions", deep_body(300, "x"), None),  # orjson's recursion limit when forwarded
    ("chat/completions", deep_body(1000, "content"), None),  # RecursionError when sized
    ("chat/completions", {"model": "demo", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages[0].content[0].text"),
    ("chat/completions", {"model": SCRIPTED, "messages": [{"role": "user", "content": [{"text": {"a": 1}}]}]},
     "messages[0].content[0].text"),
    ("embeddings", {"model": "demo", "input": ["a", 1]}, "input[1]"),
    ("completions", {"model": "demo", "prompt": [[1, "a"]]}, "prompt[0]"),
    ("chat/completions", {"model": "demo", "messages": HI, "max_tokens": 9223372036854775807}, "max_tokens"),
    ("chat/completions", {"model": "demo", "messages": HI, "max_completion_tokens": 10**9}, "max_completion_tokens"),
    ("chat/completions", {"model": "demo", "messages": HI, "max_tokens": 2**64}, "max_tokens"),
    ("chat/completions", {"model": "demo", "messages": HI, "n": 10**12}, "n"),
    ("chat/completions", {"model": "demo", "messages": HI, "n": 0}, "n"),
    ("embeddings", {"model": "demo", "input": "a", "dimensions": -1}, "dimensions"),
    ("completions", {"model": "demo", "prompt": "a", "best_of": 2**40}, "best_of"),
    ("chat/completions", {"model": "demo", "messages": HI, "top_logprobs": 21}, "top_logprobs"),
    ("responses", {"model": "demo", "input": "a", "max_output_tokens": 2**62}, "max_output_tokens"),
]


@pytest.mark.parametrize(
    ("route", "body", "param"), CLIENT_CASES, ids=[f"{i}-{case[0]}-{case[2]}" for i, case in enumerate(CLIENT_CASES)]
)
async def test_bad_client_input_is_a_400_naming_the_param(tmp_path: Path, route: str, body: Any, param: str) -> None:
    async with edge(tmp_path, ScriptedUpstream(body=b'{"choices": []}')) as (client, _):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await client.post(f"/v1/{route}", content=content)
        shaped(response, 400, param)


async def test_a_body_nested_at_the_limit_is_served_and_one_more_level_is_refused(tmp_path: Path) -> None:
    async with edge(tmp_path) as (client, _):
        # The body object is level 1, `x` level 2: 63 more lists reach the limit of 64.
        ok = await client.post("/v1/chat/completions", json={"model": "demo", "messages": HI, "x": nested(63)})
        deep = await client.post("/v1/chat/completions", json={"model": "demo", "messages": HI, "x": nested(64)})
        estimate = await client.post("/v1/carbon/estimate", content=orjson.dumps({"model": "demo", "x": nested(100)}))
    assert ok.status_code == 200, ok.text
    assert shaped(deep, 400)["code"] == "nesting_too_deep"
    assert shaped(estimate, 400)["code"] == "nesting_too_deep"


@pytest.mark.parametrize(
    "answer", [b'{"choices": [1]}', b'{"choices": "abc"}', b'{"choices": [{"message": "str"}]}', b"[1, 2]", b'"x"']
)
async def test_upstream_nonsense_is_a_502(tmp_path: Path, answer: bytes) -> None:
    async with edge(tmp_path, ScriptedUpstream(body=answer)) as (client, _):
        response = await client.post("/v1/chat/completions", json={"model": SCRIPTED, "messages": HI})
    assert shaped(response, 502)["code"] == "upstream_bad_response"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_huge_max_tokens_is_refused_and_leaves_the_tenant_its_limits(tmp_path: Path, backend: str) -> None:
    """On Redis a max_tokens of 2^63 - 1 wrapped the tenant's hold counters and disabled its limits for good;
    on SQLite it was a 500."""
    answer = b'{"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 5}}'
    async with tenant_edge(tmp_path, backend, ScriptedUpstream(body=answer), tokens_per_day=100) as (client, gw):
        huge = {"model": SCRIPTED, "messages": HI, "max_tokens": 9223372036854775807}
        shaped(await client.post("/v1/chat/completions", json=huge, headers=AUTH), 400, "max_tokens")
        served = 0
        for _ in range(15):
            response = await client.post(
                "/v1/chat/completions", json={"model": SCRIPTED, "messages": HI, "max_tokens": 5}, headers=AUTH
            )
            if response.status_code != 200:
                assert response.status_code == 429
                break
            served += 1
            await settled(gw)
        # 10 tokens each against 100 a day (the last ones refused on their reservation): the limit still holds.
        assert 8 <= served <= 10 and response.status_code == 429
        assert await outstanding(gw) == 0


ADMIN_CASES = [
    ("POST", "/admin/tenants", {"id": {"a": [1]}}, "tenant.id"),
    ("POST", "/admin/tenants", {"id": "t1", "limits": {"tokens_per_day": {"a": [1]}}}, "tenant.limits.tokens_per_day"),
    ("POST", "/admin/tenants", {"id": "t1", "limits": [[1]]}, "tenant.limits"),
    ("PATCH", "/admin/tenants/t0", {"models": [1]}, "tenant.models"),  # was a 500 (found by the fuzz suite)
    ("PATCH", "/admin/tenants/t0", {"limits": {"tokens_per_day": [{"a": 1}]}}, "tenant.limits.tokens_per_day"),
]


@pytest.mark.parametrize(("method", "path", "body", "param"), ADMIN_CASES)
async def test_nested_admin_input_is_a_400(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, path: str, body: Any, param: str
) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", "adm-key-0123")
    admin = {"authorization": "Bearer adm-key-0123"}
    async with edge(tmp_path) as (client, _):
        created = await client.post("/admin/tenants", json={"id": "t0"}, headers=admin)
        assert created.status_code == 201, created.text
        response = await client.request(method, path, content=orjson.dumps(body), headers=admin)
    shaped(response, 400, param)
