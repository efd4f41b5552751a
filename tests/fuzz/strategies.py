"""Hypothesis strategies for the fuzz suite: requests to every route, mostly well-formed with fuzzed fields,
sometimes raw bytes or JSON nested far too deep, with fuzzed headers and query strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st

from tests.fakes.faulty import FAULTS

TENANT, TENANT_KEY, ADMIN_KEY = "fuzz", "sk-fuzz-tenant-key", "sk-fuzz-admin-key"
MODEL = "scripted"


@dataclass
class Call:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    fault: str = "normal"
    proxied: bool = False  # counted when it succeeds (proxy routes, /track)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.integers(min_value=-2, max_value=300)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)

content = st.one_of(
    st.text(max_size=30),
    st.text(max_size=30),
    st.text(max_size=30),
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20) | json_values}),
            json_values,
        ),
        max_size=3,
    ),
    json_values,
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant"] * 3) | json_values, "content": content},
    optional={"name": st.text(max_size=8) | json_values},
)
models = st.one_of(st.sampled_from([MODEL] * 6 + ["demo", "demo", "no-such-model", ""]), json_values.filter(bool))
sane_or = lambda sane, other: st.one_of(sane, sane, sane, other)  # noqa: E731
common = {
    "stream": sane_or(st.booleans(), json_values),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | json_values,
    "max_tokens": sane_or(st.integers(1, 500), ints | json_values),
    "max_completion_tokens": sane_or(st.integers(1, 500), ints | json_values),
    "n": ints,
    "temperature": scalars,
    "extra": json_values,
}
prompt_like = st.one_of(
    st.text(max_size=30),
    st.lists(st.text(max_size=10), max_size=3),
    st.lists(ints, max_size=4),
    st.lists(st.lists(ints, max_size=3), max_size=2),
    json_values,
)


def _encode(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # ints beyond 64 bits: Python's json writes them
        import json

        return json.dumps(body).encode()


def bodies(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[bytes]:
    dicts = st.fixed_dictionaries(required, optional=optional).map(_encode)
    # mostly objects of the route's fields (each sane or fuzzed), sometimes nesting, bytes or any JSON
    deep = st.integers(min_value=1, max_value=3000).map(
        lambda n: b'{"model": "scripted", "messages": [{"role": "user", "content": ' + b"[" * n + b"]" * n + b"}]}"
    )
    return st.one_of(dicts, dicts, dicts, dicts, deep, st.binary(max_size=40), json_values.map(_encode))


def headers(usual_key: str) -> st.SearchStrategy[dict[str, str]]:
    """Mostly the route's usual key (index 0, where Hypothesis's search starts), sometimes another or junk."""
    keys = [f"Bearer {usual_key}", f"Bearer {TENANT_KEY}", f"Bearer {ADMIN_KEY}", "Bearer x", ""]
    authorization = st.integers(0, 14).flatmap(
        lambda i: st.just(keys[0]) if i < 10 else (st.just(keys[i - 10]) if i < 14 else header_text)
    )
    return st.fixed_dictionaries(
        {"authorization": authorization},
        optional={
            "x-request-id": header_text,
            "x-carbon-tags": header_text,
            "content-type": st.sampled_from(["application/json", "text/plain"]) | header_text,
        },
    )


admin_limits = st.dictionaries(st.sampled_from(["tokens_per_day", "gco2e_per_month", "x"]), json_values)
ROUTES = {
    "/v1/chat/completions": bodies(
        {"model": models, "messages": sane_or(st.lists(message, min_size=1, max_size=3), json_values)}, common
    ),
    "/v1/completions": bodies({"model": models, "prompt": prompt_like}, common),
    "/v1/embeddings": bodies(
        {"model": models, "input": prompt_like},
        {"dimensions": ints, "encoding_format": st.sampled_from(["float", "base64"]) | json_values},
    ),
    "/v1/responses": bodies(
        {"model": models, "input": content},
        {"stream": st.booleans() | json_values, "max_output_tokens": ints | json_values},
    ),
    "/v1/carbon/estimate": bodies(
        {"model": models, "prompt_tokens": ints | json_values, "completion_tokens": ints | json_values},
        {"latency_s": scalars, "zone": json_values},
    ),
    "/v1/carbon/track": bodies(
        {"model": models, "prompt_tokens": ints | json_values, "completion_tokens": ints | json_values},
        {"request_id": st.text(max_size=10) | json_values, "tags": json_values, "tenant_id": st.text(max_size=6)},
    ),
    "/admin/tenants": bodies(
        {"id": st.text(max_size=10) | json_values},
        {"limits": admin_limits | json_values, "models": json_values, "name": json_values},
    ),
}
PROXIED = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/carbon/track"}
GETS = [
    "/v1/models",
    f"/v1/models/{MODEL}",
    "/v1/models/nope",
    "/v1/carbon/models",
    "/v1/carbon/usage",
    "/v1/carbon/requests/req_nope",
    "/admin/tenants",
    f"/admin/tenants/{TENANT}",
    f"/admin/tenants/{TENANT}/usage",
    "/healthz",
]


@st.composite
def calls(draw: st.DrawFn) -> Call:
    kind = draw(st.sampled_from(["post"] * 8 + ["get", "patch"]))
    fault = draw(st.sampled_from(FAULTS))
    if kind == "get":
        path = draw(st.sampled_from(GETS))
        sent = draw(headers(ADMIN_KEY if path.startswith("/admin") else TENANT_KEY))
        params = draw(st.fixed_dictionaries({}, optional={"period": header_text, "model": header_text}))
        return Call("GET", path, headers=sent, params=params, fault=fault)
    if kind == "patch":
        body = draw(bodies({}, {"limits": json_values, "name": json_values, "models": json_values}))
        sent = draw(headers(ADMIN_KEY))
        return Call("PATCH", f"/admin/tenants/{TENANT}", body=body, headers=sent, fault=fault)
    path = draw(st.sampled_from(sorted(ROUTES) + ["/v1/chat/completions"] * 5))
    sent = draw(headers(ADMIN_KEY if path.startswith("/admin") else TENANT_KEY))
    return Call("POST", path, body=draw(ROUTES[path]), headers=sent, fault=fault, proxied=path in PROXIED)
