"""The ledger port: reservations and the orders they become, as records, and the
``ReservationRepository`` interface the reservation service, the sweeper and
the recovery use.

``app.storage.sql_ledger.SqlReservationRepository`` implements it for
PostgreSQL and SQLite; docs/reservations.md has the life cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from app.inventory.order_document import OrderDocument
from app.inventory.stock import LedgerCounts

# ----------------------------------------------------------------------- records


class ReservationStatus(StrEnum):
    PENDING = "pending"  # the row is written, the take is under way
    RESERVED = "reserved"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN = (
    ReservationStatus.PENDING,
    ReservationStatus.RESERVED,
)  # holding (or about to hold) what they took
HELD = (
    ReservationStatus.PENDING,
    ReservationStatus.RESERVED,
    ReservationStatus.CONFIRMED,
)  # counted in the counters


@dataclass(frozen=True, slots=True)
class ReservedPromotion:
    """A promotion a reservation's price applied, and what it took from its counters."""

    promotion_id: str
    amount: int  # the discount it gave this order
    use: bool = False  # one use counted (max_uses, max_uses_per_customer)
    budget_amount: int = 0  # spent from limits.budget
    units: Mapping[str, int] = field(default_factory=dict)  # flash-sale units by sku

    @property
    def takes(self) -> bool:
        return self.use or self.budget_amount > 0 or any(u > 0 for u in self.units.values())


@dataclass(frozen=True, slots=True)
class NewReservation:
    id: str
    order_id: str
    customer_id: str
    expires_at: datetime
    created_at: datetime
    currency: str
    total: int
    quote: OrderDocument  # the quote as answered
    rules_version: str
    promotions: tuple[ReservedPromotion, ...] = ()
    coupon_codes: tuple[str, ...] = ()  # single-use codes to hold

    @property
    def taken_from(self) -> tuple[str, ...]:
        """The promotions whose counters this reservation takes from."""
        return _taken_from(self.promotions)


@dataclass(frozen=True, slots=True)
class StoredReservation:
    id: str
    order_id: str
    customer_id: str
    status: ReservationStatus
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    currency: str
    total: int
    quote: OrderDocument
    rules_version: str
    promotions: tuple[ReservedPromotion, ...] = ()
    coupon_codes: tuple[str, ...] = ()

    @property
    def taken_from(self) -> tuple[str, ...]:
        """The promotions whose counters this reservation took from."""
        return _taken_from(self.promotions)


def _taken_from(promotions: Sequence[ReservedPromotion]) -> tuple[str, ...]:
    return tuple(p.promotion_id for p in promotions if p.takes)


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_id: str
    sku: str
    qty: int
    unit_price: int
    list_total: int
    discount: int
    final_total: int


@dataclass(frozen=True, slots=True)
class OrderAdjustment:
    line_id: str
    promotion_id: str
    amount: int
    units: int
    capped: bool = False


@dataclass(frozen=True, slots=True)
class OrderPromotion:
    promotion_id: str
    name: str
    stage: str
    benefit_type: str
    amount: int
    coupon_code: str | None = None


@dataclass(frozen=True, slots=True)
class OrderCoupon:
    code: str
    promotion_id: str


@dataclass(frozen=True, slots=True)
class NewOrder:
    """What the ledger records of a confirmed reservation."""

    subtotal: int
    discount_total: int
    shipping_fee: int
    shipping_discount: int
    total: int
    lines: tuple[OrderLine, ...] = ()
    adjustments: tuple[OrderAdjustment, ...] = ()
    promotions: tuple[OrderPromotion, ...] = ()
    coupons: tuple[OrderCoupon, ...] = ()  # codes applied


class Marked(StrEnum):
    """The outcome of turning a pending reservation into a reserved one."""

    RESERVED = "reserved"
    CODE_TAKEN = "code_taken"  # a single-use code is no longer available: nothing written
    GONE = "gone"  # the row is no longer pending (the sweeper expired it): nothing written


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the sweeper decided for one expired reservation: ``expired``, or
    ``confirmed`` with its order (its confirmation had reached the inventory)."""

    status: ReservationStatus
    order: NewOrder | None = None


@dataclass(frozen=True, slots=True)
class ReservationStats:
    reservations: int = 0  # made (not pending)
    confirmed: int = 0
    cancelled: int = 0
    expired: int = 0
    discount_given: int = 0  # by confirmed orders
    gmv: int = 0  # totals of confirmed orders
    budget_spent: int = 0  # by reserved and confirmed ones
    redemptions: int = 0  # codes of the promotion (shared or unique) in confirmed orders


# --------------------------------------------------------------------- interface


class ReservationRepository(Protocol):
    async def add_pending(self, new: NewReservation) -> bool:
        """Write a pending reservation; False (nothing written) when its order_id exists."""

    async def get(self, reservation_id: str) -> StoredReservation | None: ...

    async def by_order(self, order_id: str) -> StoredReservation | None: ...

    async def forget(self, reservation_id: str) -> bool:
        """Delete a reservation that is still pending (its take failed); False when
        there was no pending row to delete (it turned reserved, or is gone)."""

    async def mark_reserved(
        self, reservation_id: str, *, customer_id: str, codes: Sequence[str], now: datetime
    ) -> Marked:
        """pending → reserved, and its single-use ``codes`` available → reserved
        (those of no owner or of ``customer_id``), all or nothing."""

    async def confirm(self, reservation_id: str, order: NewOrder, *, now: datetime) -> bool:
        """reserved → confirmed with its order in the ledger and its codes used;
        False (nothing written) when it was not reserved."""

    async def close(self, reservation_id: str, status: ReservationStatus, *, now: datetime) -> bool:
        """pending/reserved → ``status`` (cancelled or expired), codes back to
        available; False (nothing written) when it was neither."""

    async def sweep_expired(
        self,
        *,
        now: datetime,
        pending_before: datetime,
        limit: int,
        settle: Callable[[StoredReservation], Awaitable[Settlement | None]],
        within: float,
        abandoned_before: datetime | None = None,
    ) -> int:
        """Reserved reservations past ``expires_at`` (pending ones past
        ``pending_before``, or made at or before ``abandoned_before``: their
        attempt failed and could not remove them), up to ``limit``: ``settle``
        each, apply what it decided; rows another sweeper holds are skipped; all
        within ``within`` seconds. Returns how many moved."""

    async def ledger_counts(self, promotion_id: str) -> LedgerCounts: ...

    async def states(
        self, reservation_ids: Sequence[str]
    ) -> dict[str, tuple[ReservationStatus, datetime]]:
        """ReservationStatus and expiry of those of ``reservation_ids`` that exist."""

    async def stats(self, promotion_id: str) -> ReservationStats: ...
