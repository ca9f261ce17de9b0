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


# ------------------------------------------------------------------ 简体中文

ZH_CNY = partial(wording.money_zh, currency="CNY")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(19900, "CNY", "¥199.00"), (-150, "CNY", "-¥1.50"), (1500, "USD", "USD 15.00")],
)
def test_money_zh(amount: int, currency: str, text: str) -> None:
    assert wording.money_zh(amount, currency) == text


@pytest.mark.parametrize(
    ("benefit", "amount", "text"),
    [
        (
            model.Threshold(tiers=(model.Tier(min_amount=30000, amount_off=5000),)),
            5000,
            "满300减50",
        ),
        (
            model.Threshold(
                tiers=(
                    model.Tier(min_amount=29950, amount_off=5000),
                    model.Tier(min_amount=50000, amount_off=10000),
                ),
                max_discount=10000,
            ),
            None,
            "满299.50减50，满500减100，最多减100",
        ),
        (
            model.Threshold(tiers=(model.Tier(min_amount=10000, amount_off=1000),), repeat=True),
            3000,
            "每满100减10",
        ),
        (model.Threshold(tiers=(model.Tier(min_qty=3, percent=Fraction(10)),)), 0, "满3件打9折"),
        (model.ItemPercentOff(percent=Fraction(15)), None, "打8.5折"),
        (model.ItemPercentOff(percent=Fraction(10)), None, "打9折"),
        (model.ItemAmountOff(amount=500), None, "每件立减¥5.00"),
        (model.ItemFixedPrice(price=9900), None, "特价¥99.00/件"),
        (model.AmountOff(amount=2000), None, "立减¥20.00"),
        (model.PercentOff(percent=Fraction(10), max_discount=3000), None, "打9折，最多减¥30.00"),
        (model.NthItem(every=2, percent=Fraction(50)), None, "第二件半价"),
        (model.NthItem(every=3, percent=Fraction(100)), None, "第三件免费"),
        (model.NthItem(every=2, percent=Fraction(30)), None, "第二件打7折"),
        (
            model.Gift(tiers=(model.GiftTier(gifts=(model.GiftItem("G1", 1),), min_amount=20000),)),
            0,
            "满200送G1×1",
        ),
        (model.FreeShipping(), None, "包邮"),
    ],
)
def test_describe_zh(benefit: model.Benefit, amount: int | None, text: str) -> None:
    assert wording.describe_zh(promo(benefit), ZH_CNY, amount) == text


def test_every_language_describes_every_type() -> None:
    assert set(wording.DESCRIPTIONS_ZH) == set(wording.DESCRIPTIONS)
    assert set(wording.REASONS_ZH) == set(model.Reason)


def test_a_hint_over_a_reached_tier_says_the_total() -> None:
    tiers = promo(model.Threshold(tiers=(model.Tier(min_amount=50000, amount_off=10000),)))
    hint = model.Hint(promotion=tiers, missing_amount=14180, missing_qty=None, reward_amount=10000)
    assert (
        wording.hint_message(hint, CNY, 5000)
        == "add 141.80 more to save 100.00 in total (50.00 more than now)"
    )
    assert (
        wording.hint_message_zh(hint, ZH_CNY, 5000) == "再买¥141.80共减¥100.00（比现在多减¥50.00）"
    )
    assert wording.hint_message_zh(hint, ZH_CNY) == "再买¥141.80可减¥100.00"


@pytest.mark.parametrize(
    ("reason", "units", "english", "chinese"),
    [
        (
            model.NoticeReason.SOLD_OUT,
            0,
            "sold out at the flash sale price 50.00",
            "秒杀价¥50.00已售罄",
        ),
        (
            model.NoticeReason.SOLD_OUT,
            2,
            "only 2 items left at the flash sale price 50.00; the rest at another price",
            "秒杀价¥50.00仅剩2件，其余不按秒杀价计算",
        ),
        (
            model.NoticeReason.LIMIT_REACHED,
            0,
            "flash sale limit of 2 items per customer reached: "
            "the flash sale price 50.00 is not given",
            "秒杀价¥50.00每人限购2件，您已达上限",
        ),
        (
            model.NoticeReason.STOCK_UNKNOWN,
            0,
            "flash sale stock cannot be checked right now: the flash sale price 50.00 is not given",
            "暂时无法查询秒杀库存，未按秒杀价¥50.00计算",
        ),
    ],
)
def test_notice_messages(
    reason: model.NoticeReason, units: int, english: str, chinese: str
) -> None:
    notice = model.Notice("fs", reason, units, 5000, 2)
    assert wording.notice_message(notice, CNY) == english
    assert wording.notice_message_zh(notice, ZH_CNY) == chinese


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("zh", "zh-CN"),
        ("zh-SG", "zh-CN"),
        ("zh-CN;q=0.8, en;q=0.9", "en"),
        ("zh-CN;q=0.8, en;q=0.9, zh;q=1.0", "zh-CN"),
        ("zh-CN;q=0.8;level=1", "zh-CN"),
        ("zh-CN; q=0.8 , en ;q=0.7", "zh-CN"),
        ("zh;q=1.0001", "en"),  # more than three decimals: malformed, dropped
        ("zh-Hant-TW, zh-HK", "en"),
        ("en-GB, zh", "en"),
    ],
)
def test_language_of(header: str | None, language: str) -> None:
    assert wording.language_of(header).language == language
