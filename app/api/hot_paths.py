"""The three calls a checkout makes at peak, answered without FastAPI's request
handling: ``POST /v1/quote``, ``POST /v1/reservations``, ``POST /v1/coupons/claim``.

Why: profiled under load (py-spy, docs/performance.md "The framework's share"),
FastAPI spent as much of the event loop's time on routing through its layers
and solving a claim's three dependencies as the claim spent being claimed. This
ASGI layer sits inside ``MetricsMiddleware`` (so counting, timing, request ids
and load shedding are unchanged) and answers those three calls itself with
the *same* pieces: the route's pydantic body model, validated in Python mode
from ``json.loads`` exactly as FastAPI validates it; ``app.api.auth.admit``;
the route's own work (``answer_quote``, ``answer_reserve``, ``answer_claim``);
and the app's error mapping (``app.api.problems.problem_of``).

It answers only what it can answer exactly as the route would: a JSON
``Content-Type``, ``Authorization: Bearer <key>`` that ``admit`` accepts (or
none, when the service runs open), a body under ``MAX_BODY`` that is JSON and
validates. Anything else — no key, a refused key, a body that does not
validate, another media type — is handed to FastAPI with the body it read
replayed, and FastAPI answers it as it always has (401, 403, the 422 with every
problem listed). Nothing has happened when that decision is made, so a request
handed over has had no effect. ``HOT_PATHS=false`` turns the layer off (every
request through FastAPI), for comparison and as a switch should the two ever
disagree; ``tests/api/test_hot_paths.py`` checks that they do not.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import admit
from app.api.middleware import ROUTE_KEY
from app.api.problems import problem_of
from app.api.routes.coupons import answer_claim
from app.api.routes.quote import answer_quote
from app.api.routes.reservations import answer_reserve
from app.api.schemas import ClaimBody, QuoteBody, ReservationBody
from app.api.wording import language_of
from app.coupons.attempts import caller
from app.errors import PricingError
from app.wiring import Wiring

# a body longer than this is left to FastAPI (a cart of hundreds of lines is ~50 KiB)
MAX_BODY = 1 << 20

Answer = Callable[[Any, Wiring, Scope], Awaitable[Response]]


async def _quote(body: Any, wiring: Wiring, scope: Scope) -> Response:
    words = language_of(_header(scope, b"accept-language"))
    return await answer_quote(body, wiring.attempts.guarding(wiring.quotes), words)


async def _reserve(body: Any, wiring: Wiring, scope: Scope) -> Response:  # noqa: ARG001
    return await answer_reserve(body, wiring.reservations)


async def _claim(body: Any, wiring: Wiring, scope: Scope) -> Response:  # noqa: ARG001
    return await answer_claim(body, wiring.claims)


@dataclass(frozen=True, slots=True)
class HotPath:
    path: str
    model: type[BaseModel]
    role: str
    answer: Answer


HOT = {
    hot.path: hot
    for hot in (
        HotPath("/v1/quote", QuoteBody, "checkout", _quote),
        HotPath("/v1/reservations", ReservationBody, "checkout", _reserve),
        HotPath("/v1/coupons/claim", ClaimBody, "checkout", _claim),
    )
}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json"


def _bearer(authorization: str | None) -> tuple[bool, str | None]:
    """(understood, key): ``Bearer <key>`` gives its key, no header None; anything
    else is not understood here (FastAPI's ``HTTPBearer`` reads it)."""
    if authorization is None:
        return True, None
    scheme, space, key = authorization.partition(" ")
    if not space or scheme.lower() != "bearer" or not key or key != key.strip() or " " in key:
        return False, None
    return True, key


def _replaying(body: bytes, more_body: bool, receive: Receive) -> Receive:
    """``receive`` with the body already read given back first."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": more_body}
        return await receive()

    return replay


class HotPaths:
    """ASGI middleware; ``api`` is the FastAPI app (its ``state.wiring``)."""

    def __init__(self, app: ASGIApp, *, api: FastAPI) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = (
            HOT.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        wiring: Wiring | None = getattr(self.api.state, "wiring", None)
        if hot is None or wiring is None or not _is_json(_header(scope, b"content-type")):
            await self.app(scope, receive, send)
            return
        understood, key = _bearer(_header(scope, b"authorization"))
        try:
            admitted = admit(wiring, hot.role, key) if understood else None
        except PricingError:
            admitted = None  # FastAPI answers the 401 or 403
        if admitted is None:
            await self.app(scope, receive, send)
            return
        # the body
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > MAX_BODY:
                break
        raw = b"".join(chunks)
        body: BaseModel | None = None
        if not more:
            try:
                body = hot.model.model_validate(json.loads(raw))
            except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
                body = None
        if body is None:
            await self.app(scope, _replaying(raw, more, receive), send)
            return
        scope[ROUTE_KEY] = hot.path  # the metrics' route label, as FastAPI's route gives it
        token = caller.set(admitted.caller) if admitted.caller is not None else None
        try:
            response = await hot.answer(body, wiring, scope)
        except Exception as exc:
            response = await problem_of(Request(scope), exc)
        finally:
            if token is not None:
                caller.reset(token)
        await response(scope, receive, send)
