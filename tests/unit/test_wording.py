"""Wording made at the edge: amounts, descriptions, coupon messages, hints."""

from __future__ import annotations

from fractions import Fraction
from functools import partial

import pytest

from app.api import wording
from app.rules import model

CNY = partial(wording.money, currency="CNY")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (10200, "CNY", "102.00"),
        (5, "CNY", "0.05"),
        (0, "USD", "0.00"),
        (-150, "CNY", "-1.50"),
        (1500, "JPY", "1500"),
        (1500, "krw", "1500"),
        (1500, "KWD", "1.500"),
    ],
)
def test_money(amount: int, currency: str, text: str) -> None:
    assert wording.money(amount, currency) == text


def test_percent() -> None:
    assert wording.percent(Fraction(15)) == "15"
    assert wording.percent(Fraction(17, 2)) == "8.5"
    assert wording.percent(Fraction(3333, 100)) == "33.33"


def promo(benefit: model.Benefit, name: str = "p") -> model.Promotion:
    return model.Promotion(id="p", name=name, benefit=benefit)


@pytest.mark.parametrize(
    ("benefit", "amount", "text"),
    [
        (
            model.Threshold(tiers=(model.Tier(min_amount=30000, amount_off=5000),)),
            5000,
            "spend 300.00 save 50.00",
        ),
        (
            model.Threshold(
                tiers=(
                    model.Tier(min_amount=30000, amount_off=5000),
                    model.Tier(min_amount=50000, amount_off=10000),
                )
            ),
            10000,
            "spend 500.00 save 100.00",
        ),
        (
            model.Threshold(
                tiers=(model.Tier(min_amount=10000, amount_off=1000),),
                repeat=True,
                max_discount=3000,
            ),
            3000,
            "save 10.00 for every 100.00 spent, up to 30.00",
        ),
        (
            model.Threshold(tiers=(model.Tier(min_qty=3, percent=Fraction(10)),)),
            2100,
            "buy 3 items get 10% off",
        ),
        (model.ItemPercentOff(percent=Fraction(17, 2)), None, "8.5% off"),
        (model.ItemAmountOff(amount=500), None, "5.00 off each"),
        (model.ItemFixedPrice(price=9900), None, "now 99.00 each"),
        (model.AmountOff(amount=2000), None, "20.00 off"),
        (model.PercentOff(percent=Fraction(10), max_discount=3000), None, "10% off, up to 30.00"),
        (model.NthItem(every=2, percent=Fraction(50)), None, "every 2nd item 50% off"),
        (model.NthItem(every=3, percent=Fraction(100)), None, "every 3rd item free"),
        (
            model.Bundle(items=(model.BundleItem("A", 1), model.BundleItem("B", 1)), price=15000),
            None,
            "A × 1 + B × 1 for 150.00",
        ),
        (
            model.Gift(tiers=(model.GiftTier(gifts=(model.GiftItem("G1", 1),), min_amount=20000),)),
            0,
            "spend 200.00 get G1 × 1",
        ),
        (model.FreeShipping(), None, "free shipping"),
        (model.ShippingAmountOff(amount=500), None, "5.00 off shipping"),
    ],
)
def test_describe(benefit: model.Benefit, amount: int | None, text: str) -> None:
    assert wording.describe(promo(benefit), CNY, amount) == text


def test_every_reason_has_a_message() -> None:
    for reason in model.Reason:
        outcome = model.CouponOutcome(code="X", promotion_id="p", applied=False, reason=reason)
        message = wording.coupon_message(outcome, CNY)
        assert message
        assert message == wording.REASONS[reason]


def test_coupon_messages_name_what_is_missing() -> None:
    short = model.CouponOutcome(
        code="X",
        promotion_id="p",
        applied=False,
        reason=model.Reason.MIN_AMOUNT_NOT_MET,
        missing_amount=10000,
    )
    assert wording.coupon_message(short, CNY) == "spend 100.00 more in scope to use this coupon"
    few = model.CouponOutcome(
        code="X",
        promotion_id="p",
        applied=False,
        reason=model.Reason.MIN_QTY_NOT_MET,
        missing_qty=2,
    )
    assert wording.coupon_message(few, CNY) == "add 2 items more in scope to use this coupon"
    applied = model.CouponOutcome(code="X", promotion_id="p", applied=True)
    assert wording.coupon_message(applied, CNY) == "coupon applied"


def test_hint_messages() -> None:
    threshold = promo(model.Threshold(tiers=(model.Tier(min_amount=50000, amount_off=10000),)))
    hint = model.Hint(
        promotion=threshold, missing_amount=10200, missing_qty=None, reward_amount=10000
    )
    assert wording.hint_message(hint, CNY) == "add 102.00 more to save 100.00"
    by_qty = model.Hint(promotion=threshold, missing_amount=None, missing_qty=1, reward_amount=2000)
    assert wording.hint_message(by_qty, CNY) == "add 1 item more to save 20.00"
    shipping = model.Hint(
        promotion=promo(model.FreeShipping()),
        missing_amount=400,
        missing_qty=None,
        reward_amount=1000,
    )
    assert wording.hint_message(shipping, CNY) == "add 4.00 more for free shipping"
