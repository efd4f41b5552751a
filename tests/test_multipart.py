"""gateway/multipart.py: multipart/form-data read byte for byte, malformed input a 400 in OpenAI's shape."""

from __future__ import annotations

import httpx
import pytest

from gateway.errors import GatewayError
from gateway.multipart import MAX_PARTS, parse_form


def encoded(data: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x", data=data, files=files)
    return request.read(), request.headers["content-type"]


def test_fields_and_files_byte_for_byte() -> None:
    audio = b"RIFF\r\n--not-the-boundary\r\n\r\n\x00\xff" * 50
    body, content_type = encoded(
        {"model": "whisper", "language": "fr"}, {"file": ("voix é.wav", audio, "audio/wav")}
    )
    form = parse_form(body, content_type)
    assert form.field("model") == "whisper" and form.field("language") == "fr" and form.field("nope") is None
    upload = form.file("file")
    assert upload is not None and upload.data == audio and upload.content_type == "audio/wav"
    assert upload.filename and upload.filename.endswith(".wav")
    assert form.file("model") is None  # a field is not a file


def test_a_quoted_boundary_and_a_preamble() -> None:
    body = b'preamble\r\n--a b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--a b--\r\n'
    assert parse_form(body, 'multipart/form-data; boundary="a b"').field("x") == "1"


def error(body: bytes, content_type: str | None) -> GatewayError:
    with pytest.raises(GatewayError) as raised:
        parse_form(body, content_type)
    assert raised.value.status == 400
    return raised.value


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"{}", "application/json", "invalid_content_type"),
        (b"", None, "invalid_content_type"),
        (b"--x--", "multipart/form-data", "invalid_multipart"),  # no boundary
        (b"nothing here", "multipart/form-data; boundary=x", "invalid_multipart"),
        (
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n',
            "multipart/form-data; boundary=x",
            "invalid_multipart",
        ),
        (b"--x\r\nno headers\r\n--x--", "multipart/form-data; boundary=x", "invalid_multipart"),
        (
            b"--x\r\nContent-Disposition: attachment\r\n\r\n1\r\n--x--",
            "multipart/form-data; boundary=x",
            "invalid_multipart",
        ),
    ],
)
def test_malformed_bodies_are_a_400(body: bytes, content_type: str | None, code: str) -> None:
    assert error(body, content_type).code == code


def test_too_many_parts() -> None:
    part = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
    assert "parts" in error(part * (MAX_PARTS + 1) + b"--x--", "multipart/form-data; boundary=x").message
