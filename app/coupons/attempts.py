"""Failed code attempts, limited per customer and per API key (guessing codes).

A quote (or anything priced through ``GuardedQuotes``) that presents codes
counts its failed ones: ``unknown_code`` and ``not_owner``. Each subject (the
customer id; the API key that called) may fail ``limit`` times in a fixed
window; a request whose failures would go past the limit, and every request
with codes after it until the window ends, is refused with ``RateLimited``
(429 ``rate_limited`` with ``Retry-After``: the seconds left in the window).
Requests without codes are never counted nor refused, and one customer's
failures do not touch another's (the API key's limit is set far higher).

The counts live in Redis (``app.coupons.redis_attempts``), one key per
subject, so every instance sees the same counts. When Redis does not answer,
attempts are not limited (the quote itself still works): abuse protection
fails open, pricing does not fail closed.

Who called is the ``caller`` context variable: ``app.api.auth`` sets it to an
id of the key (never the key itself) when it admits a request.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.errors import RateLimited, Unavailable
from app.quoting.quote_service import Quoted, QuoteQuery, QuoteService
from app.rules.model import Reason

log = logging.getLogger(__name__)

FAILED = frozenset({Reason.UNKNOWN_CODE, Reason.NOT_OWNER})

caller: ContextVar[str | None] = ContextVar("caller", default=None)


class AttemptCounter(Protocol):
    async def add(self, subject: str, failures: int, *, window_ms: int) -> tuple[int, int]:
        """Add ``failures`` (0: only read) to ``subject``'s window: the failures in
        it now and the milliseconds until it ends."""


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    per_customer: int
    per_key: int
    window_seconds: float


class CodeAttempts:
    """The policy: which subjects a request counts against, and their limits."""

    def __init__(self, counter: AttemptCounter, limits: AttemptLimits) -> None:
        self._counter = counter
        self._limits = limits
        self._window_ms = max(1, int(limits.window_seconds * 1000))

    def guarding(self, quotes: QuoteService) -> GuardedQuotes:
        return GuardedQuotes(quotes, self)

    def subjects(self, customer_id: str | None) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        if customer_id:
            found.append((f"c:{customer_id}", self._limits.per_customer))
        key = caller.get()
        if key:
            found.append((f"k:{key}", self._limits.per_key))
        return found

    async def check(self, subjects: Sequence[tuple[str, int]], failures: int = 0) -> None:
        """Refuse when a subject is past its limit (``failures`` 0: before the
        request), or would be with this request's ``failures`` added."""
        if not subjects:
            return
        try:
            answers = await asyncio.gather(
                *(
                    self._counter.add(subject, failures, window_ms=self._window_ms)
                    for subject, _ in subjects
                )
            )
        except Unavailable as exc:
            log.warning("failed code attempts not counted: %s", exc)
            return
        for (subject, limit), (count, ttl_ms) in zip(subjects, answers, strict=True):
            over = count > limit if failures else count >= limit
            if over:
                kind = "customer" if subject.startswith("c:") else "API key"
                raise RateLimited(
                    f"too many failed coupon codes from this {kind}; try again later",
                    retry_after=max(1, math.ceil(ttl_ms / 1000)),
                )


class GuardedQuotes:
    """``QuoteService.quote`` with failed code attempts limited."""

    __slots__ = ("_attempts", "_quotes")

    def __init__(self, quotes: QuoteService, attempts: CodeAttempts) -> None:
        self._quotes = quotes
        self._attempts = attempts

    async def quote(self, query: QuoteQuery, *, at: datetime | None = None) -> Quoted:
        if not query.coupon_codes:
            return await self._quotes.quote(query, at=at)
        subjects = self._attempts.subjects(query.request.customer.id)
        await self._attempts.check(subjects)
        quoted = await self._quotes.quote(query, at=at)
        failures = sum(1 for c in quoted.quote.coupons if c.reason in FAILED)
        if failures:
            await self._attempts.check(subjects, failures)
        return quoted
