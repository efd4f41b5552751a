"""A request let in: who called, which model serves it, what it holds in the store, and its ids."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.auth import Principal
from gateway.endpoints import Endpoint
from gateway.registry import ModelRuntime
from meters.store import Reservation

_ID_PREFIX = os.urandom(6).hex()  # per process: ids stay unique across workers and restarts
_ID_COUNTER = itertools.count(1)
MAX_TAGS = 8
MAX_TAG_CHARS = 64
REQUEST_ID = "x-request-id"  # the gateway's id of the request, on every response
CLIENT_REQUEST_ID = "x-client-request-id"  # the client's own id, echoed when it sent one
MAX_CLIENT_ID_CHARS = 128


def new_request_id() -> str:
    # A uuid4 per request costs a getrandom() call; a process prefix and a counter do not.
    return f"req_{_ID_PREFIX}{next(_ID_COUNTER):x}"


def client_request_id(headers: Mapping[str, str]) -> str | None:
    """The client's correlation id (`x-request-id` or `x-client-request-id`): logged and echoed, never what
    a request is counted under (a client could otherwise make two requests count as one)."""
    value = headers.get(REQUEST_ID) or headers.get(CLIENT_REQUEST_ID)
    if not value:
        return None
    value = "".join(ch for ch in value[:MAX_CLIENT_ID_CHARS] if ch.isprintable() and ch.isascii())
    return value or None


def id_headers(request_id: str, client_id: str | None) -> dict[str, str]:
    headers = {REQUEST_ID: request_id}
    if client_id is not None:
        headers[CLIENT_REQUEST_ID] = client_id
    return headers


@dataclass
class Admission:
    principal: Principal
    runtime: ModelRuntime  # a downgrade policy may swap it for a lower-carbon model
    endpoint: Endpoint
    request_id: str
    client_request_id: str | None = None
    stream: bool = False
    reservation: Reservation | None = None
    headers: dict[str, str] = field(default_factory=dict)  # the tenant's rate and budget headers
    tags: dict[str, str] = field(default_factory=dict)
    limit_spend: bool = True  # its spend counts toward its tenant's spend limits (priced in their currency)

    @property
    def reservation_id(self) -> str | None:
        return self.reservation.reservation_id if self.reservation is not None else None

    @property
    def urgent(self) -> bool:
        """Reserved on its own (not from a lease): its tenant is near a limit, where the held worst case
        should become the real usage at once."""
        return self.reservation is not None and not self.reservation.leased


def parse_tags(header: str | None) -> dict[str, str]:
    """`x-carbon-tags: k=v,k2=v2` → {"k": "v", "k2": "v2"}; at most 8 tags, 64 characters each."""
    if not header:
        return {}
    tags: dict[str, str] = {}
    for part in header.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip()[:MAX_TAG_CHARS], value.strip()[:MAX_TAG_CHARS]
        if sep and key and value and len(tags) < MAX_TAGS:
            tags[key] = value
    return tags
