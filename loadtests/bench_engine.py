"""In-process benchmark of the pricing engine: ``app.rules.engine.price``.

Run it from the project root::

    .venv/bin/python -m loadtests.bench_engine            # default: 100, 1,000, 10,000
    .venv/bin/python -m loadtests.bench_engine --help

One 10-line cart is priced against rule sets of 100, 1,000 and 10,000 active
promotions, all in this one process. Every rule set holds the same
*cart-touching* promotions (``cart_promotions()``): 20 that pass every
request-only check and reach the combination search (item offers competing
for the same lines, exclusion groups, thresholds, a bundle, gifts, free
shipping, one exclusive, and three presented coupons) plus 4 near misses that
the index finds but the checks reject (expired, wrong tier, off-hours, wrong
channel). The rest are a marketplace's long tail (``background_promotions()``):
every benefit type, scoped to skus, categories, brands, merchants or tags that
the cart does not carry, a share of them coupons nobody presented. Only the
long tail grows with the size, so the ratio of the medians shows what the
non-matching promotions cost.

Two carts are priced against the same rule sets: the *heavy* one above and a
*typical* one (``typical_request()``: 10 lines, 4 promotions apply, nothing
conflicts, so no search).

Each rule set is built once (the build is timed and reported, not part of the
quote timings). Sizes are measured interleaved, in a shuffled order each round,
so drift on a noisy machine hits every size alike. Each sample is one
``price()`` call timed with ``time.thread_time_ns`` (``--clock cpu``, the default:
the CPU time of this thread, which other processes on a shared machine do not
inflate by preempting it) or ``time.perf_counter_ns`` (``--clock wall``).
Afterwards the middle size (1,000 by default) is profiled with cProfile. The
engine build measured (mypyc-compiled or pure, ``app/native.py``) is printed;
``PRICING_ENGINE=pure`` measures the pure-Python engine.

Targets (issue 14): median at 1,000 promotions ≤ 60 µs for the typical cart and
≤ 500 µs for the heavy one; the 10,000 median no more than 1.5x the 100 median.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import app
from app.rules import search as search_module
from app.rules.engine import price
from app.rules.model import (
    AmountOff,
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
    HourWindow,
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
    Quote,
    QuoteRequest,
    Readings,
    Scope,
    ShippingAmountOff,
    Threshold,
    Tier,
)
from app.rules.ruleset import RuleSet

# the sample clock: time.thread_time_ns (--clock cpu) or time.perf_counter_ns (--clock wall)
CLOCK: list[Callable[[], int]] = [time.thread_time_ns]
# issue 14: the median at 1,000 promotions, per cart
TARGET_MEDIAN_US_AT_1000 = {"heavy": 500.0, "typical": 60.0}
TARGET_RATIO = 1.5

AT = datetime(2026, 11, 11, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, a Wednesday
SEASON_START = datetime(2026, 11, 1, tzinfo=UTC)
SEASON_END = datetime(2026, 12, 1, tzinfo=UTC)


def _fs(*values: str) -> frozenset[str]:
    return frozenset(values)


def _promo(pid: str, benefit: object, **kwargs: object) -> Promotion:
    kwargs.setdefault("starts_at", SEASON_START)
    kwargs.setdefault("ends_at", SEASON_END)
    return Promotion(id=pid, name=pid, benefit=benefit, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- cart


def cart_lines() -> tuple[Line, ...]:
    """Ten lines from four merchants (amounts in fen)."""
    return (
        Line("1", "SKU-PHONE-1", 1, 399_900, "phones", "brand-x", "m-digital", _fs("5g")),
        Line("2", "SKU-CASE-1", 2, 4_900, "phone-accessories", "brand-x", "m-digital"),
        Line(
            "3",
            "SKU-CHARGER-1",
            1,
            12_900,
            "phone-accessories",
            "brand-y",
            "m-digital",
            min_unit_price=9_900,
        ),
        Line("4", "SKU-TEA-1", 3, 5_800, "tea", "brand-leaf", "m-grocery"),
        Line("5", "SKU-SNACK-1", 4, 1_990, "snacks", "brand-crunch", "m-grocery", _fs("imported")),
        Line("6", "SKU-SNACK-2", 2, 2_590, "snacks", "brand-crunch", "m-grocery"),
        Line("7", "SKU-TSHIRT-1", 2, 8_900, "apparel", "brand-cotton", "m-fashion"),
        Line("8", "SKU-SOCKS-1", 3, 1_500, "apparel", "brand-cotton", "m-fashion"),
        Line("9", "SKU-SHAMPOO-1", 1, 6_900, "personal-care", "brand-fresh", "m-beauty"),
        Line("10", "SKU-CONDITIONER-1", 1, 7_900, "personal-care", "brand-fresh", "m-beauty"),
    )


def quote_request() -> QuoteRequest:
    return QuoteRequest(
        lines=cart_lines(),
        at=AT,
        customer=Customer(id="u-42", tier="gold", segments=_fs("active"), phone_verified=True),
        channel="app",
        shipping_fee=1_000,
        coupons=(
            PresentedCoupon("PLAT50", "cart-c-plat-500-50"),
            PresentedCoupon("FASHION10", "cart-c-fashion-10pct"),
            PresentedCoupon("GROCERY5", "cart-c-grocery-5", owner="u-42"),
        ),
        readings=Readings(
            flash_available={("cart-i-flash-charger", "SKU-CHARGER-1"): 37},
            uses={"cart-o-digital-1500": 12},
            budget_spent={"cart-o-platform-manjian": 1_250_000},
        ),
    )


def typical_lines() -> tuple[Line, ...]:
    """Ten lines a few promotions touch: a fashion shop (a fixed-price t-shirt,
    第二件半价 on socks) and three shops that no promotion names."""

    def line(n: int, sku: str, qty: int, price: int, category: str, merchant: str) -> Line:
        brand = "brand-cotton" if merchant == "m-fashion" else f"brand-{merchant}"
        return Line(str(n), sku, qty, price, category, brand, merchant)

    return (
        line(1, "SKU-TSHIRT-1", 1, 8_900, "apparel", "m-fashion"),
        line(2, "SKU-SOCKS-1", 2, 1_500, "apparel", "m-fashion"),
        line(3, "SKU-MUG-1", 2, 3_900, "kitchen", "m-home"),
        line(4, "SKU-TOWEL-1", 3, 2_900, "bath", "m-home"),
        line(5, "SKU-LAMP-1", 1, 15_900, "lighting", "m-home"),
        line(6, "SKU-NOVEL-1", 1, 4_500, "books", "m-books"),
        line(7, "SKU-NOVEL-2", 1, 3_800, "books", "m-books"),
        line(8, "SKU-KIBBLE-1", 1, 12_900, "pet-food", "m-pets"),
        line(9, "SKU-TREATS-1", 3, 1_900, "pet-food", "m-pets"),
        line(10, "SKU-LEASH-1", 1, 4_900, "pet-supplies", "m-pets"),
    )


def typical_request() -> QuoteRequest:
    """The typical cart (4 promotions searched and applied, nothing conflicting): a
    silver member on the web, no coupons, the readings of a fresh service."""
    return QuoteRequest(
        lines=typical_lines(),
        at=AT,
        customer=Customer(id="u-1001", tier="silver"),
        channel="web",
        shipping_fee=800,
    )


# --------------------------------------------------- promotions that touch the cart


def cart_promotions() -> tuple[list[Promotion], list[Promotion]]:
    """(searched, near misses): the same at every size.

    ``searched`` pass the request-only checks and go into the search; the near
    misses are found through the index and rejected before it.
    """
    digital = Scope(merchants=_fs("m-digital"))
    grocery = Scope(merchants=_fs("m-grocery"))
    fashion = Scope(merchants=_fs("m-fashion"))
    beauty = Scope(merchants=_fs("m-beauty"))
    searched = [
        # item stage: lines 1 and 3 get two offers each, lines 5/6 share a group
        _promo(
            "cart-i-phones-5pct",
            ItemPercentOff(Fraction(5)),
            scope=Scope(categories=_fs("phones")),
        ),
        _promo(
            "cart-i-digital-member",
            MemberPrice(tiers={"gold": Fraction(8), "platinum": Fraction(12)}),
            scope=digital,
        ),
        _promo(
            "cart-i-flash-charger",
            FlashSale((FlashItem("SKU-CHARGER-1", 8_900, 200, per_customer_limit=1),)),
        ),
        _promo(
            "cart-i-snack-200",
            ItemAmountOff(200),
            scope=Scope(skus=_fs("SKU-SNACK-1")),
            exclusion_group="grocery-daily",
        ),
        _promo(
            "cart-i-crunch-1590",
            ItemFixedPrice(1_590),
            scope=Scope(brands=_fs("brand-crunch")),
            exclusion_group="grocery-daily",
        ),
        _promo("cart-i-tshirt-6900", ItemFixedPrice(6_900), scope=Scope(skus=_fs("SKU-TSHIRT-1"))),
        # order stage
        _promo(
            "cart-o-platform-manjian",  # 跨店满减: 满300减30 / 满600减65 / 满1000减120
            Threshold(
                (
                    Tier(min_amount=30_000, amount_off=3_000),
                    Tier(min_amount=60_000, amount_off=6_500),
                    Tier(min_amount=100_000, amount_off=12_000),
                )
            ),
            exclusion_group="platform",
            limits=Limits(budget=50_000_000),
        ),
        _promo(
            "cart-o-food-5pct",
            PercentOff(Fraction(5), max_discount=5_000),
            scope=Scope(categories=_fs("snacks", "tea")),
            exclusion_group="platform",
        ),
        _promo(
            "cart-o-digital-every-100-10",  # 每满100减10, up to 300
            Threshold(
                (Tier(min_amount=10_000, amount_off=1_000),), repeat=True, max_discount=30_000
            ),
            scope=digital,
            exclusion_group="shop-digital",
            priority=5,
        ),
        _promo(
            "cart-o-digital-1500",
            AmountOff(1_500),
            scope=digital,
            exclusion_group="shop-digital",
            conditions=Conditions(min_amount=50_000),
            limits=Limits(max_uses=10_000),
        ),
        _promo(
            "cart-o-grocery-qty",  # 5 件 9 折, 10 件 85 折
            Threshold(
                (Tier(min_qty=5, percent=Fraction(10)), Tier(min_qty=10, percent=Fraction(15)))
            ),
            scope=grocery,
            exclusion_group="shop-grocery",
        ),
        _promo(
            "cart-o-socks-2nd-half",
            NthItem(every=2, percent=Fraction(50)),
            scope=Scope(skus=_fs("SKU-SOCKS-1")),
        ),
        _promo(
            "cart-o-hair-bundle",
            Bundle((BundleItem("SKU-SHAMPOO-1", 1), BundleItem("SKU-CONDITIONER-1", 1)), 11_900),
            scope=beauty,
            exclusion_group="shop-beauty",
        ),
        _promo(
            "cart-o-beauty-gift",
            Gift((GiftTier((GiftItem("SKU-SAMPLE-1", 1),), min_amount=10_000),)),
            scope=beauty,
        ),
        _promo(
            "cart-o-app-exclusive-12pct",  # App 专享: alone, not with anything else
            PercentOff(Fraction(12), max_discount=20_000),
            exclusive=True,
            conditions=Conditions(channels=_fs("app"), phone_verified=True),
        ),
        # coupon stage: presented by the request
        _promo(
            "cart-c-plat-500-50",
            Threshold((Tier(min_amount=50_000, amount_off=5_000),)),
            trigger="coupon",
        ),
        _promo(
            "cart-c-fashion-10pct",
            PercentOff(Fraction(10), max_discount=3_000),
            scope=fashion,
            trigger="coupon",
        ),
        _promo(
            "cart-c-grocery-5",
            AmountOff(500),
            scope=grocery,
            trigger="coupon",
            exclusion_group="shop-coupon-grocery",
            conditions=Conditions(min_amount=5_000),
        ),
        # shipping stage
        _promo("cart-s-free-99", FreeShipping(), conditions=Conditions(min_amount=9_900)),
        _promo("cart-s-grocery-600", ShippingAmountOff(600), scope=grocery),
    ]
    near_misses = [
        _promo(
            "cart-x-phones-expired",
            ItemPercentOff(Fraction(15)),
            scope=Scope(categories=_fs("phones")),
            ends_at=AT - timedelta(days=1),
        ),
        _promo(
            "cart-x-digital-platinum",
            MemberPrice(tiers={"platinum": Fraction(15)}),
            scope=digital,
        ),
        _promo(
            "cart-x-fashion-night",
            Threshold((Tier(min_amount=10_000, amount_off=2_000),)),
            scope=fashion,
            hours=(HourWindow(22 * 60, 2 * 60),),
        ),
        _promo(
            "cart-x-grocery-miniprogram",
            PercentOff(Fraction(20)),
            scope=grocery,
            conditions=Conditions(channels=_fs("mini-program")),
        ),
    ]
    return searched, near_misses


# ------------------------------------------------------- the marketplace's long tail

_BACKGROUND_KINDS = (
    "item_percent_off",
    "item_amount_off",
    "item_fixed_price",
    "member_price",
    "flash_sale",
    "threshold",
    "threshold_repeat",
    "threshold_qty",
    "amount_off",
    "percent_off",
    "nth_item",
    "bundle",
    "gift",
    "free_shipping",
    "shipping_amount_off",
    "coupon_threshold",
    "coupon_amount_off",
    "coupon_percent_off",
    "coupon_shipping",
)


def _background_benefit(kind: str, rng: random.Random, sku: Callable[[], str]) -> object:
    percent = Fraction(rng.choice((5, 8, 10, 12, 15, 20, 25, 30)))
    if kind == "item_percent_off":
        return ItemPercentOff(percent)
    if kind == "item_amount_off":
        return ItemAmountOff(rng.choice((100, 200, 500, 1_000)))
    if kind == "item_fixed_price":
        return ItemFixedPrice(rng.randrange(990, 99_000, 100))
    if kind == "member_price":
        return MemberPrice(
            tiers={"silver": percent / 2, "gold": percent},
            prices={"platinum": {sku(): rng.randrange(990, 9_900, 100)}},
        )
    if kind == "flash_sale":
        return FlashSale(
            tuple(
                FlashItem(sku(), rng.randrange(990, 19_900, 100), rng.randrange(50, 5_000), 1)
                for _ in range(rng.randint(1, 3))
            )
        )
    if kind in ("threshold", "coupon_threshold"):
        base = rng.choice((10_000, 20_000, 30_000, 50_000))
        return Threshold(
            tuple(
                Tier(min_amount=base * k, amount_off=base * k // 10 + 500 * (k - 1))
                for k in range(1, rng.randint(2, 4))
            )
        )
    if kind == "threshold_repeat":
        step = rng.choice((10_000, 20_000, 30_000))
        return Threshold(
            (Tier(min_amount=step, amount_off=step // 10),), repeat=True, max_discount=step
        )
    if kind == "threshold_qty":
        return Threshold(
            (Tier(min_qty=2, percent=Fraction(5)), Tier(min_qty=4, percent=Fraction(10)))
        )
    if kind in ("amount_off", "coupon_amount_off"):
        return AmountOff(rng.choice((300, 500, 1_000, 2_000)))
    if kind in ("percent_off", "coupon_percent_off"):
        return PercentOff(percent, max_discount=rng.choice((None, 2_000, 5_000)))
    if kind == "nth_item":
        return NthItem(every=rng.choice((2, 3)), percent=rng.choice((Fraction(50), Fraction(100))))
    if kind == "bundle":
        return Bundle(
            (BundleItem(sku(), 1), BundleItem(sku(), rng.randint(1, 2))),
            rng.randrange(5_000, 50_000, 100),
            max_applications=rng.choice((None, 1, 3)),
        )
    if kind == "gift":
        return Gift(
            (
                GiftTier((GiftItem(sku(), 1),), min_amount=rng.choice((9_900, 19_900))),
                GiftTier((GiftItem(sku(), 1), GiftItem(sku(), 1)), min_amount=49_900),
            )
        )
    if kind == "free_shipping":
        return FreeShipping()
    return ShippingAmountOff(rng.choice((300, 500, 800)))


def background_promotions(count: int, seed: int) -> list[Promotion]:
    """``count`` promotions that the cart's index keys never reach.

    Scopes draw from skus, categories, brands, merchants and tags the cart does
    not carry; some also name one of the cart's merchants, brands or categories
    alongside a more selective list the cart misses (the index files a
    promotion under its most selective list, so those stay out of reach too).
    """
    rng = random.Random(seed)
    n_merchants = max(20, count // 8)
    n_categories = max(30, min(2_000, count // 5))
    n_brands = max(30, count // 4)

    def sku() -> str:
        return f"BG-SKU-{rng.randrange(max(1_000, count * 20)):07d}"

    def merchant() -> str:
        return f"bg-m-{rng.randrange(n_merchants):05d}"

    def category() -> str:
        return f"bg-cat-{rng.randrange(n_categories):04d}"

    def brand() -> str:
        return f"bg-brand-{rng.randrange(n_brands):05d}"

    cart_merchants = ("m-digital", "m-grocery", "m-fashion", "m-beauty")
    cart_categories = ("phones", "snacks", "apparel", "personal-care")
    out: list[Promotion] = []
    for i in range(count):
        kind = _BACKGROUND_KINDS[i % len(_BACKGROUND_KINDS)]
        benefit = _background_benefit(kind, rng, sku)
        roll = rng.random()
        if roll < 0.30:
            scope = Scope(merchants=frozenset(merchant() for _ in range(rng.randint(1, 2))))
        elif roll < 0.55:
            scope = Scope(categories=frozenset(category() for _ in range(rng.randint(1, 3))))
        elif roll < 0.70:
            scope = Scope(skus=frozenset(sku() for _ in range(rng.randint(1, 5))))
        elif roll < 0.80:
            scope = Scope(brands=_fs(brand()), exclude_skus=_fs(sku()))
        elif roll < 0.85:
            scope = Scope(tags=_fs(f"bg-tag-{rng.randrange(50):02d}"))
        elif roll < 0.93:  # a cart merchant's promotion on categories the cart misses
            scope = Scope(categories=_fs(category()), merchants=_fs(rng.choice(cart_merchants)))
        else:  # a cart category, but only for skus the cart misses
            scope = Scope(skus=_fs(sku(), sku()), categories=_fs(rng.choice(cart_categories)))
        coupon = kind.startswith("coupon_")
        group_roll = rng.random()
        group = None
        if group_roll < 0.35:
            group = "platform"
        elif group_roll < 0.60:
            group = f"shop-{i % 97}"
        kwargs: dict[str, object] = {
            "trigger": "coupon" if coupon else "auto",
            "exclusion_group": group,
            "priority": rng.choice((0, 0, 0, 1, 5, 10)),
            "exclusive": rng.random() < 0.02,
            "scope": scope,
        }
        condition_roll = rng.random()
        if condition_roll < 0.15:
            kwargs["conditions"] = Conditions(customer_tiers=_fs("gold", "platinum"))
        elif condition_roll < 0.25:
            kwargs["conditions"] = Conditions(new_customer=True)
        elif condition_roll < 0.35:
            kwargs["conditions"] = Conditions(min_amount=rng.choice((9_900, 19_900)))
        limit_roll = rng.random()
        if limit_roll < 0.20:
            kwargs["limits"] = Limits(budget=rng.randrange(100_000, 10_000_000, 100_000))
        elif limit_roll < 0.30:
            kwargs["limits"] = Limits(max_uses=10_000, max_uses_per_customer=1)
        time_roll = rng.random()
        if time_roll < 0.10:
            kwargs["hours"] = (HourWindow(20 * 60, 24 * 60),)
        elif time_roll < 0.15:
            kwargs["weekdays"] = frozenset({6, 7})
        out.append(_promo(f"bg-{i:06d}-{kind}", benefit, **kwargs))
    return out


# ------------------------------------------------------------------ measurement


@dataclass
class Case:
    size: int
    rules: RuleSet
    build_ms: float
    background: int
    index_candidates: int  # auto promotions the index hands the engine for this cart
    samples: list[int]
    floor_rules: RuleSet  # the long tail alone: what the promotion count costs by itself
    floor_samples: list[int]
    optimal: int = 0
    quotes: int = 0
    reference: Quote | None = None


def _quote_fingerprint(quote: Quote) -> tuple[object, ...]:
    return (
        quote.total,
        quote.shipping_discount,
        tuple(sorted((a.promotion.id, a.amount) for a in quote.applied)),
        tuple((c.code, c.applied, c.reason) for c in quote.coupons),
        quote.optimal,
    )


def build_case(size: int, seed: int) -> Case:
    searched, near_misses = cart_promotions()
    fixed = searched + near_misses
    if size < len(fixed):
        raise SystemExit(f"size {size} is below the {len(fixed)} cart-touching promotions")
    background = background_promotions(size - len(fixed), seed)
    started = time.perf_counter_ns()
    rules = RuleSet(fixed + background, f"bench#{size}")
    build_ms = (time.perf_counter_ns() - started) / 1e6
    candidates = len(rules.auto_candidates(cart_lines()))
    floor_rules = RuleSet(background, f"bench-floor#{size}")
    return Case(size, rules, build_ms, len(background), candidates, [], floor_rules, [])


def percentile(sorted_values: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


@contextmanager
def _search_counters() -> Iterator[dict[str, int]]:
    """Count the search's leaves and legal combinations for one diagnostic quote.

    Wraps ``app.rules.search._Search.leaf``/``offer`` for the duration (never while
    timing); yields an empty dict if the engine no longer has them.
    """
    names = {"leaf": "leaves", "offer": "legal"}
    cls: Any = getattr(search_module, "_Search", None)
    compiled = app.native.ENGINE == "compiled"  # mypyc calls past a wrapped method
    if compiled or cls is None or not all(hasattr(cls, name) for name in names):
        yield {}
        return
    counts = dict.fromkeys(names.values(), 0)
    originals = {name: getattr(cls, name) for name in names}

    def counting(counter: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[counter] += 1
            return original(*args, **kwargs)

        return wrapper

    try:
        for name, original in originals.items():
            setattr(cls, name, counting(names[name], original))
    except TypeError:  # a compiled (mypyc) class: its methods cannot be wrapped
        yield {}
        return
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)


def measure(
    cases: list[Case],
    request: QuoteRequest,
    warmup: int,
    repeats: int,
    min_repeats: int,
    budget_s: float,
    seed: int,
) -> None:
    """Interleaved rounds: each round prices the cart once per size, in a shuffled order.

    Stops after ``repeats`` rounds, or earlier once ``budget_s`` seconds have gone
    and at least ``min_repeats`` rounds are in.
    """
    for case in cases:
        for _ in range(warmup):
            price(case.rules, request)
    order_rng = random.Random(seed + 1)
    perf = CLOCK[0]
    deadline = time.perf_counter_ns() + int(budget_s * 1e9)
    gc.collect()
    for round_no in range(repeats):
        if round_no >= min_repeats and time.perf_counter_ns() > deadline:
            break
        order_rng.shuffle(cases)
        for case in cases:
            rules = case.rules
            started = perf()
            quote = price(rules, request)
            elapsed = perf() - started
            case.samples.append(elapsed)
            case.quotes += 1
            case.optimal += quote.optimal
            if case.reference is None:
                case.reference = quote
    cases.sort(key=lambda c: c.size)


def measure_floor(cases: list[Case], request: QuoteRequest, repeats: int, seed: int) -> None:
    """The same cart against each size's long tail alone, interleaved the same way."""
    for case in cases:
        for _ in range(min(50, repeats)):
            price(case.floor_rules, request)
    order_rng = random.Random(seed + 2)
    perf = CLOCK[0]
    gc.collect()
    for _ in range(repeats):
        order_rng.shuffle(cases)
        for case in cases:
            rules = case.floor_rules
            started = perf()
            price(rules, request)
            case.floor_samples.append(perf() - started)
    cases.sort(key=lambda c: c.size)


def profile(case: Case, request: QuoteRequest, calls: int, top: int, dump: str | None) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        price(case.rules, request)
    profiler.disable()
    if dump:
        profiler.dump_stats(dump)
    out = io.StringIO()
    for key in ("cumulative", "tottime"):
        print(f"\n--- cProfile, {case.size:,} promotions, {calls} quotes, by {key} ---", file=out)
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(top)
    return out.getvalue()


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f}"


def report(cases: list[Case], cart: str, request: QuoteRequest, middle: int) -> bool:
    searched, near_misses = cart_promotions()
    for case in cases:
        case.index_candidates = len(case.rules.auto_candidates(request.lines))
    print(
        f"{cart} cart: {len(request.lines)} lines, {len(request.coupons)} presented coupons; "
        f"cart-touching promotions at every size: {len(searched)} searched "
        f"+ {len(near_misses)} near misses"
    )
    reference = cases[0].reference
    assert reference is not None
    with _search_counters() as counts:
        price(cases[0].rules, request)
    print(
        f"quote: total {reference.total} fen, {len(reference.applied)} applied "
        f"({', '.join(a.promotion.id for a in reference.applied)}); "
        f"search: {counts.get('leaves', '?')} leaves, "
        f"{counts.get('legal', '?')} legal combinations"
    )
    print()
    header = (
        f"{'promotions':>10} {'long tail':>9} {'idx cand':>8} {'build ms':>9} {'n':>5} "
        f"{'min µs':>9} {'median µs':>10} {'p90 µs':>9} {'p99 µs':>9} {'optimal':>8} "
        f"{'floor med µs':>12}"
    )
    print(header)
    print("-" * len(header))
    medians: dict[int, float] = {}
    floors: dict[int, float] = {}
    for case in cases:
        floors[case.size] = (
            statistics.median(case.floor_samples) if case.floor_samples else float("nan")
        )
        samples = sorted(case.samples)
        medians[case.size] = statistics.median(samples)
        share = case.optimal / case.quotes if case.quotes else float("nan")
        print(
            f"{case.size:>10,} {case.background:>9,} {case.index_candidates:>8} "
            f"{case.build_ms:>9.1f} {len(samples):>5} {_us(samples[0]):>9} "
            f"{_us(medians[case.size]):>10} {_us(percentile(samples, 90)):>9} "
            f"{_us(percentile(samples, 99)):>9} {share:>8.0%} {_us(floors[case.size]):>12}"
        )
    print(
        "floor: the same request against the long tail alone (nothing touches the cart; "
        "separate interleaved phase): the fixed per-quote cost, and what the count alone adds"
    )
    same = all(
        case.reference is not None
        and _quote_fingerprint(case.reference) == _quote_fingerprint(reference)
        for case in cases
    )
    print(f"\nsame quote at every size: {'yes' if same else 'NO'}")
    ok = same
    smallest, largest = min(medians), max(medians)
    if smallest != largest:
        ratio = medians[largest] / medians[smallest]
        met = ratio <= TARGET_RATIO
        ok &= met
        print(
            f"ratio median {largest:,}/{smallest:,}: {ratio:.2f}x "
            f"(target ≤ {TARGET_RATIO}x): {'met' if met else 'NOT met'}; "
            f"floor ratio {floors[largest] / floors[smallest]:.2f}x"
        )
    if middle in medians:
        target = TARGET_MEDIAN_US_AT_1000[cart]
        met = medians[middle] / 1000 <= target
        ok &= met
        print(
            f"{cart} cart, median at {middle:,}: {_us(medians[middle])} µs "
            f"(target ≤ {target:.0f} µs): {'met' if met else 'NOT met'}"
        )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_engine",
        description="Median in-process time of app.rules.engine.price() for a 10-line cart "
        "against growing numbers of promotions.",
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(v) for v in s.split(",")],
        default=[100, 1_000, 10_000],
        help="comma-separated rule-set sizes (default: 100,1000,10000)",
    )
    parser.add_argument(
        "--carts",
        type=lambda s: s.split(","),
        default=["typical", "heavy"],
        help="comma-separated carts, measured one after the other (default: typical,heavy)",
    )
    parser.add_argument(
        "--repeats", type=int, default=150, help="timed quotes per size, at most (default: 150)"
    )
    parser.add_argument(
        "--min-repeats",
        type=int,
        default=40,
        help="timed quotes per size taken even past the budget (default: 40)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds for each cart's timed phase; rounds stop once it is spent (default: 30)",
    )
    parser.add_argument(
        "--floor-repeats",
        type=int,
        default=1_000,
        help="timed quotes per size against the long tail alone (default: 1000; 0: skip)",
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed quotes per size first")
    parser.add_argument(
        "--profile-size",
        type=int,
        default=1_000,
        help="size to profile with cProfile (default: 1000; 0: no profile)",
    )
    parser.add_argument("--profile-calls", type=int, default=20, help="quotes under cProfile")
    parser.add_argument("--profile-top", type=int, default=25, help="rows per profile table")
    parser.add_argument("--profile-out", help="also dump the raw cProfile stats to this file")
    parser.add_argument("--seed", type=int, default=20261111, help="long-tail generator seed")
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu: this thread's CPU time per quote (default); wall: elapsed time",
    )
    parser.add_argument(
        "--no-gc", action="store_true", help="disable the garbage collector while timing"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 unless the targets are met")
    args = parser.parse_args(argv)

    print(
        f"python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
        f"affinity {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
    )
    print(
        f"sizes {args.sizes}, up to {args.repeats} timed quotes per size (interleaved, "
        f"budget {args.budget:.0f} s, at least {args.min_repeats}), "
        f"warm-up {args.warmup}, gc {'off' if args.no_gc else 'on'}"
    )
    CLOCK[0] = time.thread_time_ns if args.clock == "cpu" else time.perf_counter_ns
    print(f"clock: {args.clock}; engine build: {app.native.ENGINE} (PRICING_ENGINE, app/native.py)")
    requests = {"heavy": quote_request(), "typical": typical_request()}
    built = {size: build_case(size, args.seed) for size in args.sizes}
    ok = True
    for cart in args.carts:
        request = requests[cart]
        cases = [
            replace(case, samples=[], floor_samples=[], optimal=0, quotes=0, reference=None)
            for case in built.values()
        ]
        wall = time.perf_counter()
        if args.no_gc:
            gc.disable()
        try:
            measure(
                cases,
                request,
                args.warmup,
                args.repeats,
                args.min_repeats,
                args.budget,
                args.seed,
            )
            wall_floor = time.perf_counter()
            measure_floor(cases, request, args.floor_repeats, args.seed)
        finally:
            gc.enable()
        print(
            f"\n{cart}: timed phase {wall_floor - wall:.1f} s; floor phase "
            f"{time.perf_counter() - wall_floor:.1f} s"
        )
        ok &= report(cases, cart, request, 1_000)

    if args.profile_size:
        target = built.get(args.profile_size) or build_case(args.profile_size, args.seed)
        started = time.perf_counter()
        for cart in args.carts:
            print(f"\n=== {cart} cart ===")
            text = profile(
                target, requests[cart], args.profile_calls, args.profile_top, args.profile_out
            )
            print(text)
        print(f"profile phase: {time.perf_counter() - started:.1f} s")
        if args.profile_out:
            print(f"raw cProfile stats written to {args.profile_out} (the last cart)")
    sys.stdout.flush()
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
