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


def key_id(role: str, key: str) -> str:
    """Who called, for counting failed code attempts per key: the role and a
    digest of the key (the key itself is never stored)."""
    return f"{role}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def require(role: str) -> Any:
    """A dependency admitting ``role`` and ``admin``."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        wiring: Wiring = request.app.state.wiring
        if not wiring.api_keys:
            request.state.key_name = OPEN_NAME
            return
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("an API key is needed: Authorization: Bearer <key>")
        found = role_of(wiring.api_keys, credentials.credentials)
        if found is None:
            raise Unauthorized("unknown API key")
        if found != role and found != "admin":
            raise Forbidden(f"a {found} key may not do this; it needs the {role} role")
        caller.set(key_id(found, credentials.credentials))
        request.state.key_name = wiring.api_key_names.get(credentials.credentials, found)

    return Depends(check)


async def _actor(request: Request) -> str:
    """The name of the admitted key (after ``require``)."""
    name: str = getattr(request.state, "key_name", OPEN_NAME)
    return name


Actor = Annotated[str, Depends(_actor)]
