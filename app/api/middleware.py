"""The ASGI middleware that counts, times and logs requests, and gives each one
a request id.

* ``pricing_http_requests_total{method, route, status}`` and
  ``pricing_http_request_duration_seconds{method, route, status}``: the route
  is the template (``/v1/reservations/{reservation_id}``), never the raw path,
  so the series stay few; a path no route matches is ``unmatched``.
* ``X-Request-ID``: the caller's when it is a safe token, else a new one
  (``app.observability.logs.request_id``); returned in the response and
  carried by every log line written while answering.
* One log line per request on the ``app.access`` logger (JSON under
  ``python -m app``): ``method``, ``route``, ``status``, ``duration_ms``,
  ``request_id``. ``/metrics``, ``/healthz`` and ``/readyz`` answered 200 are
  not logged (a scraper and probes would fill the log).

The rules metrics are the snapshot's (``app.promotions.snapshot``), the sale's
``app.observability.series``. Metrics live in the process's default registry;
with ``WORKERS`` > 1, ``python -m app`` turns on prometheus-client's
multiprocess mode, and ``/metrics`` adds up every worker's
(``app/api/routes/ops.py``).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import ACCESS_LOGGER, REQUEST_ID, request_id, sole_handler

REQUESTS = Counter(
    "pricing_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "pricing_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

access = logging.getLogger(ACCESS_LOGGER)

# the route template of a request answered outside FastAPI's routing (app.api.hot_paths)
ROUTE_KEY = "pricing.route"
_QUIET = frozenset({"/metrics", "/healthz", "/readyz"})
_HEADER = b"x-request-id"


def _given_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            return str(value.decode("latin-1"))
    return None


class MetricsMiddleware:
    """Counts, times and logs requests by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # the labelled children, by (method, route, status): ``labels()`` takes a lock
        # and checks its arguments on every call
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        rid = request_id(_given_id(scope))
        token = REQUEST_ID.set(rid)
        header = (_HEADER, rid.encode("latin-1"))

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = scope.get(ROUTE_KEY) or (
                route.path
                if isinstance(route, BaseRoute) and hasattr(route, "path")
                else "unmatched"
            )
            method = scope.get("method", "")
            key = (method, template, str(status))
            children = self._children.get(key)
            if children is None:
                children = (REQUESTS.labels(*key), LATENCY.labels(*key))
                self._children[key] = children
            children[0].inc()
            children[1].observe(elapsed)
            if access.isEnabledFor(logging.INFO) and not (status == 200 and template in _QUIET):
                sink = sole_handler(access)
                if sink is not None:  # python -m app's logging: the line without a record
                    sink.access(method, template, status, round(elapsed * 1000, 3))
                else:
                    self._log(method, template, status, elapsed)
            REQUEST_ID.reset(token)

    @staticmethod
    def _log(method: str, template: str, status: int, elapsed: float) -> None:
        access.info(
            "%s %s %d",
            method,
            template,
            status,
            extra={
                "method": method,
                "route": template,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )
