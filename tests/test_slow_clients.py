"""Slow clients cannot hold the gateway (issue 10, item 8): a connection whose headers are not in after
`--header-timeout` gets a 408 and is closed, one whose body is not in after `gateway.body_timeout_s` too, and
connections beyond `--limit-concurrency` are refused with a 503; `/healthz` still answers. Real sockets against
the gateway under uvicorn. The socket timeouts are bounds (before the fix the server never closed them)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.gateway import GatewayProcess, running_gateway, write_config

SLOW_HEADERS = 50
SLOW_BODIES = 20
LIMIT = 40
BOUND_S = 20.0  # how long a socket waits for the server's answer: far beyond the 1-s timeouts configured


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp_path: Path = tmp_path_factory.mktemp("slow-clients")
    config = {
        "model_list": [{"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}}],
        "gateway": {"body_timeout_s": 1},
        "observability": {"log_requests": False},
    }
    args = ("--header-timeout", "1", "--limit-concurrency", str(LIMIT))
    with running_gateway(write_config(tmp_path, config), args=args) as gw:
        yield gw


def _open(gateway: GatewayProcess, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=BOUND_S)
    sock.sendall(first_bytes)
    return sock


def _answer_then_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test). A refused
    connection may be reset (the server closed it with the client's bytes unread): that is closed too."""
    received = b""
    with sock:
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def _healthy(gateway: GatewayProcess) -> bool:
    return httpx.get(f"{gateway.url}/healthz", timeout=BOUND_S).status_code == 200


def test_slow_headers_are_closed_and_extra_connections_refused(gateway: GatewayProcess) -> None:
    partial = b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
    sockets = [_open(gateway, partial) for _ in range(SLOW_HEADERS)]
    answers = [_answer_then_close(sock) for sock in sockets]
    statuses = [answer.split(b"\r\n", 1)[0] for answer in answers]
    refused = (b"HTTP/1.1 503 Service Unavailable", b"")  # b"": reset as it was refused
    assert all(status == b"HTTP/1.1 408 Request Timeout" or status in refused for status in statuses), statuses
    assert statuses.count(b"HTTP/1.1 408 Request Timeout") >= LIMIT - 1, statuses  # the ones it let in
    assert any(status in refused for status in statuses), statuses  # more than LIMIT at once: the rest refused
    body = orjson.loads(answers[0].split(b"\r\n\r\n", 1)[1])
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert _healthy(gateway)


def test_slow_bodies_get_a_408_and_are_closed(gateway: GatewayProcess) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
        b"content-length: 1000\r\n\r\n" + b'{"model": "demo", '
    )
    sockets = [_open(gateway, head) for _ in range(SLOW_BODIES)]
    answers = [_answer_then_close(sock) for sock in sockets]
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        error = orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
        assert error["code"] == "request_timeout" and "gateway.body_timeout_s" in error["message"]
    assert _healthy(gateway)
