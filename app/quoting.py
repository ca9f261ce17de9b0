"""The quote service: gather the inputs, call the pure engine, map its answer.

No database on this path except resolving the coupon codes the customer
presented (and, with ``auto_coupons``, reading their wallet), each under the
repository's timeout. Rules come from the in-memory snapshot the caller hands
in; stock and counters from a ``CounterReader``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from app.api.schemas import QuoteBody, QuoteResponse
from app.coupons.codes import is_valid, normalize
from app.inventory.readings import CounterReader
from app.rules.model import PresentedCoupon, Quote, QuoteRequest
from app.rules.ruleset import RuleSet
from app.storage.repository import PromotionRepository, StoredCode


class Pricer(Protocol):
    """The pure engine's entry point (``app.rules.engine.price``), or a fake of it."""

    def __call__(
        self, rules: RuleSet, request: QuoteRequest, *, work_limit: int | None = None
    ) -> Quote: ...


# A quote whose search needs more than this many line steps (a millisecond or two)
# is priced again, with the engine's full bound (tens of milliseconds at most), on
# the engine thread: the event loop keeps answering health checks and light quotes.
# A walk that finishes is exact, so either run gives the same answer.
INLINE_WORK_LIMIT = 2_000
# One thread per process: pure-Python work does not run in parallel under the GIL,
# and the interpreter hands the event loop the GIL back every few milliseconds.
_ENGINE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")


async def run_engine(pricer: Pricer, rules: RuleSet, request: QuoteRequest) -> Quote:
    """Price on the event loop when the search is light, else on the engine thread."""
    quote = pricer(rules, request, work_limit=INLINE_WORK_LIMIT)
    if not quote.search_stopped:
        return quote
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_ENGINE_THREAD, partial(pricer, rules, request))


@dataclass(frozen=True, slots=True)
class Priced:
    """The engine's answer, and the stored codes it was given (presented or in
    the wallet), by code: a reservation holds the single-use ones it applied."""

    quote: Quote
    codes: Mapping[str, StoredCode]


async def price(
    *,
    body: QuoteBody,
    rules: RuleSet,
    repository: PromotionRepository,
    counters: CounterReader,
    pricer: Pricer,
    now: datetime,
) -> Priced:
    codes = _distinct(body.coupon_codes)
    known = await repository.resolve_codes([c for c in codes if is_valid(c)]) if codes else {}
    presented = tuple(_presented(code, known.get(code)) for code in codes)
    wallet: tuple[PresentedCoupon, ...] = ()
    stored = dict(known)
    if body.auto_coupons and body.customer.id is not None:
        owned = await repository.customer_codes(body.customer.id)
        owned = [c for c in owned if c.code not in known]
        wallet = tuple(_presented(c.code, c) for c in owned)
        stored.update((c.code, c) for c in owned)
    request = body.to_request(at=now, coupons=presented, wallet=wallet)
    readings = await counters.read(
        rules=rules,
        lines=request.lines,
        customer_id=request.customer.id,
        coupon_promotions=[c.promotion_id for c in (*presented, *wallet) if c.promotion_id],
    )
    result = await run_engine(pricer, rules, dataclasses.replace(request, readings=readings))
    return Priced(quote=result, codes=stored)


async def quote(
    *,
    body: QuoteBody,
    rules: RuleSet,
    repository: PromotionRepository,
    counters: CounterReader,
    pricer: Pricer,
    now: datetime,
) -> QuoteResponse:
    priced = await price(
        body=body,
        rules=rules,
        repository=repository,
        counters=counters,
        pricer=pricer,
        now=now,
    )
    return QuoteResponse.from_quote(priced.quote)


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
