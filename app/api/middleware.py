"""The ASGI middleware that counts and times requests for Prometheus.

The rules metrics are the snapshot's (``app.promotions.snapshot``). Metrics
live in the process's default registry (one set per process; with
``WORKERS`` > 1 each worker answers ``/metrics`` for itself).
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "pricing_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "pricing_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class MetricsMiddleware:
    """Counts requests by method, route template (not raw path) and status."""

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

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = (
                route.path
                if isinstance(route, BaseRoute) and hasattr(route, "path")
                else "unmatched"
            )
            key = (scope.get("method", ""), template, str(status))
            children = self._children.get(key)
            if children is None:
                method, _, code = key
                children = (
                    REQUESTS.labels(method, template, code),
                    LATENCY.labels(method, template),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
