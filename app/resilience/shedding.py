"""The load-shedding policy: a bound on requests in flight in this process.

Beyond ``limit`` requests being answered at once, a new one is refused at
once (``Overloaded``: 503 ``overloaded`` with ``Retry-After``) instead of
queueing behind the others until every caller times out. The bound is per
process (each uvicorn worker has its own), counts requests rather than CPU,
and needs no lock (one event loop). ``app.api.load_shedding`` applies it to
HTTP; ``docs/resilience.md`` says how the limit is chosen.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from app.errors import Overloaded

IN_FLIGHT = Gauge("pricing_http_in_flight", "Requests being answered (bounded ones)")
SHED = Counter("pricing_http_shed_total", "Requests refused at once: too many in flight")


class InFlightLimit:
    """``enter()`` admits a request or raises ``Overloaded``; ``leave()`` when it is answered."""

    def __init__(self, limit: int, *, retry_after: int = 1) -> None:
        if limit < 1:
            raise ValueError("the in-flight limit must be at least 1")
        self.limit = limit
        self.retry_after = retry_after
        self.in_flight = 0

    def enter(self) -> None:
        if self.in_flight >= self.limit:
            SHED.inc()
            raise Overloaded(
                f"{self.in_flight} requests are in flight in this process (the limit is "
                f"{self.limit}); retry",
                retry_after=self.retry_after,
            )
        self.in_flight += 1
        IN_FLIGHT.inc()

    def leave(self) -> None:
        self.in_flight -= 1
        IN_FLIGHT.dec()
