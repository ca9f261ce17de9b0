"""Bearer API keys with roles (API.md "Auth").

Keys and roles come from ``PRICING_API_KEYS`` (``checkout:KEY1,admin:KEY2``).
``checkout`` may quote, reserve and read flash sales (and later claim); ``admin``
may do everything. No or unknown key: 401; a key whose role may not: 403. An
admitted key's id (``key_id``) is the ``caller`` that failed code attempts
are counted against (``app.coupons.attempts``); its name (``role:name:key``,
else its role) is ``Actor``, the ``updated_by`` of what it writes (``local``
when the service runs open).
Routers opt in with ``dependencies=[require("admin")]``; ``/healthz``,
``/readyz``, ``/metrics``, ``/docs`` and ``/openapi.json`` have no such
dependency. With no keys configured every call is allowed (local use;
``python -m app`` then refuses a non-loopback ``HOST``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.coupons.attempts import caller
from app.errors import Forbidden, Unauthorized
from app.wiring import Wiring

OPEN_NAME = "local"  # who writes when no keys are configured
_bearer = HTTPBearer(auto_error=False, description="An API key from PRICING_API_KEYS")


def role_of(keys: dict[str, str], presented: str) -> str | None:
    """The role of a presented key, comparing in constant time against every key."""
    found: str | None = None
    for key, role in keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = role
    return found


@lru_cache(maxsize=64)  # only admitted keys get here: as many entries as configured keys
def key_id(role: str, key: str) -> str:
    """Who called, for counting failed code attempts per key: the role and a
    digest of the key (the key itself is never stored)."""
    return f"{role}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class Admitted:
    """A call a key admitted: who it is for counting failed code attempts
    (``key_id``; None when the service runs open) and the key's name."""

    caller: str | None
    name: str


def admit(wiring: Wiring, role: str, key: str | None) -> Admitted:
    """Admit ``key`` (the credentials of ``Authorization: Bearer``, None without
    them) for ``role``: ``role`` and ``admin`` keys may; Unauthorized, Forbidden."""
    if not wiring.api_keys:
        return Admitted(None, OPEN_NAME)
    if key is None:
        raise Unauthorized("an API key is needed: Authorization: Bearer <key>")
    found = role_of(wiring.api_keys, key)
    if found is None:
        raise Unauthorized("unknown API key")
    if found != role and found != "admin":
        raise Forbidden(f"a {found} key may not do this; it needs the {role} role")
    return Admitted(key_id(found, key), wiring.api_key_names.get(key, found))


def require(role: str) -> Any:
    """A dependency admitting ``role`` and ``admin``."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        bearer = (
            credentials.credentials
            if credentials is not None and credentials.scheme.lower() == "bearer"
            else None
        )
        admitted = admit(request.app.state.wiring, role, bearer)
        if admitted.caller is not None:
            caller.set(admitted.caller)
        request.state.key_name = admitted.name

    return Depends(check)


async def _actor(request: Request) -> str:
    """The name of the admitted key (after ``require``)."""
    name: str = getattr(request.state, "key_name", OPEN_NAME)
    return name


Actor = Annotated[str, Depends(_actor)]
