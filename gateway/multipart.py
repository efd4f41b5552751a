"""`multipart/form-data` request bodies (RFC 7578), read whole (the body is already bounded by
`gateway.max_body_bytes`): fields as text, files as bytes, each part kept byte for byte so it can be sent
on unchanged. Malformed input is a 400 naming what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from gateway.errors import GatewayError, bad_request

MAX_PARTS = 64


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None  # set for a file part
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Form:
    parts: tuple[Part, ...]

    def field(self, name: str) -> str | None:
        """The first text field of that name."""
        return next((p.text for p in self.parts if p.name == name and p.filename is None), None)

    def file(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name and p.filename is not None), None)


def _invalid(reason: str) -> GatewayError:
    return bad_request(
        f"The request body is not valid multipart/form-data: {reason}.", code="invalid_multipart"
    )


def _header_params(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message


def parse_form(body: bytes, content_type: str | None) -> Form:
    header = _header_params("content-type", content_type or "")
    if header.get_content_type() != "multipart/form-data":
        raise bad_request("Expected a multipart/form-data body (a file upload).", code="invalid_content_type")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _invalid("no boundary in the content-type")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    pieces = (b"\r\n" + body).split(delimiter)
    if len(pieces) < 2:
        raise _invalid("the boundary never occurs")
    parts: list[Part] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            return Form(tuple(parts))  # the closing delimiter
        if len(parts) >= MAX_PARTS:
            raise _invalid(f"more than {MAX_PARTS} parts")
        parts.append(_part(piece))
    raise _invalid("no closing boundary")


def _part(piece: bytes) -> Part:
    head, separator, data = piece.partition(b"\r\n\r\n")
    if not separator or not head.startswith(b"\r\n"):
        raise _invalid("a part without headers")
    headers: dict[str, str] = {}
    for line in head[2:].split(b"\r\n"):
        key, colon, value = line.decode("utf-8", errors="replace").partition(":")
        if not colon:
            raise _invalid(f"a malformed part header {line[:80]!r}")
        headers[key.strip().lower()] = value.strip()
    disposition = _header_params("content-disposition", headers.get("content-disposition", ""))
    name = disposition.get_param("name", header="content-disposition")
    if disposition.get_content_disposition() != "form-data" or not isinstance(name, str):
        raise _invalid("a part without `Content-Disposition: form-data; name=...`")
    filename = disposition.get_filename()
    return Part(name, data, filename, headers.get("content-type") if filename is not None else None)
