"""Hypothesis strategies for the pricing engine: small carts, promotions of every
benefit type, presented coupons and whole quote requests.

Everything is drawn from tiny vocabularies (4 skus, 2 categories, 2 brands, 3 tags,
2 exclusion groups) so scopes overlap and choices conflict often, and the number
of promotions stays small (≤ 6) so a brute force over every combination is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import strategies as st

from app.rules.benefits import registered
from app.rules.model import (
    AmountOff,
    Benefit,
    Bundle,
    BundleItem,
    Conditions,
    Customer,
    FlashItem,
    FlashSale,
    FreeShipping,
    Gift,
    GiftItem,
    GiftTier,
    ItemAmountOff,
    ItemFixedPrice,
    ItemPercentOff,
    Limits,
    Line,
    MemberPrice,
    NthItem,
    PercentOff,
    PresentedCoupon,
    Promotion,
    QuoteRequest,
    Readings,
    Scope,
    ShippingAmountOff,
    Threshold,
    Tier,
)

AT = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)

SKUS = ("A", "B", "C", "D")
CATEGORIES = ("c1", "c2")
BRANDS = ("b1", "b2")
MERCHANTS = ("m1", "m2")
TAGS = ("t1", "t2", "t3")
TIERS = ("silver", "gold")
GROUPS = ("g1", "g2")
GIFT_SKUS = ("G1", "G2")

BENEFIT_TYPES = registered()  # the registry's list; _DRAW below must cover it

# ------------------------------------------------------------------------ scalars
# strategies are built once, here, not inside the composites: building them per
# draw costs more than drawing from them

money = st.one_of(
    st.sampled_from([0, 1, 99, 100, 500, 999, 1000, 2500, 5000, 9999, 10000, 30000, 50000]),
    st.integers(0, 50000),
)
threshold_amount = st.one_of(
    st.sampled_from([1, 1000, 5000, 10000, 20000, 30000, 50000, 100000]),
    st.integers(1, 200000),
)
percent = st.one_of(
    st.sampled_from([Fraction(p) for p in (5, 10, 15, 20, 50, 100)] + [Fraction("8.5")]),
    st.integers(1, 10000).map(lambda n: Fraction(n, 100)),  # up to two decimals
)
_small = {n: st.integers(0, n) for n in (0, 1, 2, 3, 4, 5, 6, 9, 99)}
_qty = st.integers(1, 5)
_permille = st.integers(0, 1000)
_near = st.integers(150, 1100)  # a threshold near the cart: 15%–110% of it
_share = st.integers(5, 400)  # an amount off: 0.5%–40% of the cart
_sku = st.sampled_from(SKUS)
_category = st.one_of(st.none(), st.sampled_from(CATEGORIES))
_brand = st.one_of(st.none(), st.sampled_from(BRANDS))
_merchant = st.one_of(st.none(), st.sampled_from(MERCHANTS))
_tags = st.frozensets(st.sampled_from(TAGS), max_size=2)
_tier = st.sampled_from(TIERS)
_gift_skus = st.lists(st.sampled_from(GIFT_SKUS), min_size=1, unique=True)
_per_customer = st.one_of(st.none(), st.integers(1, 3))


def _subset(values: tuple[str, ...]) -> st.SearchStrategy[frozenset[str]]:
    """Often empty (a scope list is usually unused), else a non-empty subset."""
    some = st.frozensets(st.sampled_from(values), min_size=1, max_size=len(values))
    return st.one_of(st.just(frozenset()), st.just(frozenset()), some)


# -------------------------------------------------------------------------- cart


@st.composite
def lines(draw: st.DrawFn, min_size: int = 1) -> tuple[Line, ...]:
    count = min_size + draw(_small[4 - min_size])
    out = []
    for i in range(count):
        unit_price = draw(money)
        kind = draw(_small[6])
        if kind <= 3:
            floor = None
        elif kind <= 5:
            floor = unit_price * draw(_permille) // 1000
        else:  # at or above the price: no room
            floor = unit_price + draw(_small[1])
        out.append(
            Line(
                line_id=str(i + 1),
                sku=draw(_sku),
                qty=draw(_qty),
                unit_price=unit_price,
                category=draw(_category),
                brand=draw(_brand),
                merchant=draw(_merchant),
                tags=draw(_tags),
                min_unit_price=floor,
            )
        )
    return tuple(out)


customers = st.builds(
    Customer,
    id=st.sampled_from(["u1", "u2"]),
    tier=st.one_of(st.none(), st.sampled_from(TIERS)),
    segments=st.frozensets(st.sampled_from(["vip", "new"]), max_size=1),
    new_customer=st.booleans(),
    first_order=st.booleans(),
    phone_verified=st.booleans(),
)


@dataclass(frozen=True)
class Cart:
    """What promotion amounts are drawn relative to, so thresholds sit near the cart
    (reached by one combination, missed by another) and discounts matter."""

    subtotal: int
    units: int
    skus: tuple[str, ...]
    prices: tuple[int, ...]

    @classmethod
    def of(cls, cart: tuple[Line, ...]) -> Cart:
        return cls(
            subtotal=sum(line.list_total for line in cart),
            units=sum(line.qty for line in cart),
            skus=tuple(sorted({line.sku for line in cart})),
            prices=tuple(line.unit_price for line in cart),
        )


ANY_CART = Cart(100000, 10, SKUS, (10000,))


def _amount(draw: st.DrawFn, cart: Cart) -> int:
    """A threshold: mostly near the cart's subtotal, sometimes anything."""
    if draw(_small[3]) == 0:
        return draw(threshold_amount)
    return max(1, cart.subtotal * draw(_near) // 1000)


def _off(draw: st.DrawFn, cart: Cart) -> int:
    """An amount off (or a cap): mostly a slice of the cart, sometimes anything."""
    if draw(_small[3]) == 0:
        return 1 + draw(money)
    return max(1, cart.subtotal * draw(_share) // 1000)


def _unit_price(draw: st.DrawFn, cart: Cart) -> int:
    """A sale price: mostly a fraction of some line's unit price, sometimes anything."""
    if draw(_small[3]) == 0:
        return draw(money)
    return draw(st.sampled_from(cart.prices)) * draw(_permille) // 1000


def _cart_sku(draw: st.DrawFn, cart: Cart) -> str:
    return draw(st.sampled_from(cart.skus)) if draw(_small[3]) else draw(_sku)


def _cart_skus(draw: st.DrawFn, cart: Cart) -> list[str]:
    return sorted({_cart_sku(draw, cart) for _ in range(1 + draw(_small[1]))})


def _mins(draw: st.DrawFn, cart: Cart, by_qty: bool, most: int) -> list[int]:
    """Strictly ascending tier minimums."""
    count = 1 + draw(_small[most - 1])
    if by_qty:
        found = {1 + draw(st.integers(0, cart.units + 2)) for _ in range(count)}
    else:
        found = {_amount(draw, cart) for _ in range(count)}
    return sorted(found)


# ---------------------------------------------------------------------- benefits


def _threshold(draw: st.DrawFn, cart: Cart) -> Threshold:
    by_qty = draw(st.booleans())
    tiers = []
    for m in _mins(draw, cart, by_qty, 3):
        if draw(st.booleans()):
            reward: dict[str, object] = {"amount_off": _off(draw, cart)}
        else:
            reward = {"percent": draw(percent)}
        reach = {"min_qty": m} if by_qty else {"min_amount": m}
        tiers.append(Tier(**reach, **reward))  # type: ignore[arg-type]
    return Threshold(
        tiers=tuple(tiers),
        repeat=draw(st.booleans()),
        max_discount=_off(draw, cart) if draw(st.booleans()) else None,
    )


def _gift(draw: st.DrawFn, cart: Cart) -> Gift:
    by_qty = draw(st.booleans())
    tiers = []
    for m in _mins(draw, cart, by_qty, 2):
        gifts = tuple(GiftItem(sku, 1 + draw(_small[1])) for sku in draw(_gift_skus))
        reach = {"min_qty": m} if by_qty else {"min_amount": m}
        tiers.append(GiftTier(gifts=gifts, **reach))  # type: ignore[arg-type]
    return Gift(tiers=tuple(tiers))


def _member_price(draw: st.DrawFn, cart: Cart) -> MemberPrice:
    tiers = {t: draw(percent) for t in TIERS if draw(st.booleans())}
    prices = {
        t: {sku: _unit_price(draw, cart) for sku in _cart_skus(draw, cart)}
        for t in TIERS
        if draw(_small[2]) == 0
    }
    if not tiers and not prices:
        tiers = {draw(_tier): draw(percent)}
    return MemberPrice(tiers=tiers, prices=prices)


def _flash_sale(draw: st.DrawFn, cart: Cart) -> FlashSale:
    return FlashSale(
        items=tuple(
            FlashItem(
                sku=sku,
                price=_unit_price(draw, cart),
                stock=draw(_small[6]),
                per_customer_limit=draw(_per_customer),
            )
            for sku in _cart_skus(draw, cart)
        )
    )


def _bundle(draw: st.DrawFn, cart: Cart) -> Bundle:
    skus = _cart_skus(draw, cart)
    items = tuple(BundleItem(sku, 1 + draw(_small[1])) for sku in skus)
    value = sum(draw(st.sampled_from(cart.prices)) * item.qty for item in items)
    return Bundle(
        items=items,
        price=value * draw(_permille) // 1000 if draw(_small[3]) else draw(money),
        max_applications=draw(_per_customer),
    )


def _percent_off(draw: st.DrawFn, cart: Cart) -> Benefit:
    cap = _off(draw, cart) if draw(st.booleans()) else None
    return PercentOff(draw(percent), cap)


_DRAW: dict[str, Callable[[st.DrawFn, Cart], Benefit]] = {
    "item_percent_off": lambda draw, cart: ItemPercentOff(draw(percent)),
    "item_amount_off": lambda draw, cart: ItemAmountOff(_unit_price(draw, cart)),
    "item_fixed_price": lambda draw, cart: ItemFixedPrice(_unit_price(draw, cart)),
    "member_price": _member_price,
    "flash_sale": _flash_sale,
    "threshold": _threshold,
    "amount_off": lambda draw, cart: AmountOff(_off(draw, cart)),
    "percent_off": _percent_off,
    "nth_item": lambda draw, cart: NthItem(2 + draw(_small[1]), draw(percent)),
    "bundle": _bundle,
    "gift": _gift,
    "free_shipping": lambda draw, cart: FreeShipping(),
    "shipping_amount_off": lambda draw, cart: ShippingAmountOff(1 + draw(_small[1]) * draw(money)),
}
DRAWN = frozenset(_DRAW)
"""The benefit types the strategies can draw (checked against the registry)."""


def _benefit(draw: st.DrawFn, kind: str, cart: Cart) -> Benefit:
    if kind not in _DRAW:
        raise AssertionError(f"no strategy for the registered benefit type {kind!r}")
    return _DRAW[kind](draw, cart)


# -------------------------------------------------------------------- promotions

scopes = st.one_of(
    st.just(Scope()),
    st.builds(Scope, exclude_skus=_subset(SKUS), exclude_categories=_subset(CATEGORIES)),
    st.builds(
        Scope,
        skus=_subset(SKUS),
        categories=_subset(CATEGORIES),
        brands=_subset(BRANDS),
        merchants=_subset(MERCHANTS),
        tags=_subset(TAGS),
        exclude_skus=_subset(SKUS),
        exclude_categories=_subset(CATEGORIES),
    ),
)
_who = st.builds(
    Conditions,
    customer_tiers=_subset(TIERS),
    segments=_subset(("vip", "new")),
    new_customer=st.one_of(st.none(), st.booleans()),
    first_order=st.one_of(st.none(), st.booleans()),
    phone_verified=st.one_of(st.none(), st.booleans()),
    channels=_subset(("app", "web")),
)
_limits = st.builds(
    Limits,
    max_uses=st.one_of(st.none(), st.integers(1, 3)),
    max_uses_per_customer=st.one_of(st.none(), st.integers(1, 2)),
    budget=st.one_of(st.none(), st.integers(1, 20000)),
)
_status = st.sampled_from(["active", "paused", "draft"])
_starts = st.sampled_from([None, AT, AT + timedelta(hours=1)])
_ends = st.sampled_from([None, AT, AT + timedelta(days=1)])
_trigger = st.sampled_from(["auto", "auto", "auto", "coupon"])
_group = st.sampled_from([None, None, None, *GROUPS])
_kind = st.sampled_from(BENEFIT_TYPES)
_tiers = _subset(TIERS)


def _conditions(draw: st.DrawFn, cart: Cart, who: bool) -> Conditions:
    """Mostly none; else a min_qty / min_amount near the cart (and, with ``who``,
    customer, channel and flag conditions)."""
    base = draw(_who) if who else Conditions()
    if draw(_small[2]):
        return base
    return replace(
        base,
        customer_tiers=base.customer_tiers or draw(_tiers),
        min_qty=1 + draw(st.integers(0, cart.units + 1)) if draw(st.booleans()) else None,
        min_amount=_amount(draw, cart) if draw(st.booleans()) else None,
    )


@st.composite
def promotion(
    draw: st.DrawFn,
    pid: str,
    *,
    kind: str | None = None,
    cart: Cart = ANY_CART,
    with_limits: bool = False,
    with_eligibility: bool = False,
) -> Promotion:
    """One promotion, amounts relative to ``cart``. ``with_limits``: sometimes usage
    limits or a budget; ``with_eligibility``: sometimes paused, out of its window or
    for some customers only."""
    extra: dict[str, object] = {}
    if with_limits and draw(_small[3]) == 0:
        extra["limits"] = draw(_limits)
    odd = with_eligibility and draw(_small[3]) == 0
    if odd:
        extra["status"] = draw(_status)
        extra["starts_at"] = draw(_starts)
        extra["ends_at"] = draw(_ends)
    return Promotion(
        id=pid,
        name=pid,
        benefit=_benefit(draw, kind or draw(_kind), cart),
        trigger=draw(_trigger),
        exclusive=draw(_small[9]) == 0,
        exclusion_group=draw(_group),
        priority=draw(_small[3]),
        scope=draw(scopes),
        conditions=_conditions(draw, cart, odd),
        **extra,  # type: ignore[arg-type]
    )


@st.composite
def promotions(
    draw: st.DrawFn,
    *,
    cart: Cart = ANY_CART,
    max_size: int = 6,
    with_limits: bool = False,
    with_eligibility: bool = False,
) -> tuple[Promotion, ...]:
    # mostly several, so that choices interact
    count = draw(_small[max_size]) if draw(st.booleans()) else max_size - draw(_small[2])
    count = max(0, count)
    # ids drawn (not p0..pn in order) so id order and input order differ
    ids = draw(st.lists(_small[99], min_size=count, max_size=count, unique=True))
    return tuple(
        draw(
            promotion(
                f"p{n:02d}",
                cart=cart,
                with_limits=with_limits,
                with_eligibility=with_eligibility,
            )
        )
        for n in ids
    )


# ---------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Case:
    """A generated scenario: the promotions (in input order) and a request."""

    promotions: tuple[Promotion, ...]
    request: QuoteRequest


_owner = st.sampled_from([None, None, "u1", "u2"])


@st.composite
def presented_coupons(
    draw: st.DrawFn, promos: tuple[Promotion, ...], odd_codes: bool
) -> tuple[PresentedCoupon, ...]:
    """Codes for most coupon promotions; with ``odd_codes`` also unknown codes, a
    repeated code, a second code of one coupon, a code of an auto promotion, used and
    foreign-owned codes."""
    out: list[PresentedCoupon] = []
    for p in promos:
        if p.is_coupon and draw(_small[4]) > 0:
            used = odd_codes and draw(_small[9]) == 0
            owner = draw(_owner) if odd_codes else None
            out.append(PresentedCoupon(f"C-{p.id}", p.id, owner=owner, used=used))
    if odd_codes:
        if draw(st.booleans()):
            out.append(PresentedCoupon("NOPE", None))
        if out and draw(st.booleans()):
            first = draw(st.sampled_from(out))
            out.append(PresentedCoupon(first.code.lower(), first.promotion_id))
        coupon_ids = [p.id for p in promos if p.is_coupon]
        if coupon_ids and draw(st.booleans()):
            out.append(PresentedCoupon("SECOND", draw(st.sampled_from(coupon_ids))))
        auto_ids = [p.id for p in promos if not p.is_coupon]
        if auto_ids and draw(st.booleans()):
            out.append(PresentedCoupon("AUTO", draw(st.sampled_from(auto_ids))))
    return tuple(draw(st.permutations(out)))


_spent = st.integers(0, 20000)


@st.composite
def readings(draw: st.DrawFn, promos: tuple[Promotion, ...], with_limits: bool) -> Readings:
    flash_keys = [
        (p.id, item.sku)
        for p in promos
        if isinstance(p.benefit, FlashSale)
        for item in p.benefit.items
    ]
    available: dict[tuple[str, str], int] | None = {
        key: draw(_small[6]) for key in flash_keys if draw(st.booleans())
    }
    bought = {key: draw(_small[3]) for key in flash_keys if draw(st.booleans())}
    if not with_limits:
        return Readings(flash_available=available, flash_bought=bought)
    if draw(_small[5]) == 0:
        available = None  # degraded: stock unknown
    limited = [p for p in promos if p.limits != Limits()]
    return Readings(
        flash_available=available,
        flash_bought=bought,
        uses={p.id: draw(_small[3]) for p in limited if draw(st.booleans())},
        customer_uses={p.id: draw(_small[2]) for p in limited if draw(st.booleans())},
        budget_spent={p.id: draw(_spent) for p in limited if draw(st.booleans())},
        check_limits=draw(_small[5]) > 0,
    )


_channel = st.sampled_from([None, "app", "web"])
_shipping_fee = st.one_of(st.just(0), st.sampled_from([500, 800, 1000]), money)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    max_promotions: int = 6,
    with_limits: bool = False,
    with_eligibility: bool = False,
    odd_codes: bool = False,
    min_lines: int = 1,
) -> Case:
    cart = draw(lines(min_lines))
    promos = draw(
        promotions(
            cart=Cart.of(cart),
            max_size=max_promotions,
            with_limits=with_limits,
            with_eligibility=with_eligibility,
        )
    )
    coupons = draw(presented_coupons(promos, odd_codes))
    wallet: tuple[PresentedCoupon, ...] = ()
    if odd_codes and draw(_small[3]) == 0:
        wallet = tuple(
            PresentedCoupon(f"W-{p.id}", p.id, owner="u1")
            for p in promos
            if p.is_coupon and draw(st.booleans())
        )
    request = QuoteRequest(
        lines=cart,
        at=AT,
        customer=draw(customers),
        channel=draw(_channel),
        shipping_fee=draw(_shipping_fee),
        coupons=coupons,
        wallet=wallet,
        readings=draw(readings(promos, with_limits)),
    )
    return Case(promos, request)
