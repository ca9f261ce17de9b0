"""Claiming (领券) and the wallet: ``ClaimService``.

A claim: the promotion from the rules snapshot (it must be a coupon, active,
inside its window, and its conditions must admit the customer: tiers,
segments, ``new_customer``, ``phone_verified``); then the counters in Redis
decide it against ``max_claims`` and ``max_claims_per_customer`` in one
script (``claim.lua``), idempotent on the claim id; then PostgreSQL stores
the claim and its code in one transaction, checking the same limits against
its own counts. If the database refuses or fails, the claim is taken back in
Redis. Counters missing in Redis (emptied, restarted) are rebuilt from the
database's claims, once per promotion at a time, before the claim is
decided. docs/coupons.md records the order of these steps and why no limit
can be exceeded whatever fails.

A claimed code is valid as long as its promotion is: it expires at the
promotion's ``ends_at`` (never, when it has none).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.coupons.claims import (
    ClaimCode,
    ClaimCounters,
    ClaimLedger,
    ClaimLimits,
    NewClaim,
    Stored,
)
from app.coupons.codes import generate
from app.errors import Conflict, LimitReached, NotEligible, NotFound, Unavailable
from app.promotions.snapshot import RulesSource
from app.rules.eligibility import time_reason
from app.rules.model import Customer, Promotion

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """``customer`` (its ``id`` required) claims one code of ``promotion_id``;
    ``claim_id`` makes a repeat of the same claim give the same code (absent:
    one is made for this call, so a retried Redis command still claims once)."""

    promotion_id: str
    customer: Customer
    claim_id: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    code: str
    promotion_id: str
    customer_id: str
    claim_id: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class WalletCoupon:
    code: str
    promotion_id: str
    status: str  # available | reserved | used | expired
    claimed_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimDifference:
    """One way the counters and the database disagree about a promotion's claims."""

    promotion_id: str
    kind: str
    redis: int | None = None
    database: int | None = None
    customer: str | None = None

    def __str__(self) -> str:
        where = f" customer {self.customer}" if self.customer is not None else ""
        values = (
            ""
            if self.redis is None and self.database is None
            else f": redis {self.redis}, database {self.database}"
        )
        return f"{self.promotion_id} claims {self.kind}{where}{values}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def claim_limits(promotion: Promotion) -> ClaimLimits:
    return ClaimLimits(
        starts_at=promotion.starts_at,
        ends_at=promotion.ends_at,
        max_claims=promotion.limits.max_claims,
        max_claims_per_customer=promotion.limits.max_claims_per_customer,
    )


def who_may_claim(promotion: Promotion, customer: Customer) -> bool:
    """The conditions a claim checks: tiers, segments, ``new_customer``,
    ``phone_verified`` (the cart's conditions, ``first_order`` and channels
    are checked when the code is used)."""
    c = promotion.conditions
    if c.customer_tiers and customer.tier not in c.customer_tiers:
        return False
    if c.segments and not (c.segments & customer.segments):
        return False
    if c.new_customer is not None and c.new_customer != customer.new_customer:
        return False
    return c.phone_verified is None or c.phone_verified == customer.phone_verified


class ClaimService:
    """One per process, made by ``lifespan``."""

    def __init__(
        self,
        *,
        rules: RulesSource,
        counters: ClaimCounters,
        ledger: ClaimLedger,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._rules = rules
        self._counters = counters
        self._ledger = ledger
        self._clock = clock
        self._rebuilding: dict[str, asyncio.Lock] = {}

    def _promotion(self, promotion_id: str) -> Promotion:
        promotion = self._rules.rules.get(promotion_id)
        if promotion is None:
            raise NotFound(f"no promotion {promotion_id!r}")
        return promotion

    # ------------------------------------------------------------------ claim

    async def claim(self, request: ClaimRequest) -> tuple[Claimed, bool]:
        """The claimed code, and whether this call claimed it (False: a replay)."""
        customer_id = request.customer.id
        if not customer_id:
            raise ValueError("a claim needs the customer's id")
        promotion = self._promotion(request.promotion_id)
        now = self._clock()
        if not promotion.is_coupon:
            raise Conflict(f"promotion {promotion.id} is not a coupon (trigger is not coupon)")
        if promotion.status != "active":
            raise NotEligible(f"promotion {promotion.id} is {promotion.status}")
        reason = time_reason(promotion, now)
        if reason is not None:
            raise NotEligible(f"promotion {promotion.id} cannot be claimed now ({reason})")
        if not who_may_claim(promotion, request.customer):
            raise NotEligible(f"promotion {promotion.id}'s conditions exclude this customer")
        claim_id = request.claim_id or uuid.uuid4().hex
        limits = claim_limits(promotion)
        code = generate("", 1)[0]
        answer = await self._counters.claim(
            promotion.id, claim_id=claim_id, customer_id=customer_id, code=code, limits=limits,
            now=now,
        )  # fmt: skip
        if answer.code is ClaimCode.NOT_LOADED:
            await self.ensure(promotion)
            answer = await self._counters.claim(
                promotion.id, claim_id=claim_id, customer_id=customer_id, code=code,
                limits=limits, now=now,
            )  # fmt: skip
        if answer.code is ClaimCode.LIMIT_REACHED:
            raise LimitReached(f"promotion {promotion.id} reached its {answer.detail}")
        if answer.code is ClaimCode.NOT_ACTIVE:
            raise NotEligible(f"promotion {promotion.id} cannot be claimed now ({answer.detail})")
        if answer.code is ClaimCode.CLAIM_ID_TAKEN:
            raise Conflict(f"claim id {claim_id!r} belongs to another claim")
        if answer.code is ClaimCode.NOT_LOADED:
            raise Unavailable(f"the claim counters of {promotion.id} are being rebuilt; retry")
        new = NewClaim(
            claim_id=claim_id,
            promotion_id=promotion.id,
            customer_id=customer_id,
            code=answer.value,
            claimed_at=now,
            slot=answer.slot,
        )
        try:
            stored = await self._ledger.add_claim(new, limits)
        except Unavailable:
            await self._take_back(promotion.id, claim_id)
            raise
        if stored.outcome is Stored.OVER_LIMIT:
            await self._take_back(promotion.id, claim_id)
            raise LimitReached(f"promotion {promotion.id} reached its {stored.detail}")
        if stored.outcome is Stored.SLOT_TAKEN:
            # the counters handed out a slot a stored claim holds: Redis is behind
            # the database (it lost writes, or a claim it took back was stored after
            # all). Load them again from the database; the caller retries.
            log.error("claim counters of %s behind the database (%s): rebuilding",
                      promotion.id, stored.detail)  # fmt: skip
            await self.rebuild(promotion)
            raise Unavailable(f"the claim counters of {promotion.id} were rebuilt; retry")
        if stored.outcome is Stored.CLAIM_ID_TAKEN:
            if answer.detail == "claimed":
                await self._take_back(promotion.id, claim_id)
            raise Conflict(f"claim id {claim_id!r} belongs to another claim ({stored.detail})")
        assert stored.claim is not None
        claimed = Claimed(
            code=stored.claim.code,
            promotion_id=promotion.id,
            customer_id=customer_id,
            claim_id=claim_id,
            expires_at=promotion.ends_at,
        )
        return claimed, stored.outcome is Stored.STORED and answer.detail == "claimed"

    async def _take_back(self, promotion_id: str, claim_id: str) -> None:
        """The database did not store the claim: take it back in Redis (if Redis
        does not answer, its count stays one high: fewer codes, never more)."""
        try:
            await self._counters.unclaim(promotion_id, claim_id)
        except Unavailable:
            log.warning("claim %s of %s not taken back in Redis", claim_id, promotion_id)

    # ----------------------------------------------------------------- wallet

    async def wallet(self, customer_id: str) -> list[WalletCoupon]:
        """The customer's codes with their status; an unused code whose promotion
        has ended (or is gone) is ``expired``."""
        now = self._clock()
        rules = self._rules.rules
        coupons = []
        for code in await self._ledger.wallet(customer_id):
            promotion = rules.get(code.promotion_id)
            expires_at = promotion.ends_at if promotion is not None else None
            status = code.status
            if status == "available" and (
                promotion is None
                or promotion.status in ("ended", "archived")
                or (expires_at is not None and now >= expires_at)
            ):
                status = "expired"
            coupons.append(
                WalletCoupon(
                    code=code.code,
                    promotion_id=code.promotion_id,
                    status=status,
                    claimed_at=code.claimed_at,
                    expires_at=expires_at,
                )
            )
        return coupons

    # --------------------------------------------------------------- recovery

    async def ensure(self, promotion: Promotion) -> bool:
        """Rebuild the promotion's counters from the database when they are
        missing (one rebuild at a time per promotion in this process); True when
        this call rebuilt them."""
        lock = self._rebuilding.setdefault(promotion.id, asyncio.Lock())
        async with lock:
            if await self._counters.loaded(promotion.id):
                return False
            claims = await self._ledger.claims(promotion.id)
            built = await self._counters.rebuild(promotion.id, claims, now=self._clock())
            if built and claims:
                log.warning("claim counters of %s rebuilt: %d claims", promotion.id, len(claims))
            return built

    async def rebuild(self, promotion: Promotion) -> int:
        """Rebuild even when loaded (claims answer 503 meanwhile); the claims loaded."""
        await self._counters.unload(promotion.id)
        claims = await self._ledger.claims(promotion.id)
        await self._counters.rebuild(promotion.id, claims, now=self._clock())
        return len(claims)

    async def reconcile(self, promotion: Promotion) -> list[ClaimDifference]:
        claims = await self._ledger.claims(promotion.id)
        state = await self._counters.inspect(promotion.id)
        if state is None:
            return [] if not claims else [ClaimDifference(promotion.id, "not_loaded")]
        found: list[ClaimDifference] = []
        if state.total != len(claims):
            found.append(ClaimDifference(promotion.id, "total", state.total, len(claims)))
        mine: dict[str, int] = {}
        for claim in claims:
            mine[claim.customer_id] = mine.get(claim.customer_id, 0) + 1
        for customer in sorted(set(mine) | set(state.by_customer)):
            have, want = state.by_customer.get(customer, 0), mine.get(customer, 0)
            if have != want:
                found.append(ClaimDifference(promotion.id, "customer", have, want, customer))
        ids = {claim.claim_id for claim in claims}
        if state.claim_ids != ids:
            found.append(
                ClaimDifference(
                    promotion.id,
                    "claim_ids",
                    len(state.claim_ids - ids),
                    len(ids - state.claim_ids),
                )
            )
        return found
