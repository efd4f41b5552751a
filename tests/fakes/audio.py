"""The fake upstream's `POST /v1/audio/transcriptions` (multipart, as OpenAI and Scaleway take it) and
`POST /v1/responses` (JSON), as pure functions: request in, (status, content type, body) out.

Transcriptions: the transcript is ``fake transcript of <filename>`` (5 words for a one-word filename). The
duration the fake reports in ``verbose_json`` is the WAV file's, read with the standard library's ``wave``
module (an oracle independent of the gateway's own header parser), or the form field ``fake_duration`` when a
test sets one (to tell a reported duration from the file's). ``json`` answers ``{"text"}`` only, like an
upstream that reports no usage; with the form field ``fake_usage=tokens`` it adds OpenAI's token usage
(``input_tokens`` 120, ``output_tokens`` 5); ``text``/``srt``/``vtt`` answer plain text. A missing ``model``
or ``file`` is a 400 naming the ``param``.

Responses: ``output_text`` is the reply text; usage ``input_tokens`` = words of ``input`` (a string, or the text
of its messages), ``output_tokens`` = words of the reply.
"""

from __future__ import annotations

import io
import wave
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson

from tests.fakes import replies

JSON = "application/json"
TOKENS_USAGE = {"type": "tokens", "input_tokens": 120, "output_tokens": 5, "total_tokens": 125}


def parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Fields as text; a file as {"filename", "content_type", "data"}."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    form: dict[str, Any] = {}
    if not message.is_multipart():
        return form
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        filename = part.get_filename()
        if filename is None:
            form[str(name)] = data.decode()
        else:
            form[str(name)] = {"filename": filename, "content_type": part.get_content_type(), "data": data}
    return form


def wav_duration(data: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(data)) as audio:
            return audio.getnframes() / audio.getframerate()
    except (wave.Error, EOFError):
        return None


def transcription(form: dict[str, Any]) -> tuple[int, str, bytes]:
    if not isinstance(form.get("model"), str):
        return 400, JSON, orjson.dumps(replies.error_body(400, "you must provide a model parameter", "model"))
    upload = form.get("file")
    if not isinstance(upload, dict):
        return 400, JSON, orjson.dumps(replies.error_body(400, "missing required parameter: file", "file"))
    text = f"fake transcript of {upload['filename']}"
    response_format = form.get("response_format", "json")
    if response_format in ("text", "srt", "vtt"):
        return 200, "text/plain; charset=utf-8", text.encode()
    if response_format == "verbose_json":
        duration = float(form["fake_duration"]) if "fake_duration" in form else wav_duration(upload["data"])
        reply: dict[str, Any] = {
            "task": "transcribe",
            "language": "english",
            "duration": duration,
            "text": text,
        }
        reply["segments"] = []
    else:
        reply = {"text": text}
    if form.get("fake_usage") == "tokens":
        reply["usage"] = dict(TOKENS_USAGE)
    return 200, JSON, orjson.dumps(reply)


def response_input_words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        total = 0
        for item in value:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, str):
                total += len(content.split())
            elif isinstance(content, list):
                total += sum(len(str(p.get("text", "")).split()) for p in content if isinstance(p, dict))
        return total
    return 0


def response(body: dict[str, Any], reply_text: str, ident: str, created: int) -> dict[str, Any]:
    prompt, completion = response_input_words(body.get("input")), len(reply_text.split())
    return {
        "id": f"resp_{ident}",
        "object": "response",
        "created_at": created,
        "status": "completed",
        "model": body.get("model"),
        "output": [
            {
                "type": "message",
                "id": f"msg_{ident}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply_text, "annotations": []}],
            }
        ],
        "usage": {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion},
    }
