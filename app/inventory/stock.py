"""The inventory interface: flash-sale stock, usage counts and budgets.

``Inventory`` is what the services use; ``app.inventory.redis_stock.RedisStock``
implements it with Lua scripts on Redis (a single server, a Redis Cluster, or
the in-process fakeredis of the embedded default). The records here are plain
frozen dataclasses; nothing in this module does I/O.

A *reservation* takes, per promotion it uses, one *promotion take*: flash-sale
units per sku (秒杀 stock, bounded by the sku's per-customer limit), one use of
the promotion (``max_uses``, ``max_uses_per_customer``) and an amount of its
budget (``limits.budget``). Takes are all or nothing for the whole
reservation. ``confirm`` turns reserved units into sold ones; ``release``
gives everything back. Both are idempotent and exclude each other: a released
reservation cannot be confirmed and a confirmed one cannot be released.

Invariant, per promotion and sku, at every moment:
``available + reserved + sold == initial`` and ``available >= 0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from app.rules.model import FlashItem, FlashSale, Promotion, Readings

# ----------------------------------------------------------------------- readings


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One flash-sale sku's counters (``GET /v1/flash-sales/{id}``)."""

    sku: str
    initial: int
    available: int
    reserved: int
    sold: int
    per_customer_limit: int | None = None


class LoadStatus(StrEnum):
    CREATED = "created"  # first load: initial = available = stock
    UNCHANGED = "unchanged"  # already at this stock
    ADJUSTED = "adjusted"  # initial moved to the new stock, available by the same delta
    CLAMPED = "clamped"  # asked for less than reserved + sold: initial = reserved + sold
    REBUILT = "rebuilt"  # rebuilt from the ledger: initial = stock, reserved and sold as recorded


@dataclass(frozen=True, slots=True)
class StockChange:
    """What ``load_stock`` did to one sku."""

    sku: str
    status: LoadStatus
    requested: int
    initial: int
    available: int


@dataclass(frozen=True, slots=True)
class StockReadings:
    """Counters the quote path reads; names as in ``app.rules.model.Readings``.

    ``missing_stock``: ``(promotion, sku)`` pairs asked for that have no stock in
    this Redis; ``not_loaded``: promotions asked for that have no counters here.
    A take from either answers ``NOT_LOADED``.
    """

    flash_available: Mapping[tuple[str, str], int] = field(default_factory=dict)
    flash_bought: Mapping[tuple[str, str], int] = field(default_factory=dict)  # this customer
    uses: Mapping[str, int] = field(default_factory=dict)
    customer_uses: Mapping[str, int] = field(default_factory=dict)
    budget_spent: Mapping[str, int] = field(default_factory=dict)
    missing_stock: frozenset[tuple[str, str]] = frozenset()
    not_loaded: frozenset[str] = frozenset()

    def as_readings(self) -> Readings:
        """The engine's ``Readings``. Counters this Redis does not have (emptied or
        restarted, and not rebuilt yet; a promotion imported a moment ago) are
        unknown, not zero: a sku without stock here makes the stock unknown (no
        flash-sale price, a ``stock_unknown`` notice, the quote ``degraded``,
        a reservation 503 until the sweeper loads them, within a sweep interval),
        and a promotion without counters leaves the limits unchecked (degraded).
        Read as zero, the quote would say ``sold_out`` and a reservation would sell
        at list price what the flash sale still has."""
        return Readings(
            flash_available=None if self.missing_stock else dict(self.flash_available),
            flash_bought=dict(self.flash_bought),
            uses=dict(self.uses),
            customer_uses=dict(self.customer_uses),
            budget_spent=dict(self.budget_spent),
            check_limits=not self.not_loaded,
        )


# ------------------------------------------------------------------ the ledger's view


def has_limits(promotion: Promotion) -> bool:
    """Whether a promotion has a usage limit or a budget."""
    limits = promotion.limits
    return (
        limits.max_uses is not None
        or limits.max_uses_per_customer is not None
        or limits.budget is not None
    )


def needs_counters(promotion: Promotion) -> bool:
    """Whether a promotion has counters in the inventory: flash-sale stock, a usage
    limit or a budget. Only these are loaded, taken from and rebuilt."""
    return isinstance(promotion.benefit, FlashSale) or has_limits(promotion)


@dataclass(frozen=True, slots=True)
class HeldTake:
    """What one reservation holds in one promotion, as the ledger records it."""

    reservation_id: str
    customer_id: str
    expires_at: datetime
    units: Mapping[str, int] = field(default_factory=dict)  # flash-sale units by sku
    use: bool = False
    budget_amount: int = 0


Which = Literal["confirmed", "open", "all"]


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    """One promotion's counters as the ledger (PostgreSQL) has them: what confirmed
    orders hold (sold) and what open reservations (pending or reserved) hold."""

    promotion_id: str
    confirmed: tuple[HeldTake, ...] = ()
    open: tuple[HeldTake, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.confirmed and not self.open

    @property
    def skus(self) -> frozenset[str]:
        return frozenset(sku for held in (*self.confirmed, *self.open) for sku in held.units)

    def units(self, which: Which) -> dict[str, int]:
        """Units by sku: ``confirmed`` is what is sold, ``open`` what is reserved."""
        total: dict[str, int] = {}
        for held in self._pick(which):
            for sku, units in held.units.items():
                total[sku] = total.get(sku, 0) + units
        return total

    def holdings(self, which: Which = "all") -> dict[str, dict[str, int]]:
        """Units by sku and customer (both kinds unless ``which`` names one)."""
        total: dict[str, dict[str, int]] = {}
        for held in self._pick(which):
            for sku, units in held.units.items():
                per = total.setdefault(sku, {})
                per[held.customer_id] = per.get(held.customer_id, 0) + units
        return total

    def uses(self, which: Which = "all") -> int:
        return sum(1 for held in self._pick(which) if held.use)

    def customer_uses(self, which: Which = "all") -> dict[str, int]:
        total: dict[str, int] = {}
        for held in self._pick(which):
            if held.use:
                total[held.customer_id] = total.get(held.customer_id, 0) + 1
        return total

    def budget_spent(self, which: Which = "all") -> int:
        return sum(held.budget_amount for held in self._pick(which))

    def _pick(self, which: Which) -> tuple[HeldTake, ...]:
        if which == "confirmed":
            return self.confirmed
        if which == "open":
            return self.open
        return (*self.confirmed, *self.open)


@dataclass(frozen=True, slots=True)
class CounterState:
    """Everything the inventory holds for one promotion (for reconciliation)."""

    loaded: bool
    stock: Mapping[str, StockLevel] = field(default_factory=dict)
    holdings: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # sku -> customer
    uses: int = 0
    customer_uses: Mapping[str, int] = field(default_factory=dict)
    budget_spent: int = 0
    open: frozenset[str] = frozenset()  # reservations holding something here


# -------------------------------------------------------------------------- takes


@dataclass(frozen=True, slots=True)
class FlashTake:
    sku: str
    units: int
    per_customer_limit: int | None = None


@dataclass(frozen=True, slots=True)
class PromotionTake:
    """What one reservation takes from one promotion (one Redis Cluster slot).

    ``use``: take one use, checked against ``max_uses`` and
    ``max_uses_per_customer``. ``budget_amount``: the discount this reservation
    gets from the promotion, checked against ``budget`` (None: no budget, the
    amount is still counted as spent). ``starts_at``/``ends_at``: the
    promotion's window; a take outside it answers ``NOT_ACTIVE``.
    """

    promotion_id: str
    flash: tuple[FlashTake, ...] = ()
    use: bool = False
    max_uses: int | None = None
    max_uses_per_customer: int | None = None
    budget_amount: int = 0
    budget: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not self.flash and not self.use and self.budget_amount == 0

    @classmethod
    def for_promotion(
        cls,
        promotion: Promotion,
        *,
        units: Mapping[str, int] | None = None,
        discount: int = 0,
    ) -> PromotionTake:
        """The take a priced reservation needs from ``promotion``.

        ``units``: flash-sale units at the sale price, by sku. ``discount``: what
        the promotion gave this order. A use is taken when the promotion has a
        usage limit; budget when it has a budget.
        """
        limits = promotion.limits
        flash: tuple[FlashTake, ...] = ()
        if isinstance(promotion.benefit, FlashSale) and units:
            by_sku: dict[str, FlashItem] = {item.sku: item for item in promotion.benefit.items}
            flash = tuple(
                FlashTake(sku, qty, by_sku[sku].per_customer_limit)
                for sku, qty in units.items()
                if qty > 0
            )
        has_use_limit = limits.max_uses is not None or limits.max_uses_per_customer is not None
        return cls(
            promotion_id=promotion.id,
            flash=flash,
            use=has_use_limit,
            max_uses=limits.max_uses,
            max_uses_per_customer=limits.max_uses_per_customer,
            budget_amount=discount if limits.budget is not None else 0,
            budget=limits.budget,
            starts_at=promotion.starts_at,
            ends_at=promotion.ends_at,
        )


# ------------------------------------------------------------------------ results


class TakeCode(StrEnum):
    """Why a take did or did not happen (the codes of ``take.lua``)."""

    OK = "OK"
    SOLD_OUT = "SOLD_OUT"  # detail: sku; value: units available
    LIMIT_REACHED = "LIMIT_REACHED"  # detail: sku; value: units the customer may still take
    USAGE_LIMIT = "USAGE_LIMIT"  # detail: max_uses | max_uses_per_customer
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"  # value: budget left
    NOT_ACTIVE = "NOT_ACTIVE"  # detail: not_started | ended
    NOT_LOADED = "NOT_LOADED"  # detail: sku, or "" for the promotion
    RELEASED = "RELEASED"  # this reservation id was released: it takes nothing any more


class ConfirmCode(StrEnum):
    CONFIRMED = "CONFIRMED"
    EXPIRED = "EXPIRED"  # still held but past expires_at: not confirmed
    RELEASED = "RELEASED"  # cancelled / expired / compensated before: cannot be confirmed
    NOT_FOUND = "NOT_FOUND"  # nothing taken under this reservation id
    PARTIAL = "PARTIAL"  # (whole reservation only) slots answered differently


class ReleaseCode(StrEnum):
    RELEASED = "RELEASED"
    CONFIRMED = "CONFIRMED"  # was confirmed: not released
    NOT_EXPIRED = "NOT_EXPIRED"  # (sweep) not expired yet
    NOT_FOUND = "NOT_FOUND"  # (sweep) no such reservation
    PARTIAL = "PARTIAL"  # (whole reservation only) slots answered differently


@dataclass(frozen=True, slots=True)
class SlotAnswer:
    """One script's answer for one promotion (slot)."""

    promotion_id: str
    code: str
    detail: str = ""
    value: int = 0


@dataclass(frozen=True, slots=True)
class TakeResult:
    """The outcome of a whole reservation's take.

    On failure nothing stays taken: ``promotion_id``/``detail``/``value`` say
    where and why. ``uncompensated`` lists promotions whose give-back failed
    (Redis did not answer): they stay held until the expiry sweep releases
    them. ``replayed``: every slot had already been taken by this reservation.
    """

    code: TakeCode
    promotion_id: str | None = None
    detail: str = ""
    value: int = 0
    replayed: bool = False
    slots: tuple[SlotAnswer, ...] = ()
    uncompensated: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is TakeCode.OK


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    code: ConfirmCode
    slots: tuple[SlotAnswer, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is ConfirmCode.CONFIRMED


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    code: ReleaseCode
    slots: tuple[SlotAnswer, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is ReleaseCode.RELEASED


# ---------------------------------------------------------------------- interface


class Inventory(Protocol):
    """Flash-sale stock, usage counts and budgets, taken atomically.

    Every method raises ``app.errors.Unavailable`` when the store does not
    answer in time; a take that raises has given back whatever it could
    (the rest is released by ``sweep`` after expiry).
    """

    async def load_stock(
        self, promotion_id: str, items: Sequence[FlashItem], *, now: datetime
    ) -> tuple[StockChange, ...]:
        """Create or adjust a promotion's counters (on create, change and start-up).

        Stock never goes below what is reserved and sold and an unchanged
        stock changes nothing, so this is safe to repeat. Also marks a
        promotion without flash items (usage limit or budget only) as loaded.
        """
        ...

    async def read(self, promotion_id: str) -> dict[str, StockLevel]:
        """Every loaded sku's counters, by sku."""
        ...

    async def available_for(
        self,
        *,
        customer_id: str | None,
        flash: Iterable[tuple[str, str]] = (),
        promotions: Iterable[str] = (),
    ) -> StockReadings:
        """Read (never take) what a quote needs: stock and this customer's
        holdings for ``(promotion_id, sku)`` pairs; uses, this customer's uses
        and budget spent for ``promotions``."""
        ...

    async def take(
        self,
        reservation_id: str,
        *,
        customer_id: str,
        takes: Sequence[PromotionTake],
        now: datetime,
        expires_at: datetime,
    ) -> TakeResult:
        """Take everything, or nothing. Repeating the same reservation id takes
        nothing again and answers OK (replayed) or RELEASED."""
        ...

    async def confirm(
        self, reservation_id: str, *, promotion_ids: Iterable[str], now: datetime
    ) -> ConfirmResult:
        """Reserved → sold in every promotion. ``now`` is the time of the decision:
        pass the same value on a retry."""
        ...

    async def release(
        self,
        reservation_id: str,
        *,
        promotion_ids: Iterable[str],
        now: datetime,
        reason: str = "cancelled",
    ) -> ReleaseResult:
        """Give back everything the reservation took; after this it can neither
        take nor be confirmed."""
        ...

    async def sweep(self, promotion_id: str, *, now: datetime, limit: int = 100) -> int:
        """Release reservations of one promotion whose expiry passed more than the
        sweep's grace ago; returns how many it released."""
        ...

    async def due(
        self, promotion_ids: Iterable[str], *, now: datetime, limit: int = 100
    ) -> dict[str, list[str]]:
        """By promotion, up to ``limit`` reservations still holding something whose
        expiry passed more than the sweep's grace ago (what ``sweep`` would
        release); promotions with none are left out. One round trip for them all
        (one per node on a cluster): the sweeper asks about thousands each second."""
        ...

    async def adjust_stock(
        self, promotion_id: str, items: Sequence[FlashItem], *, now: datetime
    ) -> tuple[StockChange, ...] | None:
        """``load_stock`` for a promotion that is loaded; None (nothing written) when
        it is not: its counters must then be rebuilt from the ledger."""
        ...

    async def rebuild(
        self,
        promotion_id: str,
        items: Sequence[FlashItem],
        ledger: LedgerCounts,
        *,
        now: datetime,
    ) -> tuple[StockChange, ...] | None:
        """Build an unloaded promotion's counters from the ledger, atomically, and
        mark it loaded; None (nothing written) when it is loaded already."""
        ...

    async def unload(self, promotion_id: str) -> None:
        """Remove the loaded marker: takes refuse until a rebuild (forced rebuild)."""
        ...

    async def loaded(self, promotion_ids: Iterable[str]) -> frozenset[str]:
        """Those of ``promotion_ids`` whose counters are loaded here."""
        ...

    def noticed_missing(self) -> frozenset[str]:
        """Promotions that reads or takes found without counters since the last call
        (Redis emptied or restarted): the sweeper rebuilds them first."""
        ...

    async def inspect(self, promotion_id: str) -> CounterState:
        """Every counter of one promotion (reconciliation)."""
        ...
