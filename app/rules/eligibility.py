"""The checks a promotion passes before it can price anything, in the order of
PRICING.md's "Eligibility" (the first that fails is a presented coupon's reason).

Checks 2–5 and 7 depend only on the request and are done once per promotion
(``static_check``); check 6 (``min_qty``/``min_amount``) depends on the amounts at
the start of the promotion's stage and is done by the search in each combination.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from app.rules.benefits.base import Miss
from app.rules.model import (
    Condition,
    Conditions,
    Customer,
    Line,
    PresentedCoupon,
    Promotion,
    QuoteRequest,
    Reason,
    Scope,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def time_reason(promotion: Promotion, at: datetime) -> Reason | None:
    return time_check(promotion, at)[0]


def time_check(promotion: Promotion, at: datetime) -> tuple[Reason | None, Condition | None]:
    """Check 3: the reason, and for ``not_eligible`` the window that failed."""
    if promotion.starts_at is not None and at < promotion.starts_at:
        return Reason.NOT_STARTED, None
    if promotion.ends_at is not None and at >= promotion.ends_at:
        return Reason.EXPIRED, None
    if promotion.weekdays or promotion.hours:
        zone: tzinfo = promotion.timezone or SHANGHAI
        local = at.astimezone(zone)
        if promotion.weekdays and local.isoweekday() not in promotion.weekdays:
            return Reason.NOT_ELIGIBLE, Condition.WEEKDAYS
        if promotion.hours:
            seconds = local.hour * 3600 + local.minute * 60 + local.second
            if not any(_in_window(w.start * 60, w.end * 60, seconds) for w in promotion.hours):
                return Reason.NOT_ELIGIBLE, Condition.HOURS
    return None, None


def _in_window(start: int, end: int, seconds: int) -> bool:
    if start <= end:
        return start <= seconds < end
    return seconds >= start or seconds < end  # wraps past midnight


def who_passes(promotion: Promotion, customer: Customer, channel: str | None) -> bool:
    return who_fails(promotion, customer, channel) is None


def who_fails(promotion: Promotion, customer: Customer, channel: str | None) -> Condition | None:
    """Check 4 (the promotion's conditions): the first that fails, or None."""
    c = promotion.conditions
    if c.customer_tiers and customer.tier not in c.customer_tiers:
        return Condition.CUSTOMER_TIERS
    if c.channels and channel not in c.channels:
        return Condition.CHANNELS
    if c.segments and not (c.segments & customer.segments):
        return Condition.SEGMENTS
    if c.new_customer is not None and c.new_customer != customer.new_customer:
        return Condition.NEW_CUSTOMER
    if c.first_order is not None and c.first_order != customer.first_order:
        return Condition.FIRST_ORDER
    if c.phone_verified is not None and c.phone_verified != customer.phone_verified:
        return Condition.PHONE_VERIFIED
    return None


def in_scope(scope: Scope, line: Line, skus: frozenset[str] | None) -> bool:
    """Lists are ANDed, entries any-of; exclusions win; ``skus`` limits further."""
    if line.sku in scope.exclude_skus or (
        line.category is not None and line.category in scope.exclude_categories
    ):
        return False
    if skus is not None and line.sku not in skus:
        return False
    if scope.skus and line.sku not in scope.skus:
        return False
    if scope.categories and line.category not in scope.categories:
        return False
    if scope.brands and line.brand not in scope.brands:
        return False
    if scope.merchants and line.merchant not in scope.merchants:
        return False
    return not scope.tags or bool(scope.tags & line.tags)


def scoped_lines(
    promotion: Promotion, lines: Sequence[Line], skus: frozenset[str] | None
) -> tuple[int, ...]:
    return tuple(i for i, line in enumerate(lines) if in_scope(promotion.scope, line, skus))


def conditions_miss(conditions: Conditions, amount: int, qty: int) -> Miss | None:
    """Check 6 on a measure (amount ``M``, units ``Q``): ``min_qty``, then ``min_amount``."""
    if conditions.min_qty is not None and qty < conditions.min_qty:
        return Miss(Reason.MIN_QTY_NOT_MET, missing_qty=conditions.min_qty - qty)
    if conditions.min_amount is not None and amount < conditions.min_amount:
        return Miss(Reason.MIN_AMOUNT_NOT_MET, missing_amount=conditions.min_amount - amount)
    return None


def limit_reason(
    promotion: Promotion, request: QuoteRequest, coupon: PresentedCoupon | None
) -> tuple[Reason | None, int | None]:
    """Check 7: usage limits, budget, claimed codes. Returns (reason, budget left)."""
    readings = request.readings
    limits = promotion.limits
    budget_left: int | None = None
    if readings.check_limits:
        if limits.max_uses is not None and readings.uses.get(promotion.id, 0) >= limits.max_uses:
            return Reason.USAGE_LIMIT_REACHED, None
        if (
            limits.max_uses_per_customer is not None
            and readings.customer_uses.get(promotion.id, 0) >= limits.max_uses_per_customer
        ):
            return Reason.USAGE_LIMIT_REACHED, None
        if limits.budget is not None:
            budget_left = limits.budget - readings.budget_spent.get(promotion.id, 0)
            if budget_left <= 0:
                return Reason.BUDGET_EXHAUSTED, None
    if coupon is not None:
        if coupon.used:
            return Reason.ALREADY_USED, None
        if coupon.owner is not None and coupon.owner != request.customer.id:
            return Reason.NOT_OWNER, None
    return None, budget_left
