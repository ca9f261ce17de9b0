"""The admin services: promotions and their codes.

Every write goes to the repository (which bumps the rules version in the same
transaction), then ``RulesChanged.changed()`` reloads this instance's rules
and tells the others, before the caller gets its answer. A promotion with
counters (flash-sale stock, a usage limit, a budget) then has them loaded or
adjusted (``CounterKeeper.ensure``); if Redis does not answer, the sweeper
does it on its next round.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from app.api.schemas import CodesBody, CodesResponse, PromotionBody, StatsResponse
from app.coupons import codes as coupon_codes
from app.errors import Conflict, InvalidInput, NotFound, Problem, Unavailable
from app.inventory.stock import needs_counters
from app.rules.model import Promotion
from app.storage.ledger import ReservationRepository
from app.storage.repository import NewCode, PromotionRepository, StoredPromotion

log = logging.getLogger(__name__)

_GENERATE_ATTEMPTS = 3


class RulesChanged(Protocol):
    async def changed(self) -> None: ...


class CounterKeeper(Protocol):
    async def ensure(self, promotion: Promotion, *, now: datetime) -> str: ...


async def _load_counters(promotion: Promotion, counters: CounterKeeper) -> None:
    if not needs_counters(promotion):
        return
    try:
        await counters.ensure(promotion, now=datetime.now(UTC))
    except Unavailable:
        log.warning("counters of %s not loaded now; the sweeper will", promotion.id)


def _body(stored: StoredPromotion) -> PromotionBody:
    return PromotionBody.model_validate(stored.body)


def _check_convertible(
    body: PromotionBody, promotion_id: str, tz: ZoneInfo
) -> tuple[dict[str, object], Promotion]:
    stored = body.stored(promotion_id)
    return stored, PromotionBody.model_validate(stored).to_model(default_timezone=tz)


async def create_promotion(
    *,
    body: PromotionBody,
    repository: PromotionRepository,
    rules: RulesChanged,
    counters: CounterKeeper,
    tz: ZoneInfo,
) -> PromotionBody:
    promotion_id = body.id or f"p-{uuid.uuid4().hex[:16]}"
    stored, promotion = _check_convertible(body, promotion_id, tz)
    row = await repository.add(
        id=promotion_id, status=body.status, trigger=body.trigger, body=stored
    )
    await rules.changed()
    await _load_counters(promotion, counters)
    return _body(row)


async def list_promotions(
    *, repository: PromotionRepository, status: str | None
) -> list[PromotionBody]:
    return [_body(row) for row in await repository.list(status)]


async def get_promotion(*, promotion_id: str, repository: PromotionRepository) -> PromotionBody:
    row = await repository.get(promotion_id)
    if row is None:
        raise NotFound(f"no promotion {promotion_id!r}")
    return _body(row)


async def replace_promotion(
    *,
    promotion_id: str,
    body: PromotionBody,
    repository: PromotionRepository,
    rules: RulesChanged,
    counters: CounterKeeper,
    tz: ZoneInfo,
) -> PromotionBody:
    if body.id is not None and body.id != promotion_id:
        raise InvalidInput(
            "the body's id differs from the path's",
            [Problem(loc=("body", "id"), msg=f"must be {promotion_id!r} or absent")],
        )
    stored, promotion = _check_convertible(body, promotion_id, tz)
    row = await repository.replace(
        id=promotion_id, status=body.status, trigger=body.trigger, body=stored
    )
    await rules.changed()
    await _load_counters(promotion, counters)
    return _body(row)


async def delete_promotion(
    *, promotion_id: str, repository: PromotionRepository, rules: RulesChanged
) -> None:
    await repository.delete(promotion_id)
    await rules.changed()


async def add_codes(
    *,
    promotion_id: str,
    body: CodesBody,
    repository: PromotionRepository,
    rules: RulesChanged,
) -> CodesResponse:
    row = await repository.get(promotion_id)
    if row is None:
        raise NotFound(f"no promotion {promotion_id!r}")
    if row.trigger != "coupon":
        raise Conflict(f"promotion {promotion_id!r} is not a coupon (trigger is {row.trigger!r})")
    if body.code is not None:
        code = coupon_codes.normalize(body.code)
        stored = await repository.add_codes(promotion_id, [NewCode(code=code, kind="shared")])
        kind = "shared"
    else:
        kind = "unique"
        for attempt in range(_GENERATE_ATTEMPTS):
            fresh = coupon_codes.generate(body.prefix, body.count or 0)
            try:
                stored = await repository.add_codes(
                    promotion_id, [NewCode(code=c, kind="unique") for c in fresh]
                )
                break
            except Conflict:  # a random clash with an existing code: draw again
                if attempt == _GENERATE_ATTEMPTS - 1:
                    raise
    await rules.changed()
    return CodesResponse(
        promotion_id=promotion_id,
        kind="shared" if kind == "shared" else "unique",
        codes=[c.code for c in stored],
    )


async def promotion_stats(
    *, promotion_id: str, repository: PromotionRepository, ledger: ReservationRepository
) -> StatsResponse:
    """Codes issued, claimed and used; reservations that applied the promotion by
    status, and what confirmed orders got and paid (from the ledger)."""
    if await repository.get(promotion_id) is None:
        raise NotFound(f"no promotion {promotion_id!r}")
    counts = await repository.code_counts(promotion_id)
    made = await ledger.stats(promotion_id)
    return StatsResponse(
        reservations=made.reservations,
        confirmed=made.confirmed,
        cancelled=made.cancelled,
        expired=made.expired,
        discount_given=made.discount_given,
        gmv=made.gmv,
        claims=counts.claimed,
        redemptions=counts.used,
        budget_spent=made.budget_spent,
        codes=counts.total,
    )
