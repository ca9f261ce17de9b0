"""Words for people, made at the edge from the engine's records.

The engine says *what* happened with machine-readable records (a ``Reason``
and the ``Condition`` that failed, a ``Hint`` with amounts, a line's
``Notice``); this module says it for the cart page, in English (the default)
or in simplified Chinese (``Accept-Language``: ``language_of``). A ``Wording``
is one language's set of sentences; ``ENGLISH`` and ``CHINESE`` are the two.

English amounts are formatted from minor units with the currency's decimals
(2 for CNY/USD, 0 for JPY/KRW-like currencies, 3 for BHD-like ones), no
thousands separators and no symbol: ``money(10200, "CNY") == "102.00"``.
Chinese ones carry the symbol, ``¥102.00`` (other currencies their code,
``USD 102.00``); descriptions use the banner phrasing (满300减50, 打9折,
第二件半价), with whole yuan written without decimals.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal
from zoneinfo import ZoneInfo

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
"""A reason's sentence when nothing more precise is known (no condition, no promotion)."""

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def local_time(promotion: model.Promotion, at: datetime) -> str:
    """A promotion time in the promotion's zone, with its offset: ``2026-11-11 00:00 UTC+08:00``."""
    local = at.astimezone(promotion.timezone or SHANGHAI)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} UTC{offset[:3]}:{offset[3:]}"


def _hours(promotion: model.Promotion) -> str:
    return ", ".join(
        f"{w.start // 60:02d}:{w.start % 60:02d}–{w.end // 60:02d}:{w.end % 60:02d}"
        for w in promotion.hours
    )


def _listed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


def _scope(scope: model.Scope, names: Mapping[str, str], sep: str) -> str:
    parts = [
        f"{names[key]} {_listed(values)}"
        for key, values in (
            ("skus", scope.skus),
            ("categories", scope.categories),
            ("brands", scope.brands),
            ("merchants", scope.merchants),
            ("tags", scope.tags),
        )
        if values
    ]
    return sep.join(parts)


_SCOPE_EN = {
    "skus": "items",
    "categories": "categories",
    "brands": "brands",
    "merchants": "shops",
    "tags": "tags",
}


@dataclass(frozen=True, slots=True)
class _CouponWords:
    """One language's messages for a presented coupon."""

    applied: str
    not_applied: str  # no reason known
    spend_more: Callable[[str], str]  # min_amount_not_met: the money text missing
    add_more: Callable[[int], str]  # min_qty_not_met: the items missing
    reasons: Mapping[model.Reason, str]  # any other reason, when no condition is named
    # the condition that failed, where the reason is broad
    starts: Callable[[str], str]  # not started: from when (local time)
    ended: Callable[[str], str]  # expired: since when
    no_shipping: str  # a shipping coupon on a cart without a shipping fee
    sentences: Callable[[model.Promotion], Mapping[model.Condition, Callable[[], str]]]


def _coupon_message(outcome: model.CouponOutcome, m: FormatMoney, words: _CouponWords) -> str:
    if outcome.applied:
        return words.applied
    reason = outcome.reason
    if reason is model.Reason.MIN_AMOUNT_NOT_MET and outcome.missing_amount:
        return words.spend_more(m(outcome.missing_amount))
    if reason is model.Reason.MIN_QTY_NOT_MET and outcome.missing_qty:
        return words.add_more(outcome.missing_qty)
    if reason is None:
        return words.not_applied
    return _condition(outcome, words) or words.reasons[reason]


def _condition(outcome: model.CouponOutcome, words: _CouponWords) -> str | None:
    """The sentence naming the condition that failed, when the outcome says which."""
    promotion, condition = outcome.promotion, outcome.condition
    if promotion is None:
        return None
    if outcome.reason is model.Reason.NOT_STARTED and promotion.starts_at is not None:
        return words.starts(local_time(promotion, promotion.starts_at))
    if outcome.reason is model.Reason.EXPIRED and promotion.ends_at is not None:
        return words.ended(local_time(promotion, promotion.ends_at))
    if condition is None:
        if outcome.reason is model.Reason.NOT_ELIGIBLE and promotion.benefit.type in (
            "free_shipping",
            "shipping_amount_off",
        ):
            return words.no_shipping
        return None
    return words.sentences(promotion)[condition]()


def _sentences_en(promotion: model.Promotion) -> Mapping[model.Condition, Callable[[], str]]:
    c = promotion.conditions
    C = model.Condition
    return {
        C.STATUS: lambda: "this coupon is not active",
        C.WEEKDAYS: lambda: (
            "this coupon can be used only on "
            + ", ".join(WEEKDAYS[d - 1] for d in sorted(promotion.weekdays))
        ),
        C.HOURS: lambda: (
            f"this coupon can be used only {_hours(promotion)} "
            f"({local_time(promotion, datetime(2026, 1, 1, tzinfo=SHANGHAI))[-9:]})"
        ),
        C.CUSTOMER_TIERS: lambda: f"this coupon is for {_listed(c.customer_tiers)} members only",
        C.CHANNELS: lambda: f"this coupon can be used only through {_listed(c.channels)}",
        C.SEGMENTS: lambda: f"this coupon is for customers in {_listed(c.segments)} only",
        C.NEW_CUSTOMER: lambda: (
            "this coupon is for new customers only"
            if c.new_customer
            else "this coupon is not for new customers"
        ),
        C.FIRST_ORDER: lambda: (
            "this coupon is for a first order only"
            if c.first_order
            else "this coupon is not for a first order"
        ),
        C.PHONE_VERIFIED: lambda: (
            "this coupon needs a verified phone number"
            if c.phone_verified
            else "this coupon is for customers without a verified phone number"
        ),
        C.MEMBER_TIER: lambda: "this coupon is for members of another tier",
        C.SCOPE: lambda: (
            "no item in the cart is in this coupon's scope"
            + (f" ({s})" if (s := _scope(promotion.scope, _SCOPE_EN, "; ")) else "")
        ),
    }


_COUPON_EN = _CouponWords(
    applied="coupon applied",
    not_applied="coupon not applied",
    spend_more=lambda money: f"spend {money} more in scope to use this coupon",
    add_more=lambda qty: f"add {_items(qty)} more in scope to use this coupon",
    reasons=REASONS,
    starts=lambda at: f"this coupon can be used from {at}",
    ended=lambda at: f"this coupon expired at {at}",
    no_shipping="there is no shipping fee for this coupon to take off",
    sentences=_sentences_en,
)


def coupon_message(outcome: model.CouponOutcome, m: FormatMoney) -> str:
    return _coupon_message(outcome, m, _COUPON_EN)


def hint_message(hint: model.Hint, m: FormatMoney, current: int = 0) -> str:
    """凑单: ``add 102.00 more to save 100.00``; when the promotion already gives
    ``current`` (a lower tier reached), the reward is said to be the total:
    ``add 141.80 more to save 100.00 in total (50.00 more than now)``."""
    if hint.missing_amount is not None:
        need = f"add {m(hint.missing_amount)} more"
    elif hint.missing_qty is not None:
        need = f"add {_items(hint.missing_qty)} more"
    else:
        need = "add more"
    if isinstance(hint.promotion.benefit, model.FreeShipping):
        return f"{need} for free shipping"
    if hint.reward_amount > 0 and current <= 0:
        return f"{need} to save {m(hint.reward_amount)}"
    if hint.reward_amount > current:
        extra = m(hint.reward_amount - current)
        return f"{need} to save {m(hint.reward_amount)} in total ({extra} more than now)"
    return f"{need} to qualify for {hint.promotion.name}"


def notice_message(notice: model.Notice, m: FormatMoney) -> str:
    """Why a line did not get (all of) its flash-sale price."""
    price = m(notice.price)
    R = model.NoticeReason
    if notice.reason is R.STOCK_UNKNOWN:
        return (
            "flash sale stock cannot be checked right now: "
            f"the flash sale price {price} is not given"
        )
    if notice.reason is R.SOLD_OUT:
        if notice.units == 0:
            return f"sold out at the flash sale price {price}"
        return (
            f"only {_items(notice.units)} left at the flash sale price {price}; "
            "the rest at another price"
        )
    limit = _items(notice.limit or 0)
    if notice.units == 0:
        return (
            f"flash sale limit of {limit} per customer reached: "
            f"the flash sale price {price} is not given"
        )
    return (
        f"the flash sale price {price} is limited to {limit} per customer: "
        f"{notice.units} of these at that price"
    )


# -------------------------------------------------------------------- 简体中文


def money_zh(amount: int, currency: str = "CNY") -> str:
    """``¥199.00``; another currency by its code: ``USD 199.00``."""
    code = currency.upper()
    text = money(amount, code)
    if code == "CNY":
        return f"-¥{text[1:]}" if text.startswith("-") else f"¥{text}"
    return f"{code} {text}"


def _short(m: FormatMoney, amount: int) -> str:
    """Banner amounts: whole yuan without decimals (满300减50), else as ``m`` writes them,
    without the symbol."""
    text = m(amount).lstrip("¥")
    return text[: -len(".00")] if text.endswith(".00") else text


def zhe(value: Fraction) -> str:
    """Percent off → 折: 10 → ``9``, 15 → ``8.5``, 12.5 → ``8.75``."""
    return percent((100 - value) / 10)


_DIGITS = "零一二三四五六七八九十"


def _ordinal_zh(n: int) -> str:
    return f"第{_DIGITS[n] if n <= 10 else n}件"


def _off_zh(value: Fraction) -> str:
    if value == 100:
        return "免费"
    if value == 50:
        return "半价"
    return f"打{zhe(value)}折"


def _reach_zh(min_amount: int | None, min_qty: int | None, m: FormatMoney) -> str:
    return f"满{_short(m, min_amount)}" if min_amount is not None else f"满{min_qty or 0}件"


def _tier_zh(tier: model.Tier, m: FormatMoney, every: bool = False) -> str:
    reach = ("每" if every else "") + _reach_zh(tier.min_amount, tier.min_qty, m)
    if tier.percent is not None:
        return f"{reach}{_off_zh(tier.percent)}"
    return f"{reach}减{_short(m, tier.amount_off or 0)}"


def _threshold_zh(benefit: model.Threshold, m: FormatMoney, amount: int | None) -> str:
    reached = [t for t in benefit.tiers if amount is not None and t.amount_off == amount]
    if reached and not benefit.repeat:
        return _tier_zh(reached[-1], m)
    text = "，".join(_tier_zh(t, m, every=benefit.repeat) for t in benefit.tiers)
    if benefit.max_discount is not None:
        text += f"，最多减{_short(m, benefit.max_discount)}"
    return text


def _gifts_zh(gifts: tuple[model.GiftItem, ...]) -> str:
    return "、".join(f"{g.sku}×{g.qty}" for g in gifts)


DESCRIPTIONS_ZH: Mapping[str, Describe] = {
    "threshold": _threshold_zh,
    "item_percent_off": lambda b, m, a: _off_zh(b.percent),
    "item_amount_off": lambda b, m, a: f"每件立减{m(b.amount)}",
    "item_fixed_price": lambda b, m, a: f"特价{m(b.price)}/件",
    "member_price": lambda b, m, a: "会员价",
    "flash_sale": lambda b, m, a: "秒杀价",
    "amount_off": lambda b, m, a: f"立减{m(b.amount)}",
    "percent_off": lambda b, m, a: (
        _off_zh(b.percent) + (f"，最多减{m(b.max_discount)}" if b.max_discount is not None else "")
    ),
    "nth_item": lambda b, m, a: f"{_ordinal_zh(b.every)}{_off_zh(b.percent)}",
    "bundle": lambda b, m, a: (
        " + ".join(f"{i.sku}×{i.qty}" for i in b.items) + f" 组合价{m(b.price)}"
    ),
    "gift": lambda b, m, a: "，".join(
        _reach_zh(t.min_amount, t.min_qty, m) + f"送{_gifts_zh(t.gifts)}" for t in b.tiers
    ),
    "free_shipping": lambda b, m, a: "包邮",
    "shipping_amount_off": lambda b, m, a: f"运费减{m(b.amount)}",
}
"""``DESCRIPTIONS`` in simplified Chinese (the same keys: the registry's types)."""


def describe_zh(promotion: model.Promotion, m: FormatMoney, amount: int | None = None) -> str:
    """``describe`` in Chinese: 满300减50."""
    words = DESCRIPTIONS_ZH.get(promotion.benefit.type)
    return promotion.name if words is None else words(promotion.benefit, m, amount)


REASONS_ZH: Mapping[model.Reason, str] = {
    model.Reason.UNKNOWN_CODE: "优惠码无效",
    model.Reason.NOT_STARTED: "该券尚未开始使用",
    model.Reason.EXPIRED: "该券已过期",
    model.Reason.PAUSED: "该券已暂停使用",
    model.Reason.NOT_ELIGIBLE: "该券不适用于当前用户、渠道或时间",
    model.Reason.MIN_AMOUNT_NOT_MET: "适用商品金额未达到该券门槛",
    model.Reason.MIN_QTY_NOT_MET: "适用商品件数未达到该券门槛",
    model.Reason.NO_ELIGIBLE_ITEMS: "购物车中没有可用该券的商品",
    model.Reason.USAGE_LIMIT_REACHED: "该券已达使用次数上限",
    model.Reason.BUDGET_EXHAUSTED: "该券预算已用完",
    model.Reason.ALREADY_USED: "该券码已被使用",
    model.Reason.NOT_OWNER: "该券码属于其他用户",
    model.Reason.CONFLICT: "不能与已享受的优惠同时使用",
    model.Reason.NOT_BEST: "不使用该券更便宜",
}

WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_SCOPE_ZH = {
    "skus": "商品",
    "categories": "品类",
    "brands": "品牌",
    "merchants": "店铺",
    "tags": "标签",
}


def _sentences_zh(promotion: model.Promotion) -> Mapping[model.Condition, Callable[[], str]]:
    c = promotion.conditions
    C = model.Condition
    return {
        C.STATUS: lambda: "该券未生效",
        C.WEEKDAYS: lambda: (
            "该券仅限" + "、".join(WEEKDAYS_ZH[d - 1] for d in sorted(promotion.weekdays)) + "使用"
        ),
        C.HOURS: lambda: f"该券仅限每天{_hours(promotion)}使用",
        C.CUSTOMER_TIERS: lambda: f"该券仅限{'、'.join(sorted(c.customer_tiers))}会员使用",
        C.CHANNELS: lambda: f"该券仅限{'、'.join(sorted(c.channels))}渠道使用",
        C.SEGMENTS: lambda: f"该券仅限特定用户群（{'、'.join(sorted(c.segments))}）使用",
        C.NEW_CUSTOMER: lambda: "该券仅限新用户使用" if c.new_customer else "该券不适用于新用户",
        C.FIRST_ORDER: lambda: "该券仅限首单使用" if c.first_order else "该券不适用于首单",
        C.PHONE_VERIFIED: lambda: (
            "该券需先验证手机号" if c.phone_verified else "该券仅限未验证手机号的用户使用"
        ),
        C.MEMBER_TIER: lambda: "该券仅限其他等级的会员使用",
        C.SCOPE: lambda: (
            "购物车中没有该券适用的商品"
            + (f"（{s}）" if (s := _scope(promotion.scope, _SCOPE_ZH, "；")) else "")
        ),
    }


_COUPON_ZH = _CouponWords(
    applied="已使用优惠券",
    not_applied="未使用该券",
    spend_more=lambda money: f"适用商品再买{money}即可使用该券",
    add_more=lambda qty: f"适用商品再买{qty}件即可使用该券",
    reasons=REASONS_ZH,
    starts=lambda at: f"该券{at}起可用",
    ended=lambda at: f"该券已于{at}过期",
    no_shipping="没有可减免的运费",
    sentences=_sentences_zh,
)


def coupon_message_zh(outcome: model.CouponOutcome, m: FormatMoney) -> str:
    return _coupon_message(outcome, m, _COUPON_ZH)


def hint_message_zh(hint: model.Hint, m: FormatMoney, current: int = 0) -> str:
    """凑单: ``再买¥102.00可减¥100.00``; ``再买¥141.80共减¥100.00（比现在多减¥50.00）``."""
    if hint.missing_amount is not None:
        need = f"再买{m(hint.missing_amount)}"
    elif hint.missing_qty is not None:
        need = f"再买{hint.missing_qty}件"
    else:
        need = "再买一些"
    if isinstance(hint.promotion.benefit, model.FreeShipping):
        return f"{need}即可包邮"
    if hint.reward_amount > 0 and current <= 0:
        return f"{need}可减{m(hint.reward_amount)}"
    if hint.reward_amount > current:
        extra = m(hint.reward_amount - current)
        return f"{need}共减{m(hint.reward_amount)}（比现在多减{extra}）"
    return f"{need}即可参加{hint.promotion.name}"


def notice_message_zh(notice: model.Notice, m: FormatMoney) -> str:
    price = m(notice.price)
    R = model.NoticeReason
    if notice.reason is R.STOCK_UNKNOWN:
        return f"暂时无法查询秒杀库存，未按秒杀价{price}计算"
    if notice.reason is R.SOLD_OUT:
        if notice.units == 0:
            return f"秒杀价{price}已售罄"
        return f"秒杀价{price}仅剩{notice.units}件，其余不按秒杀价计算"
    if notice.units == 0:
        return f"秒杀价{price}每人限购{notice.limit or 0}件，您已达上限"
    return f"秒杀价{price}每人限购{notice.limit or 0}件，仅{notice.units}件按秒杀价计算"


# ------------------------------------------------------------------ languages

Language = Literal["en", "zh-CN"]


@dataclass(frozen=True, slots=True)
class Wording:
    """One language's sentences: what ``QuoteResponse`` writes its texts with."""

    language: Language
    money: Callable[[int, str], str]
    describe: Callable[[model.Promotion, FormatMoney, int | None], str]
    coupon_message: Callable[[model.CouponOutcome, FormatMoney], str]
    hint_message: Callable[[model.Hint, FormatMoney, int], str]
    notice_message: Callable[[model.Notice, FormatMoney], str]


ENGLISH = Wording("en", money, describe, coupon_message, hint_message, notice_message)
CHINESE = Wording(
    "zh-CN", money_zh, describe_zh, coupon_message_zh, hint_message_zh, notice_message_zh
)

_CHINESE_TAGS = frozenset(["zh", "zh-cn", "zh-hans", "zh-hans-cn", "zh-sg", "zh-hans-sg"])
_Q = re.compile(r"^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$", re.IGNORECASE)


def language_of(accept_language: str | None) -> Wording:
    """The wording an ``Accept-Language`` header asks for (RFC 9110 §12.5.4).

    Ranges are weighed by their ``q`` (default 1; a malformed one drops its
    range; ``q=0`` means "not this"); the heaviest range we speak wins, ties to
    the earlier one. Simplified Chinese is ``zh``, ``zh-CN``, ``zh-Hans`` (and
    ``zh-SG``, ``zh-Hans-CN``); English is ``en`` and its regions, and ``*``;
    anything else (``fr``, ``zh-TW``, ``zh-Hant``) is not spoken here and
    passes to the next range; with none left, English, the default.
    """
    if not accept_language:
        return ENGLISH
    best: tuple[float, int, Wording] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            if param[:2].lower() == "q=":
                found = _Q.match(param.replace(" ", ""))
                weight = -1.0 if found is None else float(found.group(1))
        if weight <= 0 or not tag:
            continue
        tag = tag.lower()
        if tag in _CHINESE_TAGS:
            spoken = CHINESE
        elif tag == "*" or tag == "en" or tag.startswith("en-"):
            spoken = ENGLISH
        else:
            continue
        if best is None or weight > best[0]:
            best = (weight, position, spoken)
    return ENGLISH if best is None else best[2]


# ------------------------------------------------------------------- problems

PROBLEM_TITLES_ZH: Mapping[str, str] = {
    "bad_request": "请求无效",
    "validation_error": "请求内容有误",
    "unauthorized": "未认证",
    "forbidden": "无权访问",
    "not_found": "未找到",
    "method_not_allowed": "不支持该方法",
    "not_acceptable": "无法提供所需格式",
    "conflict": "冲突",
    "price_changed": "价格已变化",
    "sold_out": "已售罄",
    "limit_reached": "已达上限",
    "reservation_expired": "预留已过期",
    "not_eligible": "不符合条件",
    "payload_too_large": "请求内容过大",
    "unsupported_media_type": "不支持的内容类型",
    "rate_limited": "尝试次数过多",
    "overloaded": "服务繁忙",
    "precondition_failed": "版本已变化",
    "deep_discount": "折扣过深",
    "unavailable": "服务暂不可用",
    "internal_error": "服务器内部错误",
}
"""A problem's ``title`` in Chinese, by its ``code``. Only the title and the
validation ``detail`` are translated: other ``detail`` texts and the ``errors[].msg``
are for the developer who wrote the request, and stay English."""


def problem_title(words: Wording, code: str, title: str) -> str:
    if words is CHINESE:
        return PROBLEM_TITLES_ZH.get(code, title)
    return title


def problems_detail(words: Wording, count: int) -> str:
    """The 422 ``detail``: how many problems the request has."""
    if words is CHINESE:
        return f"请求有{count}处问题"
    return f"{count} problem{'s' if count != 1 else ''} with the request"
