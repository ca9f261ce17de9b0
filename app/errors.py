"""The service's error tree, documented in one place.

Services, storage and auth raise these; nothing below the routers raises an
HTTP exception. ``app.api.problems`` is the one place that turns them (and the
framework's own errors) into ``application/problem+json``.

    PricingError                 base; never raised itself      500 internal_error
    ├── NotFound                 no such promotion / route       404 not_found
    ├── Conflict                 duplicate id or code, wrong     409 conflict
    │                            kind of promotion for codes,
    │                            a coupon code held elsewhere,
    │                            cancelling a confirmed order
    ├── PriceChanged             expected_total differs from     409 price_changed
    │                            the price now (+ "quote")
    ├── SoldOut                  flash-sale stock ran out        409 sold_out
    │                            between quote and take (+ "quote")
    ├── LimitReached             a per-customer limit, usage     409 limit_reached
    │                            limit or budget ran out (+ "quote")
    ├── ReservationExpired       confirming an expired or        409 reservation_expired
    │                            cancelled reservation
    ├── NotEligible              a claim the promotion's         409 not_eligible
    │                            conditions or window exclude
    ├── PreconditionFailed       ``If-Match`` names a version    412 precondition_failed
    │                            that is not the current one
    │                            (nothing changed)
    ├── InvalidInput             a request that passed the       422 validation_error
    │   │                        schema but is still wrong
    │   │                        (``errors`` lists each problem)
    │   └── DeepDiscount         a promotion whose benefit can   422 deep_discount
    │                            take more than MAX_DISCOUNT_
    │                            PERCENT off, not confirmed
    │                            (``errors`` names each part)
    ├── Unauthorized             no or unknown API key           401 unauthorized
    ├── Forbidden                the key's role may not do it    403 forbidden
    ├── RateLimited              too many failed code attempts   429 rate_limited
    │                            (customer or API key)              + Retry-After
    ├── Unavailable              a dependency (database, Redis)  503 unavailable
    │   │                        did not answer in time;            + Retry-After
    │   │                        ``retry_after`` seconds
    │   └── CircuitOpen          its circuit breaker is open:    503 unavailable
    │                            failing fast, nothing sent         + Retry-After
    └── Overloaded               too many requests in flight     503 overloaded
                                 in this process (raised by the     + Retry-After
                                 shedding policy, answered by
                                 ``app.api.load_shedding``)

``extra`` holds members added to the problem body beside the standard ones
(the fresh ``quote`` of a 409 from a reservation, as the engine's ``Quote``:
the shell renders it as the API's quote).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem with an input: where (``loc``) and what (``msg``)."""

    loc: tuple[str | int, ...]
    msg: str


class PricingError(Exception):
    """Base of every error the service raises on purpose."""

    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str = "", *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra: Mapping[str, Any] = extra or {}


class NotFound(PricingError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(PricingError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PriceChanged(PricingError):
    status = 409
    code = "price_changed"
    title = "Price changed"


class SoldOut(PricingError):
    status = 409
    code = "sold_out"
    title = "Sold out"


class LimitReached(PricingError):
    status = 409
    code = "limit_reached"
    title = "Limit reached"


class ReservationExpired(PricingError):
    status = 409
    code = "reservation_expired"
    title = "Reservation expired"


class PreconditionFailed(PricingError):
    status = 412
    code = "precondition_failed"
    title = "Precondition failed"


class InvalidInput(PricingError):
    status = 422
    code = "validation_error"
    title = "Invalid input"

    def __init__(self, detail: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(detail)
        self.problems = tuple(problems)


class DeepDiscount(InvalidInput):
    """The publish guard (``app.promotions.guard``): the body did not say
    ``confirm_deep_discount``."""

    code = "deep_discount"
    title = "Deep discount not confirmed"


class Unauthorized(PricingError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(PricingError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Unavailable(PricingError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class NotEligible(PricingError):
    status = 409
    code = "not_eligible"
    title = "Not eligible"


class RateLimited(PricingError):
    status = 429
    code = "rate_limited"
    title = "Too many failed attempts"

    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class CircuitOpen(Unavailable):
    """A circuit breaker refused the call: nothing was sent to the dependency."""


class Overloaded(PricingError):
    status = 503
    code = "overloaded"
    title = "Overloaded"

    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
