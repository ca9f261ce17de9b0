"""The ASGI middleware that sheds load: ``app.resilience.shedding.InFlightLimit`` on HTTP.

The outermost of the app's middleware, so that a refused request costs no
routing, no authentication and no body parsing: it gets its 503
``overloaded`` (problem+json, ``Retry-After``) at once. ``/healthz``,
``/readyz`` and ``/metrics`` are exempt: an orchestrator must still see a busy
instance alive and ready (a busy instance is not a broken one; taking it out
of rotation would push its load onto the others), and a scrape must not be
refused when it matters most.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import problem_response
from app.errors import Overloaded
from app.resilience.shedding import InFlightLimit

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


class LoadSheddingMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int, retry_after: int = 1) -> None:
        self.app = app
        self.limit = InFlightLimit(limit, retry_after=retry_after)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT:
            await self.app(scope, receive, send)
            return
        try:
            self.limit.enter()
        except Overloaded as refused:
            response = problem_response(
                status=refused.status,
                code=refused.code,
                title=refused.title,
                detail=refused.detail,
                headers={"Retry-After": str(refused.retry_after)},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limit.leave()
