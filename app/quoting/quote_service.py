"""The quote service: gather the inputs, call the pure engine, hand back its answer.

No database on this path except resolving the coupon codes the customer
presented (and, with ``auto_coupons``, reading their wallet), each under the
repository's timeout. Shared codes are remembered per rules version
(``SharedCodes``): every write of codes or promotions bumps the version, and a
shared code has no per-customer state, so a quote that presents only known
shared codes does not touch the database. Rules come from the in-memory snapshot; stock and
counters from a ``CounterReader``. The engine's ``price`` is handed in (a
``PriceFunction``), so the shell can be tested with a fake one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from app.coupons.codes import is_valid, normalize
from app.errors import Unavailable
from app.inventory.counter_reader import CounterReader
from app.promotions.repository import PromotionRepository, StoredCode
from app.promotions.snapshot import RulesSource
from app.rules.model import PresentedCoupon, Quote, QuoteRequest
from app.rules.ruleset import RuleSet


class PriceFunction(Protocol):
    """``app.rules.engine.price``, or a fake of it."""

    def __call__(
        self,
        rules: RuleSet,
        request: QuoteRequest,
        *,
        work_limit: int | None = None,
        pause: Callable[[], None] | None = None,
    ) -> Quote: ...


def _let_others_run() -> None:
    """Hand the GIL over if another thread (the event loop) waits for it: a sleep
    of zero releases it, and CPython makes the releasing thread wait until the one
    that asked has taken it. Called by the engine thread's search every few hundred
    line steps (the compiled engine never passes through the interpreter, where the
    GIL is otherwise handed over)."""
    time.sleep(0)


class Quoter(Protocol):
    """What prices a cart for a caller: ``QuoteService``, or it wrapped (failed code
    attempts limited: ``app.coupons.attempts.GuardedQuotes``)."""

    async def quote(self, query: QuoteQuery, *, at: datetime | None = None) -> Quoted: ...


# A quote whose search needs more than this many line steps (a millisecond or two)
# is priced again, with the engine's full bound (tens of milliseconds at most), on
# the engine thread, so that the event loop keeps answering health checks and light
# quotes. A walk that finishes is exact: either run gives the same answer.
INLINE_WORK_LIMIT = 2_000
# Carts longer than this go to the engine thread at once: gathering and explaining
# hundreds of lines costs milliseconds whatever the search does.
INLINE_MAX_LINES = 64


@dataclass(frozen=True, slots=True)
class QuoteQuery:
    """What a caller asks a quote for: the cart (``request``: lines, customer,
    channel, currency, shipping fee, time; no coupons or readings yet), the codes
    it presents as typed, and whether to bring the customer's wallet."""

    request: QuoteRequest
    coupon_codes: Sequence[str] = ()
    auto_coupons: bool = False


@dataclass(frozen=True, slots=True)
class Quoted:
    """The engine's answer, and the stored codes it was given (presented or in
    the wallet), by code: a reservation holds the single-use ones it applied."""

    quote: Quote
    codes: Mapping[str, StoredCode]


class SharedCodes:
    """The shared codes resolved since the rules version last changed.

    A shared code (one code for everyone) changes only through the admin API, and
    each such write (adding codes, deleting or replacing a promotion) bumps the
    rules version; so what the database said about it holds until the snapshot's
    version moves, and it is forgotten then. Unique codes (used, owned, held by a
    reservation) and unknown codes are asked every time.
    """

    def __init__(self) -> None:
        self._version: str | None = None
        self._codes: dict[str, StoredCode] = {}

    def known(self, version: str) -> Mapping[str, StoredCode]:
        """The shared codes remembered for rules ``version`` (none after a change)."""
        return self._for(version)

    def remember(self, version: str, found: Mapping[str, StoredCode]) -> None:
        """Keep the shared ones among codes the repository resolved under ``version``."""
        codes = self._for(version)
        for code, stored in found.items():
            if stored.kind == "shared":
                codes[code] = stored

    def _for(self, version: str) -> dict[str, StoredCode]:
        if version != self._version:
            self._version = version
            self._codes = {}
        return self._codes


class QuoteService:
    """One per process, made by ``lifespan``."""

    def __init__(
        self,
        *,
        rules: RulesSource,
        repository: PromotionRepository,
        counters: CounterReader,
        price: PriceFunction,
    ) -> None:
        self._rules = rules
        self._repository = repository
        self._counters = counters
        self._price = price
        self._shared_codes = SharedCodes()
        # One thread: pure-Python work does not run in parallel under the GIL, and
        # the interpreter hands the event loop the GIL back every few milliseconds.
        self._engine_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")

    @property
    def rules(self) -> RuleSet:
        """The rules of this moment (a preview builds its own from them)."""
        return self._rules.rules

    def close(self) -> None:
        """Let the engine thread finish what it has and end (``lifespan`` calls it)."""
        self._engine_thread.shutdown(wait=False, cancel_futures=True)

    async def _run_engine(self, rules: RuleSet, request: QuoteRequest) -> Quote:
        """On the event loop when the cart and its search are light, else on the
        engine thread with the engine's full work bound."""
        if len(request.lines) <= INLINE_MAX_LINES:
            quote = self._price(rules, request, work_limit=INLINE_WORK_LIMIT)
            if not quote.search_stopped:
                return quote
        loop = asyncio.get_running_loop()
        priced = partial(self._price, rules, request, pause=_let_others_run)
        return await loop.run_in_executor(self._engine_thread, priced)

    async def quote(
        self,
        query: QuoteQuery,
        *,
        at: datetime | None = None,
        rules: RuleSet | None = None,
        uncounted: frozenset[str] = frozenset(),
    ) -> Quoted:
        """Price the cart against the current rules with live readings; ``at``
        replaces the request's time (a reservation holds today's price). A preview
        hands in its own ``rules`` and the ids of promotions not stored yet
        (``uncounted``): their counters are read as fresh (full stock, no uses)."""
        live = self._rules.rules
        rules = rules or live
        codes = _distinct(query.coupon_codes)
        presented: tuple[PresentedCoupon, ...] = ()
        wallet: tuple[PresentedCoupon, ...] = ()
        stored: dict[str, StoredCode] = {}
        customer_id = query.request.customer.id
        codes_unread = False
        try:
            known = await self._resolve(live.version, codes) if codes else {}
            presented = tuple(_presented(code, known.get(code)) for code in codes)
            stored = dict(known)
            if query.auto_coupons and customer_id is not None:
                owned = await self._repository.customer_codes(customer_id)
                owned = [c for c in owned if c.code not in known]
                wallet = tuple(_presented(c.code, c) for c in owned)
                stored.update((c.code, c) for c in owned)
        except Unavailable:
            # the database is down (or its breaker open): price from the snapshot without
            # the codes, degraded, rather than not at all; a reservation refuses it
            presented, wallet, stored, codes_unread = (), (), {}, True
        readings = await self._counters.read(
            rules=rules,
            lines=query.request.lines,
            customer_id=customer_id,
            coupon_promotions=[c.promotion_id for c in (*presented, *wallet) if c.promotion_id],
            fresh=uncounted,
        )
        request = dataclasses.replace(
            query.request,
            at=at or query.request.at,
            coupons=presented,
            wallet=wallet,
            readings=readings,
        )
        quote = await self._run_engine(rules, request)
        if codes_unread:
            quote = dataclasses.replace(quote, degraded=True)
        return Quoted(quote=quote, codes=stored)

    async def _resolve(self, version: str, codes: Sequence[str]) -> dict[str, StoredCode]:
        """The stored codes among ``codes``: shared ones remembered for this rules
        version, the rest from the repository."""
        shared = self._shared_codes.known(version)
        known = {c: shared[c] for c in codes if c in shared}
        ask = [c for c in codes if c not in known and is_valid(c)]
        if ask:
            found = await self._repository.resolve_codes(ask)
            self._shared_codes.remember(version, found)
            known.update(found)
        return known


def _distinct(codes: Sequence[str]) -> list[str]:
    """Normalised, each once, in the order first presented."""
    return list(dict.fromkeys(normalize(c) for c in codes if normalize(c)))


def _presented(code: str, stored: StoredCode | None) -> PresentedCoupon:
    if stored is None:
        return PresentedCoupon(code=code, promotion_id=None)
    return PresentedCoupon(
        code=code,
        promotion_id=stored.promotion_id,
        owner=stored.customer_id,
        used=stored.kind == "unique" and stored.status != "available",
    )
