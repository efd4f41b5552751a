"""Who may call, and may this request go ahead: the two access modes the gateway starts in.

`OpenAccess` while nothing needs a key (no master key, no admin key, no tenant: the demo default);
`TenantGuard` (guard.py) once anything does.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request

from gateway import auth
from gateway.admission import Admission


class Access(Protocol):
    @property
    def anonymous(self) -> bool: ...

    async def authenticate(self, request: Request) -> auth.Principal: ...

    async def admit(self, admission: Admission, payload: dict[str, Any]) -> None:
        """Check the tenant's limits and reserve the request's worst case, or raise a 429;
        may route the admission to a downgrade model."""

    def revoked(self, key_id: str) -> None:
        """A key was revoked: stop trusting it in this worker at once."""

    def changed(self, tenant_id: str) -> None:
        """A tenant's limits changed: read them again in this worker at once."""


class OpenAccess:
    anonymous = True

    async def authenticate(self, request: Request) -> auth.Principal:
        return auth.ANONYMOUS

    async def admit(self, admission: Admission, payload: dict[str, Any]) -> None:
        return None

    def revoked(self, key_id: str) -> None:
        return None

    def changed(self, tenant_id: str) -> None:
        return None
