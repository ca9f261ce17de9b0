"""The quote service: gather the inputs, call the pure engine, map its answer.

No database on this path except resolving the coupon codes the customer
presented (and, with ``auto_coupons``, reading their wallet), each under the
repository's timeout. Rules come from the in-memory snapshot the caller hands
in; stock and counters from a ``CounterReader``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.api.schemas import QuoteBody, QuoteResponse
from app.coupons.codes import is_valid, normalize
from app.inventory.readings import CounterReader
from app.rules.model import PresentedCoupon, Quote, QuoteRequest
from app.rules.ruleset import RuleSet
from app.storage.repository import PromotionRepository, StoredCode

Pricer = Callable[[RuleSet, QuoteRequest], Quote]


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
    result = pricer(rules, dataclasses.replace(request, readings=readings))
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
