"""POST /v1/audio/transcriptions against a fake OpenAI-compatible upstream on loopback (issue 13, item 2):
multipart passthrough, metered by audio duration (upstream's, WAV header, bitrate estimate), through a real
gateway process, with curl-like httpx and the official openai SDK."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.tokens import count_text
from tests.support.configs import UPSTREAM_KEY
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.ports import free_port

COEFFICIENT = 1.5  # g per 1k tokens: the figure is (token equivalents + transcript tokens) / 1000 x 1.5


def carbon_block() -> dict:
    return {"gco2e_per_1k_tokens": COEFFICIENT, "confidence": "estimated", "source": "test coefficient"}


@pytest.fixture(scope="module")
def gateway(upstream_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    base = f"http://127.0.0.1:{upstream_port}/v1"
    params = {"api_base": base, "api_key": UPSTREAM_KEY, "max_retries": 0}
    config = {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {**params, "model": f"openai/{name}"},
                "carbon": carbon_block(),
            }
            for name in ("whisper-large-v3", "voxtral-small-24b-2507")
        ]
        + [
            {  # nothing listens there
                "model_name": "whisper-down",
                "litellm_params": {**params, "api_base": f"http://127.0.0.1:{free_port()}/v1", "model": "openai/w"},
                "carbon": carbon_block(),
            },
            {
                "model_name": "whisper-slow",
                "litellm_params": {**params, "timeout": 0.5, "model": "openai/whisper-large-v3"},
                "carbon": carbon_block(),
            },
        ]
        + [{"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}}],
    }
    directory = tmp_path_factory.mktemp("audio")
    with running_gateway(write_config(directory, config)) as process:
        yield process


def wav(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\x01\x00" * int(rate * seconds))
    return buffer.getvalue()


def transcribe(
    gateway: GatewayProcess, model: str, audio: bytes, filename: str, **fields: str
) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/audio/transcriptions",
        data={"model": model, **fields},
        files={"file": (filename, audio, "application/octet-stream")},
        timeout=30,
    )


def expected_grams(equivalents: int, completion: int) -> float:
    return (equivalents + completion) / 1000 * COEFFICIENT


def last_upstream_request(upstream_port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{upstream_port}/_fake/requests").json()[-1]


def test_a_wav_upload_is_passed_through_and_metered_from_its_header(
    gateway: GatewayProcess, upstream_port: int
) -> None:
    audio = wav(42)
    response = transcribe(gateway, "whisper-large-v3", audio, "speech.wav", language="en")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == "fake transcript of speech.wav"
    sent = last_upstream_request(upstream_port)
    assert sent["path"] == "/v1/audio/transcriptions"
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent["body"]["model"] == "whisper-large-v3" and sent["body"]["language"] == "en"
    assert sent["body"]["file"] == {
        "filename": "speech.wav",
        "content_type": "application/octet-stream",
        "size": len(audio),
    }
    completion = count_text(body["text"])
    grams = expected_grams(2 * 1500, completion)  # 42 s: two 30-s Whisper windows of 1,500 positions
    carbon = body["usage"]["carbon"]
    assert body["usage"]["type"] == "duration" and body["usage"]["seconds"] == 42
    assert carbon["gco2e"] == pytest.approx(grams, rel=1e-9)
    assert carbon["audio"]["duration_source"] == "wav_header" and carbon["audio"]["seconds"] == 42
    assert (
        carbon["audio"]["token_equivalents"] == 3000 and "arXiv:2212.04356" in carbon["audio"]["token_basis"]
    )
    assert carbon["usage_source"] == "gateway_count"
    assert float(response.headers["x-carbon-gco2e"]) == pytest.approx(grams, rel=1e-5)
    assert response.headers["x-carbon-audio-seconds"] == "42.0000"
    assert response.headers["x-carbon-audio-duration-source"] == "wav_header"
    assert "audio: 42 s (wav_header)" in response.headers["x-carbon-source"]
    assert response.headers["x-request-id"].startswith("req_")


def test_the_upstreams_verbose_json_duration_wins(gateway: GatewayProcess) -> None:
    response = transcribe(
        gateway, "whisper-large-v3", wav(5), "a.wav", response_format="verbose_json", fake_duration="95.5"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duration"] == 95.5 and body["task"] == "transcribe"
    carbon = body["usage"]["carbon"]
    assert carbon["audio"]["duration_source"] == "upstream" and carbon["audio"]["seconds"] == 95.5
    assert carbon["gco2e"] == pytest.approx(expected_grams(4 * 1500, count_text(body["text"])), rel=1e-9)
    assert carbon["usage_source"] == "upstream"


def test_token_usage_from_the_upstream_is_taken_as_is(gateway: GatewayProcess) -> None:
    response = transcribe(gateway, "voxtral-small-24b-2507", wav(3), "v.wav", fake_usage="tokens")
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert (usage["type"], usage["input_tokens"], usage["output_tokens"]) == ("tokens", 120, 5)
    assert usage["carbon"]["gco2e"] == pytest.approx(expected_grams(120, 5), rel=1e-9)
    assert usage["carbon"]["usage_source"] == "upstream"
    assert usage["carbon"]["audio"]["duration_source"] == "wav_header"


def test_other_formats_get_a_labelled_bitrate_estimate_and_text_answers_headers_only(
    gateway: GatewayProcess,
) -> None:
    mp3 = b"ID3" + bytes(160_000 - 3)  # 160 kB at a typical 128 kbit/s: 10 s, 4 to 40 s across 32-320 kbit/s
    response = transcribe(gateway, "voxtral-small-24b-2507", mp3, "talk.mp3", response_format="text")
    assert response.status_code == 200, response.text
    assert response.text == "fake transcript of talk.mp3"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-carbon-audio-duration-source"] == "bitrate_estimate"
    assert float(response.headers["x-carbon-audio-seconds"]) == pytest.approx(10.0)
    grams = expected_grams(375, count_text(response.text))  # one 30-s Voxtral chunk: 375 audio tokens
    assert float(response.headers["x-carbon-gco2e"]) == pytest.approx(grams, rel=1e-5)
    assert float(response.headers["x-carbon-gco2e-max"]) >= expected_grams(2 * 375, 0)  # 40 s: two chunks
    unknown = transcribe(gateway, "whisper-large-v3", bytes(10_000), "blob.bin")
    assert unknown.json()["usage"]["carbon"]["audio"]["duration_source"] == "fallback"
    assert unknown.json()["usage"]["carbon"]["gco2e"] > 0  # never 0


def test_bad_uploads_are_4xx_in_openai_shape(gateway: GatewayProcess) -> None:
    url = f"{gateway.base_url}/audio/transcriptions"
    no_file = httpx.post(url, files={"model": (None, "whisper-large-v3")})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    no_model = httpx.post(url, files={"file": ("a.wav", wav(1))})
    assert no_model.status_code == 400 and no_model.json()["error"]["param"] == "model"
    unknown = transcribe(gateway, "nope", wav(1), "a.wav")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    stream = transcribe(gateway, "whisper-large-v3", wav(1), "a.wav", stream="true")
    assert stream.status_code == 400 and stream.json()["error"]["param"] == "stream"
    json_body = httpx.post(url, json={"model": "whisper-large-v3"})
    assert json_body.status_code == 400 and json_body.json()["error"]["code"] == "invalid_content_type"
    broken = httpx.post(
        url, content=b"--x\r\nnot a part", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_multipart"


def test_the_openai_sdk_transcribes_and_the_figure_is_in_the_ledger(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-large-v3", file=("hello.wav", wav(12)), response_format="verbose_json"
    )
    transcript = raw.parse()
    assert transcript.text == "fake transcript of hello.wav" and transcript.duration == 12
    assert transcript.usage.model_extra["carbon"]["audio"]["seconds"] == 12
    request_id = raw.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while (found := httpx.get(f"{gateway.base_url}/carbon/requests/{request_id}")).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    entry = found.json()
    assert entry["endpoint"] == "audio.transcriptions" and entry["model"] == "whisper-large-v3"
    assert entry["carbon"]["audio"]["seconds"] == 12 and entry["usage"]["prompt_tokens"] == 1500


def test_the_demo_model_answers_offline(gateway: GatewayProcess) -> None:
    response = transcribe(gateway, "demo", wav(2), "a.wav")
    assert response.status_code == 200
    assert "placeholder" in response.json()["text"]
    assert response.json()["usage"]["carbon"]["audio"]["seconds"] == 2


def test_an_upload_to_an_unreachable_or_stalled_upstream_is_a_502_or_504(
    gateway: GatewayProcess, upstream_port: int
) -> None:
    """The upload path (aiohttp, loaded at the first upload) fails as the JSON path does: OpenAI's error shape,
    502 when nothing answers (aiohttp's failure named), 504 past the model's timeout."""
    down = transcribe(gateway, "whisper-down", wav(1), "a.wav")
    assert down.status_code == 502, down.text
    error = down.json()["error"]
    assert "ClientConnectorError" in error["message"] and error["type"]
    fake = f"http://127.0.0.1:{upstream_port}/_fake"
    httpx.post(f"{fake}/behave", json={"stall_s": 2.0}).raise_for_status()
    try:
        started = time.monotonic()
        slow = transcribe(gateway, "whisper-slow", wav(1), "a.wav")
        assert slow.status_code == 504, slow.text
        assert time.monotonic() - started < 1.8 and slow.json()["error"]["type"]
    finally:
        httpx.post(f"{fake}/reset").raise_for_status()
    assert transcribe(gateway, "whisper-large-v3", wav(1), "a.wav").status_code == 200
