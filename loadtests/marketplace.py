"""The engine benchmark's marketplace rule set and carts, as HTTP bodies (API.md).

``loadtests.bench_engine`` builds its promotions as engine records
(``app.rules.model.Promotion``); the HTTP benchmark and the locust scenario
need the same rule set as admin-API bodies and the carts as quote bodies.
This module converts them, so the three load tests price the same things:

* ``rule_set(size)``: ``cart_promotions()`` (20 searched + 4 near misses) plus
  ``size - 24`` long-tail promotions from ``background_promotions()``, as
  ``POST /v1/admin/promotions`` bodies;
* ``COUPON_CODES``: the shared codes to create (``POST .../{id}/codes``) for the
  three coupons the heavy cart presents;
* ``typical_cart()``: a 10-line cart that a few promotions touch (a fashion shop
  and three shops no promotion names, a silver member on the web, no coupons);
* ``heavy_cart()``: the engine benchmark's cart (20 searched promotions, three
  coupons, a gold member on the app);
* ``expected_quote(bodies, cart)``: what the service should answer, priced in
  this process through the service's own conversions (``promotion_document(...).to_record``,
  ``QuoteBody.to_request``) with the readings of a fresh service (configured
  stock, nothing used yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from app.rules import model
from loadtests.bench_engine import (
    AT,
    background_promotions,
    cart_lines,
    cart_promotions,
    typical_lines,
)

DEFAULT_SIZE = 1_000
DEFAULT_SEED = 7
DEFAULT_TIMEZONE = "Asia/Shanghai"

# code -> promotion id; shared codes (the engine benchmark's GROCERY5 is a claimed
# code owned by u-42; claiming is not part of this API yet, and a shared code
# prices the same for its owner)
COUPON_CODES: Mapping[str, str] = {
    "PLAT50": "cart-c-plat-500-50",
    "FASHION10": "cart-c-fashion-10pct",
    "GROCERY5": "cart-c-grocery-5",
}


# ------------------------------------------------------------------- promotions


def _percent(value: Fraction) -> int | float:
    if value.denominator == 1:
        return int(value)
    as_float = round(float(value), 2)
    if Fraction(str(as_float)) != value:
        raise ValueError(f"percent {value} has more than two decimals")
    return as_float


def _names(values: Iterable[str]) -> list[str]:
    return sorted(values)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _tier(tier: model.Tier) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tier.min_amount is not None:
        out["min_amount"] = tier.min_amount
    if tier.min_qty is not None:
        out["min_qty"] = tier.min_qty
    if tier.amount_off is not None:
        out["amount_off"] = tier.amount_off
    if tier.percent is not None:
        out["percent"] = _percent(tier.percent)
    return out


def benefit_body(benefit: model.Benefit) -> dict[str, Any]:
    """An engine benefit as the API's benefit body."""
    body: dict[str, Any] = {"type": benefit.type}
    match benefit:
        case model.ItemPercentOff(percent=percent):
            body["percent"] = _percent(percent)
        case model.ItemAmountOff(amount=amount) | model.AmountOff(amount=amount):
            body["amount"] = amount
        case model.ShippingAmountOff(amount=amount):
            body["amount"] = amount
        case model.ItemFixedPrice(price=price):
            body["price"] = price
        case model.MemberPrice(tiers=tiers, prices=prices):
            body["tiers"] = {tier: {"percent": _percent(p)} for tier, p in tiers.items()}
            body["prices"] = {tier: dict(skus) for tier, skus in prices.items()}
        case model.FlashSale(items=items):
            body["items"] = [
                {
                    "sku": i.sku,
                    "price": i.price,
                    "stock": i.stock,
                    "per_customer_limit": i.per_customer_limit,
                }
                for i in items
            ]
        case model.Threshold(tiers=tiers, repeat=repeat, max_discount=max_discount):
            body["tiers"] = [_tier(t) for t in tiers]
            body["repeat"] = repeat
            body["max_discount"] = max_discount
        case model.PercentOff(percent=percent, max_discount=max_discount):
            body["percent"] = _percent(percent)
            body["max_discount"] = max_discount
        case model.NthItem(every=every, percent=percent):
            body["every"] = every
            body["percent"] = _percent(percent)
        case model.Bundle(items=items, price=price, max_applications=max_applications):
            body["items"] = [{"sku": i.sku, "qty": i.qty} for i in items]
            body["price"] = price
            body["max_applications"] = max_applications
        case model.Gift(tiers=gift_tiers):
            body["tiers"] = [
                {
                    **({"min_amount": t.min_amount} if t.min_amount is not None else {}),
                    **({"min_qty": t.min_qty} if t.min_qty is not None else {}),
                    "gifts": [{"sku": g.sku, "qty": g.qty} for g in t.gifts],
                }
                for t in gift_tiers
            ]
        case model.FreeShipping():
            pass
        case _:
            raise TypeError(f"no API body for benefit {benefit!r}")
    return body


def promotion_body(promotion: model.Promotion) -> dict[str, Any]:
    """An engine promotion as a ``POST /v1/admin/promotions`` body."""
    scope = promotion.scope
    conditions = promotion.conditions
    limits = promotion.limits
    body: dict[str, Any] = {
        "id": promotion.id,
        "name": promotion.name,
        "status": promotion.status,
        "starts_at": promotion.starts_at.isoformat() if promotion.starts_at else None,
        "ends_at": promotion.ends_at.isoformat() if promotion.ends_at else None,
        "hours": [{"from": _hhmm(h.start), "to": _hhmm(h.end)} for h in promotion.hours] or None,
        "weekdays": sorted(promotion.weekdays) or None,
        "trigger": promotion.trigger,
        "exclusive": promotion.exclusive,
        "exclusion_group": promotion.exclusion_group,
        "priority": promotion.priority,
        "scope": {
            "skus": _names(scope.skus),
            "categories": _names(scope.categories),
            "brands": _names(scope.brands),
            "merchants": _names(scope.merchants),
            "tags": _names(scope.tags),
            "exclude_skus": _names(scope.exclude_skus),
            "exclude_categories": _names(scope.exclude_categories),
        },
        "conditions": {
            "customer_tiers": _names(conditions.customer_tiers),
            "segments": _names(conditions.segments),
            "new_customer": conditions.new_customer,
            "first_order": conditions.first_order,
            "phone_verified": conditions.phone_verified,
            "channels": _names(conditions.channels),
            "min_qty": conditions.min_qty,
            "min_amount": conditions.min_amount,
        },
        "limits": {
            "max_uses": limits.max_uses,
            "max_uses_per_customer": limits.max_uses_per_customer,
            "budget": limits.budget,
            "max_claims": limits.max_claims,
            "max_claims_per_customer": limits.max_claims_per_customer,
        },
        "benefit": benefit_body(promotion.benefit),
    }
    if isinstance(promotion.timezone, ZoneInfo):
        body["timezone"] = promotion.timezone.key
    elif promotion.timezone is not None:
        raise TypeError(f"{promotion.id}: only ZoneInfo time zones have an API form")
    return body


def rule_set(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """``size`` promotion bodies: the 24 cart-touching ones first, then the long tail."""
    searched, near_misses = cart_promotions()
    fixed = searched + near_misses
    if size < len(fixed):
        raise ValueError(f"size {size} is below the {len(fixed)} cart-touching promotions")
    return [promotion_body(p) for p in fixed + background_promotions(size - len(fixed), seed)]


# ------------------------------------------------------------------------ carts


def _line_body(line: model.Line) -> dict[str, Any]:
    body: dict[str, Any] = {
        "line_id": line.line_id,
        "sku": line.sku,
        "qty": line.qty,
        "unit_price": line.unit_price,
        "category": line.category,
        "brand": line.brand,
        "merchant": line.merchant,
        "tags": sorted(line.tags),
    }
    if line.min_unit_price is not None:
        body["min_unit_price"] = line.min_unit_price
    return body


def _at(at: datetime) -> str:
    return at.isoformat()


def heavy_cart(customer_id: str = "u-42") -> dict[str, Any]:
    """The engine benchmark's cart: 10 lines, 4 shops, 20 searched promotions,
    three presented coupons, a gold member on the app."""
    return {
        "currency": "CNY",
        "customer": {
            "id": customer_id,
            "tier": "gold",
            "segments": ["active"],
            "new_customer": False,
            "first_order": False,
            "phone_verified": True,
        },
        "channel": "app",
        "at": _at(AT),
        "lines": [_line_body(line) for line in cart_lines()],
        "coupon_codes": list(COUPON_CODES),
        "auto_coupons": False,
        "shipping_fee": 1_000,
    }


def typical_cart(customer_id: str = "u-1001") -> dict[str, Any]:
    """A 10-line cart a few promotions touch.

    One fashion shop (a fixed-price t-shirt, 第二件半价 on socks) and three shops
    that no promotion names; a silver member on the web, no coupons. Searched:
    the platform 满减, the t-shirt price, the socks offer and free shipping over
    99 元; rejected before the search: the App-only exclusive and the fashion
    shop's night-time offer.
    """

    lines = [_line_body(line) for line in typical_lines()]
    return {
        "currency": "CNY",
        "customer": {"id": customer_id, "tier": "silver", "segments": []},
        "channel": "web",
        "at": _at(AT),
        "lines": lines,
        "shipping_fee": 800,
    }


CARTS = {"typical": typical_cart, "heavy": heavy_cart}


# --------------------------------------------------------------- expected answer


def expected_quote(
    bodies: Sequence[Mapping[str, Any]],
    cart: Mapping[str, Any],
    *,
    codes: Mapping[str, str] = COUPON_CODES,
    timezone: str = DEFAULT_TIMEZONE,
) -> model.Quote:
    """Price ``cart`` in this process the way a fresh service would.

    The bodies and the cart go through the service's own pydantic conversions;
    presented codes resolve through ``codes`` (shared, unused); readings are
    the empty ones of a fresh service (configured stock, nothing used yet).
    """
    from app.api.records import promotion_document
    from app.api.schemas import PromotionBody, QuoteBody
    from app.rules.engine import price
    from app.rules.ruleset import RuleSet

    tz = ZoneInfo(timezone)
    rules = RuleSet(
        [
            promotion_document(PromotionBody.model_validate(b)).to_record(default_timezone=tz)
            for b in bodies
        ],
        version="expected",
    )
    quote_body = QuoteBody.model_validate(cart)
    presented = tuple(
        model.PresentedCoupon(code=code.strip().upper(), promotion_id=codes.get(code))
        for code in dict.fromkeys(quote_body.coupon_codes)
    )
    request = quote_body.to_request(at=AT, coupons=presented)
    return price(rules, request)
