"""Access logs (one JSON line, no secrets) and tracing (off by default, clear error when missing)."""

from __future__ import annotations

import logging
import sys

import orjson
import pytest

from gateway.config import ObservabilitySettings
from gateway.observability import logs
from gateway.observability.tracing import configure_tracing, span_attributes, span_name
from tests.test_metrics import make_record


@pytest.fixture
def access_lines(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    # The handler writes to the sys.stdout of its creation time; rebuild it under capsys.
    logger = logging.getLogger(logs.ACCESS_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logs.configure_logging(ObservabilitySettings())
    yield capsys
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logs.configure_logging(ObservabilitySettings())


def _read(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureResult[str]:
    logs.flush_access_log()  # lines are queued and written together (within LOG_FLUSH_S in the app)
    return capsys.readouterr()


def test_one_json_line_per_request_with_carbon(access_lines: pytest.CaptureFixture[str]) -> None:
    record = make_record(key_id="key_42", stream=True, ttft_s=0.05)
    logs.log_request(
        record, request_id="req-1", tenant="acme", model="demo", status=200, latency_s=0.12, overhead_s=0.0004
    )
    lines = _read(access_lines).out.splitlines()
    assert len(lines) == 1
    line = orjson.loads(lines[0])
    assert line["event"] == "request"
    assert (line["request_id"], line["tenant"], line["model"], line["status"]) == (
        "req-1",
        "acme",
        "demo",
        200,
    )
    assert (line["prompt_tokens"], line["completion_tokens"]) == (12, 30)
    assert line["gco2e"] == 0.25 and line["carbon_method"] == "coefficient"
    assert line["latency_s"] == 0.12 and line["overhead_s"] == 0.0004 and line["ttft_s"] == 0.05
    assert "error" not in line


def test_failure_line_scrubs_credentials_and_never_has_prompts(
    access_lines: pytest.CaptureFixture[str],
) -> None:
    secret_error = (
        "upstream said: Invalid Authorization: Bearer sk-live-abcdef123456 api_key=zzz " + "x" * 400
    )
    logs.log_request(
        None,
        request_id="req-2",
        tenant="acme",
        model="demo",
        status=502,
        latency_s=1.5,
        overhead_s=None,
        error=secret_error,
    )
    out = _read(access_lines).out
    line = orjson.loads(out)
    assert line["status"] == 502 and line["overhead_s"] is None
    assert "sk-live" not in out and "zzz" not in out and "abcdef" not in out
    assert "[redacted]" in line["error"]
    assert len(line["error"]) <= logs.MAX_ERROR_CHARS
    assert "gco2e" not in line and "messages" not in line and "prompt" not in line


def test_log_requests_off_is_silent(access_lines: pytest.CaptureFixture[str]) -> None:
    logs.configure_logging(ObservabilitySettings(log_requests=False))
    logs.log_request(
        make_record(), request_id="r", tenant="t", model="demo", status=200, latency_s=0.1, overhead_s=0
    )
    assert _read(access_lines).out == ""


def test_tracing_off_by_default_and_span_attributes_follow_genai_semconv() -> None:
    assert configure_tracing(ObservabilitySettings(), "gw.yaml") is None
    record = make_record()
    attributes = span_attributes(record)
    assert span_name(record) == "chat demo"
    assert attributes["gen_ai.provider.name"] == "demo"
    assert attributes["gen_ai.request.model"] == "demo"
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 30
    assert attributes["carbon.gco2e"] == 0.25 and attributes["carbon.energy_wh"] == 0.002
    assert all(value is not None for value in attributes.values())


def test_tracing_enabled_without_opentelemetry_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail exactly as a missing package does.
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    settings = ObservabilitySettings(tracing_enabled=True, otlp_endpoint="http://127.0.0.1:4318/v1/traces")
    with pytest.raises(
        ValueError, match=r"gw\.yaml: observability\.tracing_enabled: .*pip install opentelemetry-sdk"
    ):
        configure_tracing(settings, "gw.yaml")
