"""Reservations (try / confirm / cancel): hold what a price needs, then sell it or give it back.

``ReservationService.reserve`` prices the cart with live readings, writes a
``pending`` row (the ``order_id`` is unique: that row is the idempotency
key), takes the flash-sale units, uses and budget in Redis
(``Inventory.take``, all or nothing), then in one transaction holds the
single-use coupon codes and turns the row ``reserved``. Every way out after
the take gives back what was taken. ``confirm`` moves the Redis holdings to
sold, then writes the order to the ledger in one transaction; ``cancel``
and expiry give everything back. docs/reservations.md records the life
cycle, the failure paths and why they cannot oversell.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.errors import (
    CircuitOpen,
    Conflict,
    LimitReached,
    NotFound,
    PriceChanged,
    PricingError,
    ReservationExpired,
    SoldOut,
    Unavailable,
)
from app.inventory.ledger import (
    Marked,
    NewOrder,
    NewReservation,
    OrderAdjustment,
    OrderCoupon,
    OrderLine,
    OrderPromotion,
    ReservationRepository,
    ReservationStatus,
    ReservedPromotion,
    Settlement,
    StoredReservation,
)
from app.inventory.order_document import RecordQuote
from app.inventory.stock import (
    ConfirmCode,
    Inventory,
    PromotionTake,
    ReleaseCode,
    TakeCode,
    TakeResult,
)
from app.observability import series
from app.quoting.quote_service import Quoted, QuoteQuery, Quoter
from app.rules.model import FlashSale, Quote

log = logging.getLogger(__name__)

_ATTEMPTS = 3  # a twin's row vanishing (its take failed) sends us round again, at most this often
_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    """A cart to reserve for ``customer_id`` under the caller's ``order_id`` (the
    idempotency key); ``expected_total`` refuses a price other than the one shown."""

    order_id: str
    customer_id: str
    query: QuoteQuery
    expected_total: int | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReservationService:
    """The reservation service. One per process, made by ``lifespan``."""

    def __init__(
        self,
        *,
        quotes: Quoter,
        ledger: ReservationRepository,
        inventory: Inventory,
        record_quote: RecordQuote,
        ttl: timedelta,
        wait_seconds: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._quotes = quotes
        self._ledger = ledger
        self._inventory = inventory
        self._record_quote = record_quote
        self._ttl = ttl
        self._wait_seconds = wait_seconds
        self._clock = clock

    # ---------------------------------------------------------------- reserve

    async def reserve(self, request: ReservationRequest) -> tuple[StoredReservation, bool]:
        """The reservation for ``request.order_id``, and whether this call made it.

        The ledger is read only when the attempt does not make a reservation
        (it lost, or a twin wrote the order_id first): a repeat of an order that
        has a reservation is answered with it, whatever its body (even a stale
        ``expected_total``), after pricing it."""
        for _ in range(_ATTEMPTS):
            reservation_id = f"r-{uuid.uuid4().hex}"
            try:
                made = await self._attempt(request, reservation_id)
            except PricingError:
                # whatever the body, an order_id that has a reservation gets it; a
                # pending row this attempt left behind (its removal failed) is not
                # waited for: it will never settle, the sweeper removes it
                existing = await self._existing(request.order_id, own=reservation_id)
                if existing is None:
                    raise
                return existing, False
            if made is not None:
                return made, True
            existing = await self._existing(request.order_id, own=reservation_id)
            if existing is not None:
                return existing, False
        raise Unavailable("another request for this order_id keeps failing; retry")

    async def _existing(self, order_id: str, *, own: str | None = None) -> StoredReservation | None:
        """The order's reservation once it has settled (a twin request may still be
        making it); None when there is none, the twin's attempt failed, or the row
        is ``own``'s (the caller's failed attempt) and still pending."""
        found = await self._ledger.by_order(order_id)
        if found is not None and found.id == own and found.status is ReservationStatus.PENDING:
            return None
        deadline = time.monotonic() + self._wait_seconds
        while found is not None and found.status is ReservationStatus.PENDING:
            if time.monotonic() > deadline:
                raise Unavailable("a reservation for this order_id is still being made; retry")
            await asyncio.sleep(_POLL_SECONDS)
            found = await self._ledger.get(found.id)
        return found

    async def _quote(self, request: ReservationRequest, now: datetime) -> Quoted:
        # a reservation holds today's price: the request's time does not apply
        return await self._quotes.quote(request.query, at=now)

    async def _attempt(
        self, request: ReservationRequest, reservation_id: str
    ) -> StoredReservation | None:
        now = self._clock()
        priced = await self._quote(request, now)
        if priced.quote.degraded:
            raise Unavailable(
                "stock and usage counters cannot be read (Redis): nothing was reserved"
            )
        expected = request.expected_total
        if expected is not None and priced.quote.total != expected:
            raise PriceChanged(
                f"the total is {priced.quote.total}, not the expected {expected}; "
                "nothing was reserved",
                extra={"quote": priced.quote},
            )
        customer_id = request.customer_id
        takes, promotions = plan(priced.quote)
        new = NewReservation(
            id=reservation_id,
            order_id=request.order_id,
            customer_id=customer_id,
            expires_at=now + self._ttl,
            created_at=now,
            currency=priced.quote.currency,
            total=priced.quote.total,
            quote=self._record_quote(priced.quote),
            rules_version=priced.quote.rules_version,
            promotions=promotions,
            coupon_codes=single_use_codes(priced),
        )
        if not await self._ledger.add_pending(new):
            return None  # a twin wrote its row first: answer with that one
        if takes:
            try:
                taken = await self._inventory.take(
                    new.id, customer_id=customer_id, takes=takes, now=now, expires_at=new.expires_at
                )
            except Unavailable:
                # the take gave back what it could; the rest expires in Redis
                await self._forget(new.id)
                raise
            if not taken.ok:
                await self._forget(new.id)
                raise await self._refusal(taken, request)
        try:
            marked = await self._ledger.mark_reserved(
                new.id, customer_id=customer_id, codes=new.coupon_codes, now=now
            )
        except CircuitOpen:  # refused before anything was sent: the row is still pending
            await self._give_back(new, now)
            raise
        except Unavailable:
            # a deadline or a lost connection after the statement went out: the row may
            # be reserved already (the database did it, the answer came too late)
            await self._withdraw(new, now)
            raise
        if marked is Marked.CODE_TAKEN:
            await self._give_back(new, now)
            raise Conflict(
                "a single-use coupon code in this cart is held by another order; "
                "nothing was reserved"
            )
        if marked is Marked.GONE:  # past its expiry before it was written: the sweeper had it
            await self._release(new.id, new.taken_from, now, reason="expired")
            raise Unavailable("the reservation could not be completed in time; retry")
        return _stored(new, ReservationStatus.RESERVED, updated_at=now)

    async def _refusal(self, taken: TakeResult, request: ReservationRequest) -> PricingError:
        extra: dict[str, Any] = {}
        try:
            fresh = await self._quote(request, self._clock())
            extra["quote"] = fresh.quote
        except PricingError:
            pass
        where = taken.promotion_id
        if taken.code is TakeCode.SOLD_OUT:
            return SoldOut(
                f"{taken.detail} of flash sale {where}: only {taken.value} left", extra=extra
            )
        if taken.code is TakeCode.LIMIT_REACHED:
            return LimitReached(
                f"{taken.detail} of flash sale {where}: this customer may take {taken.value} more",
                extra=extra,
            )
        if taken.code is TakeCode.USAGE_LIMIT:
            return LimitReached(f"promotion {where} reached its {taken.detail}", extra=extra)
        if taken.code is TakeCode.BUDGET_EXHAUSTED:
            return LimitReached(
                f"promotion {where} has {taken.value} of its budget left", extra=extra
            )
        if taken.code is TakeCode.NOT_ACTIVE:
            return PriceChanged(f"promotion {where} has {taken.detail}", extra=extra)
        # NOT_LOADED (counters being rebuilt) or RELEASED (this attempt was swept)
        return Unavailable(f"the counters of promotion {where} are not ready; retry")

    async def _forget(self, reservation_id: str) -> bool | None:
        """Delete a pending row whose take failed, so the order_id may try again:
        whether there was one to delete, None when the database did not answer."""
        try:
            return await self._ledger.forget(reservation_id)
        except Unavailable:
            log.warning("pending reservation %s left for the sweeper", reservation_id)
            return None

    async def _withdraw(self, new: NewReservation, now: datetime) -> None:
        """Undo a take whose marking failed without saying whether it was done. The
        row goes first, and only a pending row deleted gives back what was taken: a
        row the failed call did turn ``reserved`` is a reservation (a retry of the
        order_id answers with it), and giving its units back would sell them twice.
        If the row cannot be deleted either, the take stays with it: the sweeper gives
        back a row still pending once abandoned (``RESERVATION_ABANDON_SECONDS``)."""
        if not await self._forget(new.id):
            return
        try:
            await self._release(new.id, new.taken_from, now, reason="compensated")
        except Unavailable:  # a take without its row: the sweeper releases it after its expiry
            log.warning("reservation %s not given back now; the sweeper will", new.id)

    async def _give_back(self, new: NewReservation, now: datetime) -> None:
        """Undo a take whose reservation cannot be completed. If Redis does not
        answer, the pending row stays: the sweeper releases it once expired."""
        try:
            await self._release(new.id, new.taken_from, now, reason="compensated")
        except Unavailable:
            log.warning("reservation %s not given back now; the sweeper will", new.id)
            return
        await self._forget(new.id)

    async def _release(
        self, reservation_id: str, promotion_ids: Sequence[str], now: datetime, *, reason: str
    ) -> ReleaseCode:
        if not promotion_ids:
            return ReleaseCode.RELEASED
        released = await self._inventory.release(
            reservation_id, promotion_ids=promotion_ids, now=now, reason=reason
        )
        if released.code is ReleaseCode.PARTIAL:
            log.error("reservation %s: slots disagree on release: %s", reservation_id,
                      released.slots)  # fmt: skip
        return released.code

    # ---------------------------------------------------------------- the rest

    async def get(self, reservation_id: str) -> StoredReservation:
        return await self._get(reservation_id)

    async def _get(self, reservation_id: str) -> StoredReservation:
        found = await self._ledger.get(reservation_id)
        if found is None:
            raise NotFound(f"no reservation {reservation_id!r}")
        return found

    async def confirm(self, reservation_id: str) -> StoredReservation:
        found = await self._get(reservation_id)
        if found.status is ReservationStatus.CONFIRMED:
            return found
        if found.status in (ReservationStatus.CANCELLED, ReservationStatus.EXPIRED):
            raise ReservationExpired(f"reservation {reservation_id} is {found.status}")
        if found.status is ReservationStatus.PENDING:
            raise Conflict(f"reservation {reservation_id} is still being made")
        now = self._clock()
        if now >= found.expires_at:
            return await self._confirm_late(found, now)
        if found.taken_from:
            done = await self._inventory.confirm(
                reservation_id, promotion_ids=found.taken_from, now=now
            )
            if done.code in (ConfirmCode.EXPIRED, ConfirmCode.RELEASED):
                return await self._confirm_late(found, now)
            if done.code is ConfirmCode.NOT_FOUND:
                raise Unavailable("the stock counters are being rebuilt; retry")
            if done.code is ConfirmCode.PARTIAL:
                log.error("reservation %s: slots disagree on confirm: %s", reservation_id,
                          done.slots)  # fmt: skip
                raise ReservationExpired(f"reservation {reservation_id} expired in part")
        await self._ledger.confirm(reservation_id, order_of(found), now=now)
        settled = await self._get(reservation_id)
        if settled.status is not ReservationStatus.CONFIRMED:
            raise ReservationExpired(f"reservation {reservation_id} is {settled.status}")
        _count_sale(settled)
        return settled

    async def _confirm_late(self, found: StoredReservation, now: datetime) -> StoredReservation:
        """Past its expiry (or given back in Redis): expire it, unless its
        confirmation had reached Redis before, in which case record that."""
        decided = await self.settle_expired(found, now=now)
        if decided is None:
            raise Unavailable("the stock counters did not answer; retry")
        if decided.status is ReservationStatus.CONFIRMED and decided.order is not None:
            await self._ledger.confirm(found.id, decided.order, now=now)
        else:
            await self._ledger.close(found.id, ReservationStatus.EXPIRED, now=now)
        settled = await self._get(found.id)
        if settled.status is ReservationStatus.CONFIRMED:
            _count_sale(settled)
            return settled
        raise ReservationExpired(f"reservation {found.id} is {settled.status}")

    async def cancel(self, reservation_id: str) -> StoredReservation:
        found = await self._get(reservation_id)
        if found.status is ReservationStatus.CONFIRMED:
            raise Conflict(f"reservation {reservation_id} is confirmed; it cannot be cancelled")
        if found.status in (ReservationStatus.CANCELLED, ReservationStatus.EXPIRED):
            return found
        if found.status is ReservationStatus.PENDING:
            raise Conflict(f"reservation {reservation_id} is still being made")
        now = self._clock()
        released = await self._release(found.id, found.taken_from, now, reason="cancelled")
        if released is not ReleaseCode.RELEASED:  # confirmed in Redis: a confirm is finishing
            raise Conflict(f"reservation {reservation_id} is confirmed; it cannot be cancelled")
        await self._ledger.close(found.id, ReservationStatus.CANCELLED, now=now)
        settled = await self._get(found.id)
        if settled.status is ReservationStatus.CONFIRMED:
            raise Conflict(f"reservation {reservation_id} is confirmed; it cannot be cancelled")
        return settled

    async def settle_expired(self, found: StoredReservation, *, now: datetime) -> Settlement | None:
        """What becomes of a reservation past its expiry: give back what it took
        (``expired``), or, when Redis says it was confirmed, ``confirmed`` with its
        order. None when Redis does not answer (the next sweep tries again)."""
        try:
            released = await self._release(found.id, found.taken_from, now, reason="expired")
        except Unavailable:
            log.warning("reservation %s: Redis did not answer; expiring later", found.id)
            return None
        if released is ReleaseCode.RELEASED:
            return Settlement(ReservationStatus.EXPIRED)
        if released is ReleaseCode.CONFIRMED:
            return Settlement(ReservationStatus.CONFIRMED, order_of(found))
        return None


# ------------------------------------------------------------------------ helpers


def plan(quote: Quote) -> tuple[list[PromotionTake], tuple[ReservedPromotion, ...]]:
    """What a priced cart takes, per promotion it applied: flash-sale units per
    sku (the units of the flash sale's line adjustments), a use where the
    promotion has a usage limit, its discount where it has a budget."""
    flash = {a.promotion.id for a in quote.applied if isinstance(a.promotion.benefit, FlashSale)}
    units: dict[str, dict[str, int]] = {}
    for line in quote.lines:
        for adjustment in line.adjustments:
            if adjustment.promotion_id in flash and adjustment.units > 0:
                per_sku = units.setdefault(adjustment.promotion_id, {})
                per_sku[line.line.sku] = per_sku.get(line.line.sku, 0) + adjustment.units
    takes: list[PromotionTake] = []
    recorded: list[ReservedPromotion] = []
    for applied in quote.applied:
        take = PromotionTake.for_promotion(
            applied.promotion, units=units.get(applied.promotion.id), discount=applied.amount
        )
        record = ReservedPromotion(
            promotion_id=applied.promotion.id,
            amount=applied.amount,
            use=take.use,
            budget_amount=take.budget_amount,
            units={f.sku: f.units for f in take.flash},
        )
        recorded.append(record)
        if record.takes:
            takes.append(take)
    return takes, tuple(recorded)


def single_use_codes(priced: Quoted) -> tuple[str, ...]:
    """The single-use codes the price applied: the reservation holds them."""
    return tuple(
        applied.coupon_code
        for applied in priced.quote.applied
        if applied.coupon_code is not None
        and (stored := priced.codes.get(applied.coupon_code)) is not None
        and stored.kind == "unique"
    )


def order_of(found: StoredReservation) -> NewOrder:
    """The ledger's record of a reservation's order, from the quote it holds."""
    quote = found.quote
    return NewOrder(
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        shipping_fee=quote.shipping_fee,
        shipping_discount=quote.shipping_discount,
        total=quote.total,
        lines=tuple(
            OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                qty=line.qty,
                unit_price=line.unit_price,
                list_total=line.list_total,
                discount=line.discount,
                final_total=line.final_total,
            )
            for line in quote.lines
        ),
        adjustments=tuple(
            OrderAdjustment(
                line_id=line.line_id,
                promotion_id=adj.promotion_id,
                amount=adj.amount,
                units=adj.units,
                capped=adj.capped is not None,
            )
            for line in quote.lines
            for adj in line.adjustments
        ),
        promotions=tuple(
            OrderPromotion(
                promotion_id=a.promotion_id,
                name=a.name,
                stage=a.stage,
                benefit_type=a.benefit_type,
                amount=a.amount,
                coupon_code=a.coupon_code,
            )
            for a in quote.applied
        ),
        coupons=tuple(
            OrderCoupon(code=a.coupon_code, promotion_id=a.promotion_id)
            for a in quote.applied
            if a.coupon_code is not None
        ),
    )


def _stored(
    new: NewReservation, status: ReservationStatus, *, updated_at: datetime
) -> StoredReservation:
    return StoredReservation(
        id=new.id,
        order_id=new.order_id,
        customer_id=new.customer_id,
        status=status,
        expires_at=new.expires_at,
        created_at=new.created_at,
        updated_at=updated_at,
        currency=new.currency,
        total=new.total,
        quote=new.quote,
        rules_version=new.rules_version,
        promotions=new.promotions,
        coupon_codes=new.coupon_codes,
    )


def _count_sale(confirmed: StoredReservation) -> None:
    """An order confirmed by this call, in the sale's series (GMV, discount given)."""
    series.confirmed(confirmed.total, ((p.promotion_id, p.amount) for p in confirmed.promotions))
