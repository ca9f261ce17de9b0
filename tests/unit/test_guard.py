"""The publish guard on engine records: what it judges deep, what it lets pass."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.errors import DeepDiscount
from app.promotions.guard import check_deep_discount, deep_discounts
from app.rules.model import (
    AmountOff,
    Benefit,
    Bundle,
    BundleItem,
    Conditions,
    FlashItem,
    FlashSale,
    ItemAmountOff,
    ItemFixedPrice,
    ItemPercentOff,
    MemberPrice,
    NthItem,
    PercentOff,
    Promotion,
    Threshold,
    Tier,
)


def promotion(benefit: Benefit, **changes: object) -> Promotion:
    return Promotion(id="p-1", name="p-1", benefit=benefit, **changes)  # type: ignore[arg-type]


DEEP = [
    (ItemPercentOff(percent=Fraction(90)), ("benefit", "percent"), Fraction(90)),
    (PercentOff(percent=Fraction(81)), ("benefit", "percent"), Fraction(81)),
    (
        MemberPrice(tiers={"gold": Fraction(5), "vip": Fraction(85)}),
        ("benefit", "tiers", "vip", "percent"),
        Fraction(85),
    ),
    (
        Threshold(
            tiers=(
                Tier(min_amount=30000, amount_off=5000),
                Tier(min_amount=10**5, amount_off=90000),
            )
        ),
        ("benefit", "tiers", 1, "amount_off"),
        Fraction(90),
    ),
    (
        Threshold(tiers=(Tier(min_qty=2, percent=Fraction(95)),)),
        ("benefit", "tiers", 0, "percent"),
        Fraction(95),
    ),
    (NthItem(every=1, percent=Fraction(90)), ("benefit", "percent"), Fraction(90)),
]


@pytest.mark.parametrize(("benefit", "loc", "share"), DEEP)
def test_deep_benefits_are_named(
    benefit: Benefit, loc: tuple[object, ...], share: Fraction
) -> None:
    (found,) = deep_discounts(promotion(benefit), max_percent=80)
    assert (found.loc, found.percent_off, found.benefit_type) == (loc, share, benefit.type)
    with pytest.raises(DeepDiscount) as refused:
        check_deep_discount(promotion(benefit), confirmed=False, max_percent=80)
    assert refused.value.code == "deep_discount"
    assert refused.value.status == 422
    assert [p.loc for p in refused.value.problems] == [("body", *loc)]
    assert benefit.type in refused.value.detail
    check_deep_discount(promotion(benefit), confirmed=True, max_percent=80)  # confirmed: passes
    assert deep_discounts(promotion(benefit), max_percent=100) == []


PASSING = [
    ItemPercentOff(percent=Fraction(80)),  # at the limit, not above
    ItemPercentOff(percent=Fraction(10)),  # 9折
    PercentOff(percent=Fraction(20), max_discount=1000),
    NthItem(every=2, percent=Fraction(100)),  # second item free: 50% off the pair
    Threshold(tiers=(Tier(min_amount=30000, amount_off=5000),)),
    Threshold(tiers=(Tier(min_qty=3, amount_off=90000),)),  # by quantity: share unknown
    AmountOff(amount=5000),  # no minimum: the share depends on the cart
    ItemAmountOff(amount=10**6),
    ItemFixedPrice(price=1),  # list price unknown: previews judge lines
    FlashSale(items=(FlashItem(sku="A", price=1, stock=10),)),
    Bundle(items=(BundleItem(sku="A", qty=2),), price=1),
    MemberPrice(prices={"gold": {"A": 1}}),
]


@pytest.mark.parametrize("benefit", PASSING, ids=lambda b: b.type)
def test_shares_it_cannot_know_or_within_the_limit_pass(benefit: Benefit) -> None:
    assert deep_discounts(promotion(benefit), max_percent=80) == []
    check_deep_discount(promotion(benefit), confirmed=False, max_percent=80)


def test_an_amount_off_is_judged_against_its_minimum() -> None:
    deep = promotion(AmountOff(amount=9000), conditions=Conditions(min_amount=10000))
    (found,) = deep_discounts(deep, max_percent=80)
    assert (found.loc, found.percent_off) == (("benefit", "amount"), Fraction(90))
    fine = promotion(AmountOff(amount=8000), conditions=Conditions(min_amount=10000))
    assert deep_discounts(fine, max_percent=80) == []
