"""The edge in-process (Starlette app through httpx.ASGITransport, a scripted upstream): the SSE relay's
parsing, request validation, reservation sizing and limit policies, without sockets."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.endpoints import Endpoint
from gateway.tenancy.policies import downgrade_target, rejection
from gateway.tenancy.sizing import completion_tokens, reservation_amounts
from gateway.tokens import estimate_prompt
from meters.limits import LimitName, Policy, PolicyAction
from meters.store import Exceeded
from tests.support.inprocess import SCRIPTED, ScriptedUpstream, edge

CHAT = {"model": SCRIPTED, "messages": [{"role": "user", "content": "Hello there"}]}


def chunk(delta: str, *, usage: object = "absent") -> bytes:
    body: dict[str, object] = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": delta}}]}
    if usage != "absent":
        body["usage"] = usage
    return b"data: " + orjson.dumps(body)


USAGE_CHUNK = b'data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}'


def events(text: str) -> list[str]:
    return [event for event in text.split("\n\n") if event]


async def stream(tmp_path: Path, chunks: list[bytes], **body: object) -> list[str]:
    upstream = ScriptedUpstream(chunks=chunks)
    async with edge(tmp_path, upstream) as (client, _):
        response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True, **body})
        assert response.status_code == 200, response.text
        assert upstream.payloads[0]["stream_options"] == {"include_usage": True}  # always asked upstream
        return events(response.text)


async def test_events_split_across_chunks_and_crlf_are_relayed_whole(tmp_path: Path) -> None:
    sse = b"\r\n\r\n".join([chunk("Hel"), chunk("lo"), USAGE_CHUNK, b"data: [DONE]"]) + b"\r\n\r\n"
    pieces = [sse[i : i + 7] for i in range(0, len(sse), 7)]  # every event cut mid-way, CR and LF apart
    relayed = await stream(tmp_path, pieces)
    contents = [orjson.loads(e[6:])["choices"][0]["delta"]["content"] for e in relayed if e.startswith("data: {")]
    assert contents == ["Hel", "lo"]
    assert relayed[-2].startswith(": x-carbon ") and relayed[-1] == "data: [DONE]"
    carbon = orjson.loads(relayed[-2][len(": x-carbon ") :])
    assert carbon["usage_source"] == "upstream" and carbon["gco2e"] == pytest.approx(11 / 1000)


async def test_done_without_a_space_and_usage_null_on_every_chunk(tmp_path: Path) -> None:
    chunks = [chunk("Hi", usage=None) + b"\n\n", USAGE_CHUNK + b"\n\n", b"data:[DONE]\n\n"]
    relayed = await stream(tmp_path, chunks)
    first = orjson.loads(relayed[0][6:])
    assert "usage" not in first  # the client did not ask for usage: OpenAI's `"usage": null` goes too
    assert relayed[-1] == "data:[DONE]" and relayed[-2].startswith(": x-carbon ")


async def test_usage_null_is_taken_out_in_every_form_and_nothing_else_is(tmp_path: Path) -> None:
    """The relay cuts OpenAI's compact `"usage":null` out of the bytes; other spellings, a nested "usage" or a
    text that says "usage":null are re-serialised or left as they are, never mangled."""
    said = b'say \\"usage\\":null'  # in JSON: the text `say "usage":null`
    chunks = [
        b'data: {"usage":null,"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"}}]}',
        b'data: {"object":"chat.completion.chunk","usage": null,"choices":[{"index":0,"delta":{"content":"b"}}]}',
        b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"c","usage":null}}],'
        b'"usage":null}',
        b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"'
        + said
        + b'"}}],"usage":null}',
        b'data: {"usage":null}',
    ]
    relayed = await stream(tmp_path, [c + b"\n\n" for c in chunks] + [USAGE_CHUNK + b"\n\n", b"data: [DONE]\n\n"])
    objects = [orjson.loads(e[6:]) for e in relayed[:5]]
    assert all("usage" not in o for o in objects)
    deltas = [o["choices"][0]["delta"] if o.get("choices") else None for o in objects]
    assert deltas[:3] == [{"content": "a"}, {"content": "b"}, {"content": "c", "usage": None}]
    assert deltas[3] == {"content": 'say "usage":null'}
    assert objects[4] == {}


async def test_a_client_that_asks_for_usage_gets_carbon_in_the_usage_chunk(tmp_path: Path) -> None:
    chunks = [chunk("Hi") + b"\n\n", USAGE_CHUNK + b"\n\n", b"data: [DONE]\n\n"]
    relayed = await stream(tmp_path, chunks, stream_options={"include_usage": True})
    usage = orjson.loads(relayed[-2][6:])["usage"]
    assert usage["prompt_tokens"] == 9 and usage["carbon"]["method"] == "coefficient"
    assert not any(e.startswith(":") for e in relayed)


async def test_stream_usage_always_ends_every_stream_with_a_usage_chunk(tmp_path: Path) -> None:
    """`carbon.stream_usage: always`: for clients that take a usage chunk they did not ask for (LangChain,
    the litellm SDK rebuild usage but keep the last chunk's fields)."""
    for chunks in (
        [chunk("Hi") + b"\n\n", USAGE_CHUNK + b"\n\n", b"data: [DONE]\n\n"],
        [chunk("Hi") + b"\n\n", b"data: [DONE]\n\n"],  # an upstream that ignores include_usage
    ):
        upstream = ScriptedUpstream(chunks=chunks)
        async with edge(tmp_path, upstream, carbon={"stream_usage": "always"}) as (client, _):
            response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        relayed = events(response.text)
        usage = orjson.loads(relayed[-2][6:])["usage"]
        assert usage["carbon"]["gco2e"] > 0 and usage["carbon"]["method"] == "coefficient"
        assert relayed[-1] == "data: [DONE]" and not any(e.startswith(":") for e in relayed)


async def test_a_stream_without_usage_is_counted_by_the_gateway(tmp_path: Path) -> None:
    relayed = await stream(tmp_path, [chunk("Hello") + b"\n\n", chunk(" world") + b"\n\n", b"data: [DONE]\n\n"])
    carbon = orjson.loads(relayed[-2][len(": x-carbon ") :])
    assert carbon["usage_source"] == "gateway_count"


async def test_a_unary_answer_without_usage_is_counted_and_labelled(tmp_path: Path) -> None:
    body = orjson.dumps({"object": "chat.completion", "choices": [{"index": 0, "message": {"content": "Hi!"}}]})
    async with edge(tmp_path, ScriptedUpstream(body=body)) as (client, _):
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    usage = response.json()["usage"]
    assert usage["completion_tokens"] == 2 and usage["carbon"]["usage_source"] == "gateway_count"
    assert response.headers["x-carbon-usage-source"] == "gateway_count"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": 3, "messages": []}, "model"),
        ({"model": SCRIPTED}, "messages"),
        ({"model": SCRIPTED, "messages": "hi"}, "messages"),
        ({"model": SCRIPTED, "messages": [{"content": "no role"}]}, "messages[0]"),
        ({**CHAT, "stream": "yes"}, "stream"),
        ({**CHAT, "stream_options": []}, "stream_options"),
        ({**CHAT, "max_tokens": 0}, "max_tokens"),
        ({**CHAT, "max_completion_tokens": True}, "max_completion_tokens"),
    ],
)
async def test_bad_bodies_are_400_naming_the_param(tmp_path: Path, body: dict[str, object], param: str) -> None:
    async with edge(tmp_path, ScriptedUpstream(body=b"{}")) as (client, _):
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_sizing_reserves_the_prompt_estimate_plus_what_the_request_allows() -> None:
    chat = {"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 50}
    # ceil(11 / 4) = 3 tokens of text, 3 of framing for the one message, 3 to prime the reply
    assert estimate_prompt(Endpoint.CHAT, chat) == 9
    assert completion_tokens(Endpoint.CHAT, chat, 1024) == 50
    assert completion_tokens(Endpoint.CHAT, {"max_completion_tokens": 7, "max_tokens": 50}, 1024) == 7
    assert completion_tokens(Endpoint.COMPLETIONS, {}, 1024) == 1024
    assert completion_tokens(Endpoint.EMBEDDINGS, {"max_tokens": 9}, 1024) == 0
    assert estimate_prompt(Endpoint.EMBEDDINGS, {"input": [[1, 2, 3], "abcdefgh"]}) == 5  # 3 ids + 2 tokens
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "abcd"}, {"type": "image_url"}]}]}
    assert estimate_prompt(Endpoint.CHAT, parts) == 1 + 3 + 3


async def test_a_reservation_is_the_model_figure_for_those_tokens(tmp_path: Path) -> None:
    async with edge(tmp_path) as (_, gw):
        runtime = gw.registry.model(SCRIPTED)
        amounts = reservation_amounts(runtime, Endpoint.CHAT, {**CHAT, "max_tokens": 91}, 1024)
    assert amounts.tokens == 100 and amounts.gco2e == pytest.approx(100 / 1000)  # 1 g per 1k tokens


def exceeded(limit: LimitName, policy: Policy, retry_after_s: int) -> Exceeded:
    return Exceeded(limit, "t:acme", policy, retry_after_s, 1.0, 2.0)


def test_policies_downgrade_only_when_every_blocking_limit_asks_for_the_same_model() -> None:
    small = Policy(PolicyAction.DOWNGRADE, "small")
    carbon = exceeded(LimitName.GCO2E_PER_MONTH, small, 86_400)
    spend = exceeded(LimitName.SPEND_PER_MONTH, small, 86_400)
    tokens = exceeded(LimitName.TOKENS_PER_MINUTE, Policy(PolicyAction.REJECT), 30)
    assert downgrade_target([carbon, spend]) == "small"
    assert downgrade_target([carbon, exceeded(LimitName.SPEND_PER_MONTH, Policy(PolicyAction.DOWNGRADE, "x"), 1)]) is None
    assert downgrade_target([carbon, tokens]) is None
    refused = rejection("acme", [carbon, tokens], {"x-ratelimit-limit-tokens": "1"})
    # The rejecting limit decides the code and when to retry, not the downgrade one.
    assert refused.status == 429 and refused.code == "token_quota_exceeded"
    assert refused.headers["retry-after"] == "30" and refused.headers["x-ratelimit-limit-tokens"] == "1"
    assert rejection("acme", [carbon], {}).code == "carbon_budget_exceeded"


async def test_labels_travel_outside_the_body_on_every_carbon_answer(tmp_path: Path) -> None:
    """Issue 12 item 11: catalogue version and water in headers, on proxied answers and on the carbon API for
    any model (configured or only in the catalogue)."""
    async with edge(tmp_path) as (client, gw):
        chat = await client.post("/v1/chat/completions", json={**CHAT, "model": "demo"})
        estimate = await client.post(
            "/v1/carbon/estimate", json={"model": "gpt-4o", "prompt_tokens": 100, "completion_tokens": 300}
        )
        models = await client.get("/v1/carbon/models")
    for response in (chat, estimate):
        headers = response.headers
        carbon = response.json()["usage"]["carbon"] if response is chat else response.json()["carbon"]
        assert headers["x-carbon-catalogue-version"] == carbon["catalogue_version"] == gw.engine.version
        assert headers["x-carbon-basis"] == carbon["basis"]
        assert float(headers["x-carbon-water-ml"]) == pytest.approx(carbon["water_ml"], rel=1e-5)
        assert headers["x-carbon-water-boundary"] == carbon["water_boundary"]
        assert headers["x-carbon-method"] == carbon["method"] and headers["x-carbon-boundary"] == carbon["boundary"]
    assert models.headers["x-carbon-catalogue-version"] == gw.engine.version
