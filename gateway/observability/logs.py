"""One structured JSON line per request on the `carbon_gateway.access` logger.

What goes in is an explicit allow-list of fields: ids, tenant, model, status, tokens, carbon,
timings. Never a key, a header or a prompt; error texts are shortened and scrubbed of
anything that looks like a credential because upstream messages can echo them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from typing import Any

import orjson

from gateway.config import ObservabilitySettings
from meters.usage import UsageRecord

ACCESS_LOGGER = "carbon_gateway.access"
ROOT_LOGGER = "carbon_gateway"
MAX_ERROR_CHARS = 200

_access = logging.getLogger(ACCESS_LOGGER)
_enabled = True
_SECRET_PATTERNS = re.compile(
    r"(?i)(bearer\s+\S+|sk-[A-Za-z0-9_\-]{6,}|(?:api[_-]?key|token|secret|password)\s*[=:]\s*\S+)"
)


MAX_PENDING_LINES = 64  # written at once past this many (measured: 64 lines ~4.6 µs a line, 1024 ~12 µs)
_pending: list[bytes] = []  # access lines (JSON + newline) not yet written


class _JsonLineHandler(logging.Handler):
    """Writes the message as-is (access records are already JSON) to the current sys.stdout.

    No write per line: with PYTHONUNBUFFERED=1 (the Docker image sets it) every stdout write is a
    syscall, which cost more than building the line. The fast path in `log_request` queues the
    line's bytes; the app calls `flush_access_log()` every few hundred milliseconds and at shutdown,
    and writes them in one go.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(record.getMessage() + "\n")
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with contextlib.suppress(Exception):  # a closed stdout at interpreter exit
            sys.stdout.flush()


def _write_all(buffer: Any, data: bytes) -> None:
    """Under PYTHONUNBUFFERED stdout's binary layer is a raw file, whose write may take part of the data."""
    view = memoryview(data)
    while view:
        written = buffer.write(view)
        if written is None:  # a non-blocking stdout that is full: drop the rest rather than spin
            return
        view = view[written:]


def flush_access_log() -> None:
    """Write the queued access lines in one write, then flush the handlers."""
    if _pending:
        data = b"".join(_pending)
        _pending.clear()
        out = sys.stdout
        buffer = getattr(out, "buffer", None)
        try:
            if buffer is not None:
                out.flush()  # text written before stays before
                _write_all(buffer, data)
            else:
                out.write(data.decode())
        except Exception:  # a closed stdout at interpreter exit: nothing left to tell
            pass
    for handler in _access.handlers:
        handler.flush()


def configure_logging(settings: ObservabilitySettings) -> None:
    """Set the gateway's log level and route access lines to stdout, once per process."""
    global _enabled
    _enabled = settings.log_requests
    logging.getLogger(ROOT_LOGGER).setLevel(settings.log_level.upper())
    if not any(isinstance(h, _JsonLineHandler) for h in _access.handlers):
        _access.addHandler(_JsonLineHandler())
    # Access lines are a stream of their own; don't duplicate them through the root handlers.
    _access.propagate = False
    _access.setLevel(logging.INFO)


def scrub_error(error: str | None) -> str | None:
    if error is None:
        return None
    cleaned = _SECRET_PATTERNS.sub("[redacted]", error.replace("\n", " "))
    return cleaned if len(cleaned) <= MAX_ERROR_CHARS else cleaned[: MAX_ERROR_CHARS - 1] + "…"


def access_fields(
    record: UsageRecord | None,
    *,
    request_id: str,
    client_request_id: str | None = None,
    tenant: str,
    model: str,
    status: int,
    latency_s: float,
    overhead_s: float | None,
    error: str | None = None,
) -> dict[str, Any]:
    """The access line's fields (exposed for tests and for other sinks)."""
    fields: dict[str, Any] = {
        "ts": time.time(),
        "event": "request",
        "request_id": request_id,
        "client_request_id": client_request_id,
        "tenant": tenant,
        "model": model,
        "status": status,
        "latency_s": round(latency_s, 6),
        "overhead_s": None if overhead_s is None else round(overhead_s, 6),
    }
    if record is not None:
        estimate = record.estimate
        fields.update(
            provider=record.provider,
            upstream_model=record.upstream_model,
            stream=record.stream,
            key_id=record.key_id,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            usage_source=record.usage_source,
            gco2e=estimate.gco2e,
            gco2e_min=estimate.gco2e_min,
            gco2e_max=estimate.gco2e_max,
            energy_wh=estimate.energy_wh,
            carbon_method=estimate.method,
            carbon_boundary=estimate.boundary,
            spend=record.spend,
            currency=record.currency,
            ttft_s=record.ttft_s,
        )
    if error is not None:
        fields["error"] = scrub_error(error)
    return fields


def log_request(
    record: UsageRecord | None,
    *,
    request_id: str,
    client_request_id: str | None = None,
    tenant: str,
    model: str,
    status: int,
    latency_s: float,
    overhead_s: float | None,
    error: str | None = None,
) -> None:
    """Emit the access line for one request (no-op when `log_requests` is off)."""
    if not _enabled or not _access.isEnabledFor(logging.INFO):
        return
    fields = access_fields(
        record,
        request_id=request_id,
        client_request_id=client_request_id,
        tenant=tenant,
        model=model,
        status=status,
        latency_s=latency_s,
        overhead_s=overhead_s,
        error=error,
    )
    handlers = _access.handlers
    if len(handlers) == 1 and type(handlers[0]) is _JsonLineHandler and not _access.propagate:
        # Only our own handler: skip LogRecord building and caller lookup (~20 µs a request), and
        # queue the bytes for the next flush instead of a write (a syscall when unbuffered) each.
        _pending.append(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))
        if len(_pending) >= MAX_PENDING_LINES:
            flush_access_log()
    else:
        _access.info(orjson.dumps(fields).decode())
