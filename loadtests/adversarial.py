"""Carts that make the combination search work hard, for the search benchmark
(``loadtests.bench_search``) and the engine's adversarial tests.

Each family is a function ``(lines, seed) -> (promotions, request)``; amounts in fen.

- ``shoes``: a gold member's cart where every line has two competing item offers
  (a 10% category sale and an 8% gold member price) and a store-wide 满300减50 /
  满1000减200 couples them: issue 12's cart, prices of a shoe shop.
- ``near_threshold``: the same offers, prices drawn so that the cart's list total
  sits around 1,100 yuan: the 8% offers on some lines may lift the cart back over
  the 1,000 threshold after the 10% ones drop it below. A subset-sum the search
  can only bound, never shortcut.
- ``campaign``: a realistic sale cart: a quarter of the lines are shoes with the two
  competing offers, the rest groceries and gadgets with one item offer or none, a
  store-wide 满减 and a 第二件半价 on groceries, free shipping over 99 yuan.
- ``shops``: a marketplace cart over ten shops, three of them with a 店铺满减 on
  their own lines: the other shops' lines are decided before the walk.
- ``coupon_pile``: a few lines and many presented coupons sharing the one
  ``coupon`` exclusion group, next to a 满减.
- ``exclusives``: many exclusive promotions (不与其他优惠同享) next to the usual ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction

from app.rules.model import (
    Conditions,
    Customer,
    FreeShipping,
    ItemAmountOff,
    ItemPercentOff,
    Line,
    MemberPrice,
    NthItem,
    PercentOff,
    PresentedCoupon,
    Promotion,
    QuoteRequest,
    Scope,
    Threshold,
    Tier,
)

AT = datetime(2026, 11, 11, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
GOLD = Customer(id="c-gold", tier="gold")

Family = Callable[[int, int], tuple[list[Promotion], QuoteRequest]]


def _fs(*values: str) -> frozenset[str]:
    return frozenset(values)


def _manjian(pid: str = "mj-store") -> Promotion:
    return Promotion(
        id=pid,
        name="满300减50 / 满1000减200",
        benefit=Threshold(
            (Tier(min_amount=30_000, amount_off=5_000), Tier(min_amount=100_000, amount_off=20_000))
        ),
    )


def _shoe_offers() -> list[Promotion]:
    return [
        Promotion(
            id="shoes-10",
            name="shoes 10% off",
            benefit=ItemPercentOff(Fraction(10)),
            scope=Scope(categories=_fs("shoes")),
        ),
        Promotion(
            id="gold-8",
            name="gold members 8% off",
            benefit=MemberPrice(tiers={"gold": Fraction(8)}),
            scope=Scope(categories=_fs("shoes")),
        ),
    ]


def _shoe(i: int, price: int) -> Line:
    return Line(f"l{i}", f"SHOE-{i}", 1, price, "shoes", "brand-run", f"m-{i % 3}")


def shoes(lines: int, seed: int) -> tuple[list[Promotion], QuoteRequest]:
    rng = random.Random(seed)
    cart = tuple(_shoe(i, rng.randrange(3_900, 59_900, 100)) for i in range(lines))
    return [*_shoe_offers(), _manjian()], QuoteRequest(lines=cart, at=AT, customer=GOLD)


def near_threshold(lines: int, seed: int) -> tuple[list[Promotion], QuoteRequest]:
    rng = random.Random(seed)
    mean = 110_000 // lines
    cart = tuple(
        _shoe(i, max(1, rng.randrange(mean * 8 // 10, mean * 12 // 10 + 1))) for i in range(lines)
    )
    return [*_shoe_offers(), _manjian()], QuoteRequest(lines=cart, at=AT, customer=GOLD)


def campaign(lines: int, seed: int) -> tuple[list[Promotion], QuoteRequest]:
    rng = random.Random(seed)
    cart: list[Line] = []
    for i in range(lines):
        kind = i % 4
        if kind == 0:
            cart.append(_shoe(i, rng.randrange(9_900, 59_900, 100)))
        elif kind == 1:
            cart.append(
                Line(
                    f"l{i}",
                    f"FOOD-{i}",
                    rng.randint(1, 4),
                    rng.randrange(990, 9_900, 10),
                    "grocery",
                    "brand-food",
                    "m-food",
                )
            )
        elif kind == 2:
            cart.append(
                Line(
                    f"l{i}",
                    f"GADGET-{i}",
                    1,
                    rng.randrange(4_900, 29_900, 100),
                    "gadgets",
                    "brand-x",
                    "m-digital",
                    _fs("11-11"),
                )
            )
        else:
            cart.append(
                Line(
                    f"l{i}",
                    f"BOOK-{i}",
                    rng.randint(1, 2),
                    rng.randrange(1_990, 8_990, 10),
                    "books",
                    "brand-pub",
                    "m-books",
                )
            )
    promotions = [
        *_shoe_offers(),
        _manjian(),
        Promotion(
            id="gadgets-30",
            name="gadgets 30 off each",
            benefit=ItemAmountOff(3_000),
            scope=Scope(tags=_fs("11-11")),
        ),
        Promotion(
            id="grocery-2nd-half",
            name="第二件半价",
            benefit=NthItem(every=2, percent=Fraction(50)),
            scope=Scope(categories=_fs("grocery")),
        ),
        Promotion(
            id="free-ship-99",
            name="free shipping over 99",
            benefit=FreeShipping(),
            conditions=Conditions(min_amount=9_900),
        ),
    ]
    return promotions, QuoteRequest(lines=tuple(cart), at=AT, customer=GOLD, shipping_fee=1_000)


def coupon_pile(coupons: int, seed: int) -> tuple[list[Promotion], QuoteRequest]:
    rng = random.Random(seed)
    cart = tuple(_shoe(i, rng.randrange(9_900, 59_900, 100)) for i in range(4))
    promotions: list[Promotion] = [*_shoe_offers(), _manjian()]
    presented: list[PresentedCoupon] = []
    for k in range(coupons):
        pid = f"cp-{k:03d}"
        if k % 2:
            benefit: object = PercentOff(Fraction(rng.randint(5, 20)), rng.choice([None, 8_000]))
        else:
            benefit = Threshold(
                (
                    Tier(
                        min_amount=rng.randrange(10_000, 150_000, 1_000),
                        amount_off=rng.randrange(1_000, 30_000, 500),
                    ),
                )
            )
        promotions.append(
            Promotion(
                id=pid,
                name=pid,
                benefit=benefit,
                trigger="coupon",  # type: ignore[arg-type]
                priority=rng.randint(0, 3),
            )
        )
        presented.append(PresentedCoupon(f"CODE-{k:03d}", pid))
    return promotions, QuoteRequest(lines=cart, at=AT, customer=GOLD, coupons=tuple(presented))


def exclusives(count: int, seed: int) -> tuple[list[Promotion], QuoteRequest]:
    rng = random.Random(seed)
    cart = tuple(_shoe(i, rng.randrange(9_900, 59_900, 100)) for i in range(8))
    promotions: list[Promotion] = [*_shoe_offers(), _manjian()]
    for k in range(count):
        pid = f"ex-{k:03d}"
        benefit: object = (
            PercentOff(Fraction(rng.randint(10, 30)))
            if k % 2
            else ItemPercentOff(Fraction(rng.randint(5, 25)))
        )
        promotions.append(
            Promotion(id=pid, name=pid, benefit=benefit, exclusive=True)  # type: ignore[arg-type]
        )
    return promotions, QuoteRequest(lines=cart, at=AT, customer=GOLD)


def shops(lines: int, seed: int) -> tuple[list[Promotion], QuoteRequest]:
    """A marketplace cart over ten shops, every line with the two competing offers;
    three shops run a 店铺满减 on their own lines only (满200减20 / 满500减60), the
    other shops' lines no order promotion sees."""
    rng = random.Random(seed)
    cart = tuple(
        Line(
            f"l{i}",
            f"SHOE-{i}",
            1,
            rng.randrange(3_900, 29_900, 100),
            "shoes",
            "brand-run",
            f"shop-{i % 10}",
        )
        for i in range(lines)
    )
    promotions = [*_shoe_offers()]
    for shop in range(3):
        promotions.append(
            Promotion(
                id=f"shop-{shop}-mj",
                name="满200减20 / 满500减60",
                benefit=Threshold(
                    (
                        Tier(min_amount=20_000, amount_off=2_000),
                        Tier(min_amount=50_000, amount_off=6_000),
                    )
                ),
                scope=Scope(merchants=_fs(f"shop-{shop}")),
            )
        )
    return promotions, QuoteRequest(lines=cart, at=AT, customer=GOLD)


FAMILIES: dict[str, Family] = {
    "shoes": shoes,
    "near_threshold": near_threshold,
    "campaign": campaign,
    "shops": shops,
    "coupon_pile": coupon_pile,
    "exclusives": exclusives,
}
