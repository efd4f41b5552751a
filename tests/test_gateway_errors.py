"""Every error case of the spine, in OpenAI's error shape, against real processes."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.configs import proxy_config
from tests.support.gateway import GatewayProcess, running_gateway, write_config

MESSAGES = [{"role": "user", "content": "hello"}]


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text
    return body["error"]


def post(
    gateway: GatewayProcess, body: object = None, *, content: bytes | None = None, **kwargs
) -> httpx.Response:
    url = f"{gateway.base_url}/chat/completions"
    if content is not None:
        return httpx.post(
            url, content=content, headers={"content-type": "application/json"}, timeout=30, **kwargs
        )
    return httpx.post(url, json=body, timeout=30, **kwargs)


def test_malformed_json_is_400(gateway: GatewayProcess) -> None:
    response = post(gateway, content=b'{"model": "fake", "messages": [')
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": 42, "messages": MESSAGES}, "model"),
        ({"model": "fake"}, "messages"),
        ({"model": "fake", "messages": "hello"}, "messages"),
        ({"model": "fake", "messages": [{"content": "no role"}]}, "messages[0]"),
        ({"model": "fake", "messages": MESSAGES, "stream": "yes"}, "stream"),
        ({"model": "fake", "messages": MESSAGES, "max_tokens": -1}, "max_tokens"),
    ],
)
def test_missing_or_wrong_typed_params_are_400_naming_the_param(
    gateway: GatewayProcess, body: dict, param: str
) -> None:
    response = post(gateway, body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_embeddings_need_input(gateway: GatewayProcess) -> None:
    response = httpx.post(f"{gateway.base_url}/embeddings", json={"model": "fake"})
    assert response.status_code == 400
    assert error_of(response)["param"] == "input"


def test_body_that_is_not_an_object_is_400(gateway: GatewayProcess) -> None:
    response = post(gateway, content=b"[1, 2, 3]")
    assert response.status_code == 400


def test_unknown_model_is_404_model_not_found(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["param"] == "model"


def test_body_over_the_limit_is_413(gateway: GatewayProcess) -> None:
    big = {"model": "fake", "messages": [{"role": "user", "content": "x" * 70000}]}
    response = post(gateway, big)
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"


def test_upstream_4xx_is_passed_through_with_its_message(gateway: GatewayProcess) -> None:
    error = {"error": {"message": "context too long for fake-model", "type": "invalid_request_error",
                       "param": "messages", "code": "context_length_exceeded"}}  # fmt: skip
    body = {
        "model": "fake",
        "messages": MESSAGES,
        "fake_behaviour": {"fail_status": 400, "error_body": error},
    }
    response = post(gateway, body)
    assert response.status_code == 400
    got = error_of(response)
    assert got["message"] == "context too long for fake-model"
    assert got["code"] == "context_length_exceeded"
    assert got["param"] == "messages"  # the field the upstream named


def test_upstream_timeout_is_504(gateway: GatewayProcess) -> None:
    response = post(gateway, {"model": "slow", "messages": MESSAGES, "fake_behaviour": {"stall_s": 2.0}})
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"


def test_unreachable_upstream_is_502(gateway: GatewayProcess) -> None:
    response = post(gateway, {"model": "dead", "messages": MESSAGES})
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_unreachable"


def test_retries_on_5xx_then_succeeds(gateway: GatewayProcess) -> None:
    behaviour = {"fail_status": 503, "fail_times": 2, "key": "retry-5xx"}
    response = post(gateway, {"model": "fake", "messages": MESSAGES, "fake_behaviour": behaviour})
    assert response.status_code == 200
    assert float(response.headers["x-carbon-gco2e"]) > 0


def test_retries_on_429_then_succeeds(gateway: GatewayProcess) -> None:
    behaviour = {"fail_status": 429, "fail_times": 1, "key": "retry-429"}
    response = post(gateway, {"model": "fake", "messages": MESSAGES, "fake_behaviour": behaviour})
    assert response.status_code == 200


def test_persistent_5xx_without_retries_is_502(gateway: GatewayProcess) -> None:
    behaviour = {"fail_status": 500, "key": "always-500"}
    response = post(gateway, {"model": "no-retry", "messages": MESSAGES, "fake_behaviour": behaviour})
    assert response.status_code == 502
    assert error_of(response)["type"] == "upstream_error"


def test_fallback_to_another_model_when_upstream_is_unreachable(gateway: GatewayProcess) -> None:
    response = post(gateway, {"model": "dead-with-fallback", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.headers["x-carbon-fallback-from"] == "dead-with-fallback"
    assert response.json()["usage"]["carbon"]["gco2e"] > 0


def test_unknown_route_and_wrong_method_are_openai_shaped(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.base_url}/nothing-here")
    assert response.status_code == 404
    error_of(response)
    response = httpx.get(f"{gateway.base_url}/chat/completions")
    assert response.status_code == 405
    error_of(response)


def test_master_key_is_required_when_set(upstream_port: int, tmp_path) -> None:
    path = write_config(tmp_path, proxy_config(upstream_port))
    with running_gateway(path, env={"GATEWAY_MASTER_KEY": "sk-master-123"}) as gateway:
        response = post(gateway, {"model": "fake", "messages": MESSAGES})
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"
        response = post(
            gateway, {"model": "fake", "messages": MESSAGES}, headers={"authorization": "Bearer wrong"}
        )
        assert response.status_code == 401
        ok = openai.OpenAI(base_url=gateway.base_url, api_key="sk-master-123")
        assert ok.chat.completions.create(model="fake", messages=MESSAGES).choices
        response = post(
            gateway, {"model": "fake", "messages": MESSAGES}, headers={"api-key": "sk-master-123"}
        )
        assert response.status_code == 200


def test_carbon_body_can_be_turned_off_headers_stay(upstream_port: int, tmp_path) -> None:
    path = write_config(tmp_path, proxy_config(upstream_port, carbon={"body": False}))
    with running_gateway(path) as gateway:
        response = post(gateway, {"model": "fake", "messages": MESSAGES})
        assert response.status_code == 200
        assert "carbon" not in response.json()["usage"]
        assert float(response.headers["x-carbon-gco2e"]) > 0


def test_model_without_key_is_503_naming_the_variable(tmp_path) -> None:
    config = {"model_list": [{"model_name": "scw", "litellm_params": {
        "model": "scaleway/llama-3.1-8b-instruct", "api_key": "os.environ/SCW_TEST_KEY_THAT_IS_UNSET"}}]}  # fmt: skip
    path = write_config(tmp_path, config)
    with running_gateway(path) as gateway:
        response = post(gateway, {"model": "scw", "messages": MESSAGES})
        assert response.status_code == 503
        assert "SCW_TEST_KEY_THAT_IS_UNSET" in error_of(response)["message"]
