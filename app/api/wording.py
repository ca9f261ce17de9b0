"""Words for people, made at the edge from the engine's records.

The engine says *what* happened with machine-readable records (a ``Reason``,
a ``Hint`` with amounts); this module says it in English for the cart page.
Amounts are formatted from minor units with the currency's decimals (2 for
CNY/USD, 0 for JPY/KRW-like currencies, 3 for BHD-like ones), no thousands
separators: ``money(10200, "CNY") == "102.00"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from app.rules import model

ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])

FormatMoney = Callable[[int], str]
"""Minor units → text in one currency (``money`` with the currency bound)."""


def decimals(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def money(amount: int, currency: str = "CNY") -> str:
    places = decimals(currency.upper())
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**places)
    return f"{sign}{whole}.{part:0{places}d}" if places else f"{sign}{whole}"


def percent(value: Fraction) -> str:
    """``Fraction(15)`` → ``"15"``, ``Fraction(17, 2)`` → ``"8.5"``."""
    if value.denominator == 1:
        return str(value.numerator)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return format(exact.normalize(), "f")


def _items(qty: int) -> str:
    return f"{qty} item{'s' if qty != 1 else ''}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _tier(tier: model.Tier, m: FormatMoney) -> str:
    reach = (
        f"spend {m(tier.min_amount)}"
        if tier.min_amount is not None
        else f"buy {_items(tier.min_qty or 0)}"
    )
    if tier.percent is not None:
        return f"{reach} get {percent(tier.percent)}% off"
    return f"{reach} save {m(tier.amount_off or 0)}"


def _threshold(benefit: model.Threshold, m: FormatMoney, amount: int | None) -> str:
    reached = [t for t in benefit.tiers if amount is not None and t.amount_off == amount]
    if reached and not benefit.repeat:
        return _tier(reached[-1], m)
    if benefit.repeat:
        parts = []
        for tier in benefit.tiers:
            reward = (
                f"{percent(tier.percent)}% off"
                if tier.percent is not None
                else f"save {m(tier.amount_off or 0)}"
            )
            per = (
                m(tier.min_amount) + " spent"
                if tier.min_amount is not None
                else _items(tier.min_qty or 0)
            )
            parts.append(f"{reward} for every {per}")
        text = "; ".join(parts)
    else:
        text = "; ".join(_tier(t, m) for t in benefit.tiers)
    if benefit.max_discount is not None:
        text += f", up to {m(benefit.max_discount)}"
    return text


def _gifts(gifts: tuple[model.GiftItem, ...]) -> str:
    return ", ".join(f"{g.sku} × {g.qty}" for g in gifts)


def _gift(benefit: model.Gift, m: FormatMoney) -> str:
    return "; ".join(
        (
            f"spend {m(t.min_amount)}"
            if t.min_amount is not None
            else f"buy {_items(t.min_qty or 0)}"
        )
        + f" get {_gifts(t.gifts)}"
        for t in benefit.tiers
    )


def _percent_off(benefit: model.PercentOff, m: FormatMoney) -> str:
    cap = f", up to {m(benefit.max_discount)}" if benefit.max_discount is not None else ""
    return f"{percent(benefit.percent)}% off{cap}"


def _nth_item(benefit: model.NthItem) -> str:
    off = "free" if benefit.percent == 100 else f"{percent(benefit.percent)}% off"
    return f"every {_ordinal(benefit.every)} item {off}"


def _bundle(benefit: model.Bundle, m: FormatMoney) -> str:
    items = " + ".join(f"{i.sku} × {i.qty}" for i in benefit.items)
    return f"{items} for {m(benefit.price)}"


Describe = Callable[[Any, FormatMoney, "int | None"], str]

DESCRIPTIONS: Mapping[str, Describe] = {
    "threshold": _threshold,
    "item_percent_off": lambda b, m, a: f"{percent(b.percent)}% off",
    "item_amount_off": lambda b, m, a: f"{m(b.amount)} off each",
    "item_fixed_price": lambda b, m, a: f"now {m(b.price)} each",
    "member_price": lambda b, m, a: "member price",
    "flash_sale": lambda b, m, a: "flash sale price",
    "amount_off": lambda b, m, a: f"{m(b.amount)} off",
    "percent_off": lambda b, m, a: _percent_off(b, m),
    "nth_item": lambda b, m, a: _nth_item(b),
    "bundle": lambda b, m, a: _bundle(b, m),
    "gift": lambda b, m, a: _gift(b, m),
    "free_shipping": lambda b, m, a: "free shipping",
    "shipping_amount_off": lambda b, m, a: f"{m(b.amount)} off shipping",
}
"""What each benefit type gives, by its type string (the registry's,
``app.rules.benefits.registered()``), in words."""


def describe(promotion: model.Promotion, m: FormatMoney, amount: int | None = None) -> str:
    """One line saying what a promotion gives, e.g. ``spend 300.00 save 50.00``.

    With the ``amount`` it gave, a threshold names the tier that gave it when
    that is plain (an ``amount_off`` tier equal to it); otherwise every tier.
    """
    words = DESCRIPTIONS.get(promotion.benefit.type)
    return promotion.name if words is None else words(promotion.benefit, m, amount)


REASONS: Mapping[model.Reason, str] = {
    model.Reason.UNKNOWN_CODE: "this code is not valid",
    model.Reason.NOT_STARTED: "this coupon cannot be used yet",
    model.Reason.EXPIRED: "this coupon has expired",
    model.Reason.PAUSED: "this coupon is paused",
    model.Reason.NOT_ELIGIBLE: "this coupon is not available for this customer, channel or time",
    model.Reason.MIN_AMOUNT_NOT_MET: "the items in scope do not reach this coupon's minimum amount",
    model.Reason.MIN_QTY_NOT_MET: "not enough items in scope to use this coupon",
    model.Reason.NO_ELIGIBLE_ITEMS: "no item in the cart can use this coupon",
    model.Reason.USAGE_LIMIT_REACHED: "this coupon has reached its usage limit",
    model.Reason.BUDGET_EXHAUSTED: "this coupon's budget is used up",
    model.Reason.ALREADY_USED: "this code has already been used",
    model.Reason.NOT_OWNER: "this code belongs to another customer",
    model.Reason.CONFLICT: "cannot be combined with an offer already applied",
    model.Reason.NOT_BEST: "the cart is cheaper without this coupon",
}


def coupon_message(outcome: model.CouponOutcome, m: FormatMoney) -> str:
    if outcome.applied:
        return "coupon applied"
    reason = outcome.reason
    if reason is model.Reason.MIN_AMOUNT_NOT_MET and outcome.missing_amount:
        return f"spend {m(outcome.missing_amount)} more in scope to use this coupon"
    if reason is model.Reason.MIN_QTY_NOT_MET and outcome.missing_qty:
        return f"add {_items(outcome.missing_qty)} more in scope to use this coupon"
    if reason is None:
        return "coupon not applied"
    return REASONS[reason]


def hint_message(hint: model.Hint, m: FormatMoney) -> str:
    """凑单: ``add 102.00 more to save 100.00``."""
    if hint.missing_amount is not None:
        need = f"add {m(hint.missing_amount)} more"
    elif hint.missing_qty is not None:
        need = f"add {_items(hint.missing_qty)} more"
    else:
        need = "add more"
    if isinstance(hint.promotion.benefit, model.FreeShipping):
        return f"{need} for free shipping"
    if hint.reward_amount > 0:
        return f"{need} to save {m(hint.reward_amount)}"
    return f"{need} to qualify for {hint.promotion.name}"
