"""The engine's inputs and outputs: frozen records, standard library only.

Everything the engine needs is handed to it in these records; it reads no
clock, environment, database or Redis. Amounts are ``int`` minor units;
percentages are exact ``Fraction``s (8.5 折 is ``Fraction(15)``).

``make engine`` compiles this module with the rest of the engine, so the records
are mypyc native classes there (attribute reads are a C field load, construction
a C call) and plain dataclasses in the pure engine. Two things keep both builds
alike: every record pickles and copies as ``cls(*fields)`` (``_Record``), and a
benefit's ``type`` is a class attribute set under its class (a ``ClassVar`` in
the dataclass body would become a field under mypyc).

The records the engine makes on every quote (here: the results; elsewhere in
``app/rules``: its working records) write their ``__init__`` out: mypyc compiles
that into a native constructor (~40 ns), where the ``__init__`` a dataclass
generates stays interpreted bytecode even in the compiled build (~600 ns for a
frozen one). The dataclass still makes ``__eq__``, ``__hash__``, ``__repr__``,
``fields`` and ``replace``; the ``__init__`` must keep the fields' order and defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, tzinfo
from enum import StrEnum
from fractions import Fraction
from typing import ClassVar


class _Record:
    """The base of every record: pickled and copied as ``cls(*fields)``, the same
    in the compiled and the pure engine (each build's own default would differ)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[_Record], tuple[object, ...]]:
        return type(self), tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- cart


@dataclass(frozen=True, slots=True)
class Line(_Record):
    line_id: str
    sku: str
    qty: int
    unit_price: int
    category: str | None = None
    brand: str | None = None
    merchant: str | None = None
    tags: frozenset[str] = frozenset()
    min_unit_price: int | None = None

    @property
    def list_total(self) -> int:
        return self.unit_price * self.qty

    @property
    def floor_total(self) -> int:
        return (self.min_unit_price or 0) * self.qty


@dataclass(frozen=True, slots=True)
class Customer(_Record):
    id: str | None = None
    tier: str | None = None
    segments: frozenset[str] = frozenset()
    new_customer: bool = False
    first_order: bool = False
    phone_verified: bool = False


# --------------------------------------------------------------------- promotions


class Stage(StrEnum):
    ITEM = "item"
    ORDER = "order"
    COUPON = "coupon"
    SHIPPING = "shipping"


STAGES: tuple[Stage, ...] = (Stage.ITEM, Stage.ORDER, Stage.COUPON, Stage.SHIPPING)

STAGE_ORDER: Mapping[Stage, int] = {
    Stage.ITEM: 0,
    Stage.ORDER: 1,
    Stage.COUPON: 2,
    Stage.SHIPPING: 3,
}


@dataclass(frozen=True, slots=True)
class Scope(_Record):
    """Which lines a promotion touches. Empty lists match every line."""

    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    exclude_skus: frozenset[str] = frozenset()
    exclude_categories: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Conditions(_Record):
    customer_tiers: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    new_customer: bool | None = None
    first_order: bool | None = None
    phone_verified: bool | None = None
    channels: frozenset[str] = frozenset()
    min_qty: int | None = None
    min_amount: int | None = None


@dataclass(frozen=True, slots=True)
class Limits(_Record):
    max_uses: int | None = None
    max_uses_per_customer: int | None = None
    budget: int | None = None
    max_claims: int | None = None
    max_claims_per_customer: int | None = None


@dataclass(frozen=True, slots=True)
class HourWindow(_Record):
    """Daily hours in minutes after local midnight; ``start`` inclusive, ``end`` exclusive.

    ``start > end`` wraps past midnight (22:00 → 02:00).
    """

    start: int
    end: int


# ------------------------------------------------------------------------ benefits


class _Benefit(_Record):
    """A benefit record. ``type``, its name in the registry (``benefits/__init__.py``),
    is set under each class: ``ItemPercentOff.type == "item_percent_off"``."""

    __slots__ = ()
    type: ClassVar[str]


@dataclass(frozen=True, slots=True)
class ItemPercentOff(_Benefit):
    percent: Fraction


ItemPercentOff.type = "item_percent_off"


@dataclass(frozen=True, slots=True)
class ItemAmountOff(_Benefit):
    amount: int  # per unit


ItemAmountOff.type = "item_amount_off"


@dataclass(frozen=True, slots=True)
class ItemFixedPrice(_Benefit):
    price: int  # per unit


ItemFixedPrice.type = "item_fixed_price"


@dataclass(frozen=True, slots=True)
class MemberPrice(_Benefit):
    tiers: Mapping[str, Fraction] = field(default_factory=dict)  # tier -> percent off
    prices: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # tier -> sku -> price


MemberPrice.type = "member_price"


@dataclass(frozen=True, slots=True)
class FlashItem(_Record):
    sku: str
    price: int
    stock: int
    per_customer_limit: int | None = None


@dataclass(frozen=True, slots=True)
class FlashSale(_Benefit):
    items: tuple[FlashItem, ...]


FlashSale.type = "flash_sale"


@dataclass(frozen=True, slots=True)
class Tier(_Record):
    """One rung of a threshold: reached by ``min_amount`` or ``min_qty``; gives
    ``amount_off`` or ``percent``."""

    min_amount: int | None = None
    min_qty: int | None = None
    amount_off: int | None = None
    percent: Fraction | None = None


@dataclass(frozen=True, slots=True)
class Threshold(_Benefit):
    tiers: tuple[Tier, ...]
    repeat: bool = False
    max_discount: int | None = None


Threshold.type = "threshold"


@dataclass(frozen=True, slots=True)
class AmountOff(_Benefit):
    amount: int


AmountOff.type = "amount_off"


@dataclass(frozen=True, slots=True)
class PercentOff(_Benefit):
    percent: Fraction
    max_discount: int | None = None


PercentOff.type = "percent_off"


@dataclass(frozen=True, slots=True)
class NthItem(_Benefit):
    every: int
    percent: Fraction


NthItem.type = "nth_item"


@dataclass(frozen=True, slots=True)
class BundleItem(_Record):
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class Bundle(_Benefit):
    items: tuple[BundleItem, ...]
    price: int
    max_applications: int | None = None


Bundle.type = "bundle"


@dataclass(frozen=True, slots=True)
class GiftItem(_Record):
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class GiftTier(_Record):
    gifts: tuple[GiftItem, ...]
    min_amount: int | None = None
    min_qty: int | None = None


@dataclass(frozen=True, slots=True)
class Gift(_Benefit):
    tiers: tuple[GiftTier, ...]


Gift.type = "gift"


@dataclass(frozen=True, slots=True)
class FreeShipping(_Benefit):
    """包邮: the whole fee waived."""


FreeShipping.type = "free_shipping"


@dataclass(frozen=True, slots=True)
class ShippingAmountOff(_Benefit):
    amount: int


ShippingAmountOff.type = "shipping_amount_off"


Benefit = (
    ItemPercentOff
    | ItemAmountOff
    | ItemFixedPrice
    | MemberPrice
    | FlashSale
    | Threshold
    | AmountOff
    | PercentOff
    | NthItem
    | Bundle
    | Gift
    | FreeShipping
    | ShippingAmountOff
)


@dataclass(frozen=True, slots=True)
class Promotion(_Record):
    id: str
    name: str
    benefit: Benefit
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: str = "active"
    hours: tuple[HourWindow, ...] = ()
    weekdays: frozenset[int] = frozenset()  # ISO, Monday = 1; empty: every day
    timezone: tzinfo | None = None  # for hours/weekdays; None: Asia/Shanghai (set by the shell)
    trigger: str = "auto"  # "auto" | "coupon"
    exclusive: bool = False
    exclusion_group: str | None = None
    priority: int = 0
    scope: Scope = Scope()
    conditions: Conditions = Conditions()
    limits: Limits = Limits()

    @property
    def is_coupon(self) -> bool:
        return self.trigger == "coupon"

    @property
    def group(self) -> str | None:
        """The exclusion group the search uses: coupons default to ``coupon``."""
        if self.exclusion_group is not None:
            return self.exclusion_group
        return "coupon" if self.is_coupon else None


# ---------------------------------------------------------------- request context


@dataclass(frozen=True, slots=True)
class PresentedCoupon(_Record):
    """A code the customer presented, resolved by the shell.

    ``promotion_id`` None: the code is unknown. ``owner``: the customer who
    claimed it (None for shared or unclaimed codes). ``used``: a single-use code
    already redeemed or held by a reservation.
    """

    code: str
    promotion_id: str | None
    owner: str | None = None
    used: bool = False


@dataclass(frozen=True, slots=True)
class Readings(_Record):
    """Stock and counter readings the shell took for this quote.

    ``flash_available`` None means stock is unknown (Redis down): no flash-sale
    price is given. A flash item missing from the mapping has its configured
    stock. ``check_limits`` False (degraded): usage limits and budgets are not
    checked.
    """

    flash_available: Mapping[tuple[str, str], int] | None = field(default_factory=dict)
    flash_bought: Mapping[tuple[str, str], int] = field(default_factory=dict)  # by this customer
    uses: Mapping[str, int] = field(default_factory=dict)  # promotion id -> uses so far
    customer_uses: Mapping[str, int] = field(default_factory=dict)  # by this customer
    budget_spent: Mapping[str, int] = field(default_factory=dict)
    check_limits: bool = True


@dataclass(frozen=True, slots=True)
class QuoteRequest(_Record):
    lines: tuple[Line, ...]
    at: datetime  # timezone-aware
    customer: Customer = Customer()
    channel: str | None = None
    currency: str = "CNY"
    shipping_fee: int = 0
    coupons: tuple[PresentedCoupon, ...] = ()  # presented codes, in request order
    wallet: tuple[PresentedCoupon, ...] = ()  # claimed coupons when auto_coupons is on
    readings: Readings = Readings()


# ------------------------------------------------------------------------- results


class Reason(StrEnum):
    UNKNOWN_CODE = "unknown_code"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    PAUSED = "paused"
    NOT_ELIGIBLE = "not_eligible"
    MIN_AMOUNT_NOT_MET = "min_amount_not_met"
    MIN_QTY_NOT_MET = "min_qty_not_met"
    NO_ELIGIBLE_ITEMS = "no_eligible_items"
    USAGE_LIMIT_REACHED = "usage_limit_reached"
    BUDGET_EXHAUSTED = "budget_exhausted"
    ALREADY_USED = "already_used"
    NOT_OWNER = "not_owner"
    CONFLICT = "conflict"
    NOT_BEST = "not_best"


class NoticeReason(StrEnum):
    """Why a flash sale that covers a line does not price (all of) it."""

    SOLD_OUT = "sold_out"  # no stock left (or less than the line's qty)
    LIMIT_REACHED = "limit_reached"  # the customer's per-customer limit
    STOCK_UNKNOWN = "stock_unknown"  # degraded: the stock could not be read


@dataclass(frozen=True, slots=True)
class Notice(_Record):
    """A flash sale covers the line (eligible, in scope, its price lower than the
    line's) but prices fewer units than the line has: ``units`` got the sale
    ``price`` (0 when none did); ``limit`` is the per-customer limit, if any."""

    promotion_id: str
    reason: NoticeReason
    units: int
    price: int
    limit: int | None = None

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        promotion_id: str,
        reason: NoticeReason,
        units: int,
        price: int,
        limit: int | None = None,
    ) -> None:
        object.__setattr__(self, "promotion_id", promotion_id)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "limit", limit)


@dataclass(frozen=True, slots=True)
class Adjustment(_Record):
    promotion_id: str
    amount: int
    units: int
    capped: bool = False  # a price floor trimmed it

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        promotion_id: str,
        amount: int,
        units: int,
        capped: bool = False,
    ) -> None:
        object.__setattr__(self, "promotion_id", promotion_id)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "capped", capped)


@dataclass(frozen=True, slots=True)
class LineResult(_Record):
    line: Line
    list_total: int
    discount: int
    final_total: int
    adjustments: tuple[Adjustment, ...]
    notices: tuple[Notice, ...] = ()

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        line: Line,
        list_total: int,
        discount: int,
        final_total: int,
        adjustments: tuple[Adjustment, ...],
        notices: tuple[Notice, ...] = (),
    ) -> None:
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "list_total", list_total)
        object.__setattr__(self, "discount", discount)
        object.__setattr__(self, "final_total", final_total)
        object.__setattr__(self, "adjustments", adjustments)
        object.__setattr__(self, "notices", notices)


@dataclass(frozen=True, slots=True)
class Applied(_Record):
    promotion: Promotion
    stage: Stage
    amount: int
    coupon_code: str | None = None

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        promotion: Promotion,
        stage: Stage,
        amount: int,
        coupon_code: str | None = None,
    ) -> None:
        object.__setattr__(self, "promotion", promotion)
        object.__setattr__(self, "stage", stage)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "coupon_code", coupon_code)


@dataclass(frozen=True, slots=True)
class GiftLine(_Record):
    sku: str
    qty: int
    promotion_id: str

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        sku: str,
        qty: int,
        promotion_id: str,
    ) -> None:
        object.__setattr__(self, "sku", sku)
        object.__setattr__(self, "qty", qty)
        object.__setattr__(self, "promotion_id", promotion_id)


class Condition(StrEnum):
    """Which check a promotion failed, where its ``Reason`` is broad: ``not_eligible``
    (status, window, who) and ``no_eligible_items`` (scope)."""

    STATUS = "status"  # not active (a status other than active or paused)
    WEEKDAYS = "weekdays"
    HOURS = "hours"
    CUSTOMER_TIERS = "customer_tiers"
    CHANNELS = "channels"
    SEGMENTS = "segments"
    NEW_CUSTOMER = "new_customer"
    FIRST_ORDER = "first_order"
    PHONE_VERIFIED = "phone_verified"
    MEMBER_TIER = "member_tier"  # a member price without the customer's tier
    SCOPE = "scope"  # no line of the cart in scope


@dataclass(frozen=True, slots=True)
class CouponOutcome(_Record):
    code: str
    promotion_id: str | None
    applied: bool
    reason: Reason | None = None
    missing_amount: int | None = None  # for min_amount_not_met: how much more in scope
    missing_qty: int | None = None  # for min_qty_not_met
    condition: Condition | None = None  # the check that failed, when the reason is broad
    promotion: Promotion | None = None  # the coupon's promotion, when the code is known

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        code: str,
        promotion_id: str | None,
        applied: bool,
        reason: Reason | None = None,
        missing_amount: int | None = None,
        missing_qty: int | None = None,
        condition: Condition | None = None,
        promotion: Promotion | None = None,
    ) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "promotion_id", promotion_id)
        object.__setattr__(self, "applied", applied)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "missing_amount", missing_amount)
        object.__setattr__(self, "missing_qty", missing_qty)
        object.__setattr__(self, "condition", condition)
        object.__setattr__(self, "promotion", promotion)


@dataclass(frozen=True, slots=True)
class Hint(_Record):
    promotion: Promotion
    missing_amount: int | None
    missing_qty: int | None
    reward_amount: int

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        promotion: Promotion,
        missing_amount: int | None,
        missing_qty: int | None,
        reward_amount: int,
    ) -> None:
        object.__setattr__(self, "promotion", promotion)
        object.__setattr__(self, "missing_amount", missing_amount)
        object.__setattr__(self, "missing_qty", missing_qty)
        object.__setattr__(self, "reward_amount", reward_amount)


@dataclass(frozen=True, slots=True)
class Quote(_Record):
    currency: str
    subtotal: int
    discount_total: int
    shipping_fee: int
    shipping_discount: int
    total: int
    lines: tuple[LineResult, ...]
    applied: tuple[Applied, ...]
    gifts: tuple[GiftLine, ...]
    coupons: tuple[CouponOutcome, ...]
    hints: tuple[Hint, ...]
    optimal: bool
    rules_version: str
    degraded: bool = False
    search_stopped: bool = False  # the search's work bound cut it short (optimal is False)

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        currency: str,
        subtotal: int,
        discount_total: int,
        shipping_fee: int,
        shipping_discount: int,
        total: int,
        lines: tuple[LineResult, ...],
        applied: tuple[Applied, ...],
        gifts: tuple[GiftLine, ...],
        coupons: tuple[CouponOutcome, ...],
        hints: tuple[Hint, ...],
        optimal: bool,
        rules_version: str,
        degraded: bool = False,
        search_stopped: bool = False,
    ) -> None:
        object.__setattr__(self, "currency", currency)
        object.__setattr__(self, "subtotal", subtotal)
        object.__setattr__(self, "discount_total", discount_total)
        object.__setattr__(self, "shipping_fee", shipping_fee)
        object.__setattr__(self, "shipping_discount", shipping_discount)
        object.__setattr__(self, "total", total)
        object.__setattr__(self, "lines", lines)
        object.__setattr__(self, "applied", applied)
        object.__setattr__(self, "gifts", gifts)
        object.__setattr__(self, "coupons", coupons)
        object.__setattr__(self, "hints", hints)
        object.__setattr__(self, "optimal", optimal)
        object.__setattr__(self, "rules_version", rules_version)
        object.__setattr__(self, "degraded", degraded)
        object.__setattr__(self, "search_stopped", search_stopped)
