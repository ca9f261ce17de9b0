"""``price(rules, request) -> Quote``: the pricing engine's one entry point.

The steps, each a function below:

1. gather candidates: auto promotions the index finds for the cart, presented
   coupons and (with ``auto_coupons``) the wallet; drop those that fail the
   request-only checks (status, time, who, scope, limits), remembering why;
2. search the legal combinations for the lowest total (``search.py``);
3. evaluate the winner in full: per-line adjustments, applied promotions,
   gifts; then coupon outcomes and 凑单 hints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from app.rules.benefits import ITEM_RULES, ORDER_RULES, SHIPPING_RULES
from app.rules.benefits.base import ItemContext
from app.rules.candidates import Candidate, ItemOption, Pricing
from app.rules.eligibility import (
    conditions_miss,
    limit_reason,
    scoped_lines,
    time_check,
    who_fails,
)
from app.rules.hints import hints_for
from app.rules.model import (
    Adjustment,
    Applied,
    Condition,
    CouponOutcome,
    GiftLine,
    LineResult,
    Notice,
    PresentedCoupon,
    Promotion,
    Quote,
    QuoteRequest,
    Reason,
    Stage,
)
from app.rules.ruleset import RuleSet
from app.rules.search import Combo, Evaluation, search


@dataclass(frozen=True, slots=True)
class _Why:
    """Why a promotion is not a candidate: the reason, what is missing, and for a
    broad reason (``not_eligible``, ``no_eligible_items``) the check that failed."""

    reason: Reason
    missing_amount: int | None = None
    missing_qty: int | None = None
    condition: Condition | None = None

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        reason: Reason,
        missing_amount: int | None = None,
        missing_qty: int | None = None,
        condition: Condition | None = None,
    ) -> None:
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "missing_amount", missing_amount)
        object.__setattr__(self, "missing_qty", missing_qty)
        object.__setattr__(self, "condition", condition)


@dataclass(frozen=True, slots=True)
class _Presented:
    coupon: PresentedCoupon
    promotion: Promotion | None
    why: _Why | None  # found before the search, else None
    candidate: Candidate | None = None
    wallet: bool = False

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        coupon: PresentedCoupon,
        promotion: Promotion | None,
        why: _Why | None,
        candidate: Candidate | None = None,
        wallet: bool = False,
    ) -> None:
        object.__setattr__(self, "coupon", coupon)
        object.__setattr__(self, "promotion", promotion)
        object.__setattr__(self, "why", why)
        object.__setattr__(self, "candidate", candidate)
        object.__setattr__(self, "wallet", wallet)


def _stage_of(promotion: Promotion) -> Stage:
    kind = promotion.benefit.type
    if kind in ITEM_RULES:
        return Stage.ITEM
    if kind in SHIPPING_RULES:
        return Stage.SHIPPING
    return Stage.COUPON if promotion.is_coupon else Stage.ORDER


def _scope_skus(promotion: Promotion, stage: Stage) -> frozenset[str] | None:
    kind = promotion.benefit.type
    if stage is Stage.ITEM:
        return ITEM_RULES[kind].scope_skus(promotion.benefit)
    if stage is Stage.SHIPPING:
        return None
    return ORDER_RULES[kind].scope_skus(promotion.benefit)


def _prepare(
    pricing: Pricing, promotion: Promotion, coupon: PresentedCoupon | None
) -> tuple[Candidate | None, _Why | None]:
    """Checks 2–5, 7 (and 6, 8 for item promotions): a candidate, or why not."""
    request = pricing.request
    if promotion.status != "active":
        if promotion.status == "paused":
            return None, _Why(Reason.PAUSED)
        return None, _Why(Reason.NOT_ELIGIBLE, condition=Condition.STATUS)
    reason, condition = time_check(promotion, request.at)
    if reason is not None:
        return None, _Why(reason, condition=condition)
    stage = _stage_of(promotion)
    condition = who_fails(promotion, request.customer, request.channel)
    if condition is None and (
        stage is Stage.ITEM
        and not ITEM_RULES[promotion.benefit.type].eligible(promotion.benefit, request.customer)
    ):
        condition = Condition.MEMBER_TIER
    if condition is not None:
        return None, _Why(Reason.NOT_ELIGIBLE, condition=condition)
    lines = scoped_lines(promotion, request.lines, _scope_skus(promotion, stage))
    if not lines:
        return None, _Why(Reason.NO_ELIGIBLE_ITEMS, condition=Condition.SCOPE)
    if stage is Stage.ITEM:  # item promotions measure list amounts
        qty = sum(request.lines[i].qty for i in lines)
        amount = sum(request.lines[i].list_total for i in lines)
        miss = conditions_miss(promotion.conditions, amount, qty)
        if miss is not None:
            return None, _Why(miss.reason, miss.missing_amount, miss.missing_qty)
    reason, budget_left = limit_reason(promotion, request, coupon)
    if reason is not None:
        return None, _Why(reason)
    candidate = Candidate(
        index=len(pricing.candidates),
        promotion=promotion,
        stage=stage,
        auto=coupon is None,
        code=coupon.code if coupon is not None else None,
        lines=lines,
        budget_left=budget_left,
    )
    if stage is Stage.ITEM:
        rule = ITEM_RULES[promotion.benefit.type]
        readings = request.readings
        ctx = ItemContext(
            promotion_id=promotion.id,
            customer=request.customer,
            flash_available=readings.flash_available,
            flash_bought=readings.flash_bought,
        )
        for i in lines:
            line = request.lines[i]
            discount, units = rule.line_discount(promotion.benefit, line, ctx)
            notice = rule.shortfall(promotion.benefit, line, ctx)
            if notice is not None:
                pricing.notices.setdefault(i, []).append(notice)
            room = pricing.rooms[i]
            placed = min(discount, room)
            if placed > 0:
                candidate.options[i] = ItemOption(
                    placed=placed,
                    units=units,
                    capped=placed < discount and line.min_unit_price is not None,
                )
        if not candidate.options:  # takes nothing off any line in scope
            return None, _Why(Reason.NO_ELIGIBLE_ITEMS)
    pricing.candidates.append(candidate)
    return candidate, None


def _present(pricing: Pricing, rules: RuleSet) -> list[_Presented]:
    """Resolve presented codes (then wallet coupons) into candidates or reasons (check 1)."""
    request = pricing.request
    out: list[_Presented] = []
    seen_codes: set[str] = set()
    seen_promotions: set[str] = set()
    for wallet, coupons in ((False, request.coupons), (True, request.wallet)):
        for coupon in coupons:
            code = coupon.code.upper()
            if code in seen_codes:  # a code repeated in the request counts once
                continue
            seen_codes.add(code)
            promotion = rules.get(coupon.promotion_id) if coupon.promotion_id else None
            if promotion is None or not promotion.is_coupon:
                if not wallet:
                    out.append(_Presented(coupon, None, _Why(Reason.UNKNOWN_CODE)))
                continue
            if promotion.id in seen_promotions:
                if not wallet:
                    out.append(_Presented(coupon, promotion, _Why(Reason.CONFLICT)))
                continue
            seen_promotions.add(promotion.id)
            candidate, why = _prepare(pricing, promotion, coupon)
            out.append(_Presented(coupon, promotion, why, candidate, wallet))
    return out


def price(
    rules: RuleSet,
    request: QuoteRequest,
    *,
    work_limit: int | None = None,
    pause: Callable[[], None] | None = None,
) -> Quote:
    """Price ``request`` against ``rules``: the lowest legal total, explained.

    ``work_limit`` bounds the search (``search.WORK_LIMIT`` by default). A caller may
    first try a small limit and, when ``Quote.search_stopped`` says the bound cut the
    walk short, price again with the default: a walk that finishes gives the same
    answer under any limit, so the quote does not depend on which one answered.
    ``pause`` is called every few hundred line steps of the search (a thread that
    prices hands it a function that lets the other threads run); it changes nothing.
    """
    pricing = Pricing(request)
    for promotion in rules.auto_candidates(request.lines):
        _prepare(pricing, promotion, None)
    presented = _present(pricing, rules)
    pricing.freeze()

    outcome = search(pricing, work_limit, pause)
    evaluation = outcome.evaluation
    quote = _quote(pricing, rules, evaluation, evaluation.combo, presented, outcome.optimal)
    return dataclasses.replace(quote, search_stopped=outcome.stopped) if outcome.stopped else quote


def _notice_order(notice: Notice) -> str:
    return notice.promotion_id


def _quote(
    pricing: Pricing,
    rules: RuleSet,
    evaluation: Evaluation,
    combo: Combo,
    presented: list[_Presented],
    optimal: bool,
) -> Quote:
    request = pricing.request
    per_line: list[list[Adjustment]] = [[] for _ in request.lines]
    applied: list[Applied] = []
    gifts: list[GiftLine] = []
    for placed in evaluation.placed:  # in stage, priority, id order
        if placed.total <= 0 and not placed.gifts:
            continue  # a promotion that places nothing and gives no gift is not applied
        candidate = placed.candidate
        for index, (amount, units, capped) in sorted(placed.per_line.items()):
            if amount > 0:
                per_line[index].append(Adjustment(candidate.promotion.id, amount, units, capped))
        applied.append(Applied(candidate.promotion, candidate.stage, placed.total, candidate.code))
        gifts.extend(GiftLine(g.sku, g.qty, candidate.promotion.id) for g in placed.gifts)
    results: list[LineResult] = []
    subtotal = discount_total = 0
    for i, line in enumerate(request.lines):
        list_total = line.list_total
        final = evaluation.final[i]
        notices = pricing.notices.get(i)
        results.append(
            LineResult(
                line,
                list_total,
                list_total - final,
                final,
                tuple(per_line[i]),
                tuple(sorted(notices, key=_notice_order)) if notices else (),
            )
        )
        subtotal += list_total
        discount_total += list_total - final
    line_results = tuple(results)
    readings = request.readings
    return Quote(
        currency=request.currency,
        subtotal=subtotal,
        discount_total=discount_total,
        shipping_fee=request.shipping_fee,
        shipping_discount=evaluation.shipping_discount,
        total=subtotal - discount_total + request.shipping_fee - evaluation.shipping_discount,
        lines=line_results,
        applied=tuple(applied),
        gifts=tuple(gifts),
        coupons=tuple(_coupon_outcomes(evaluation, combo, presented, applied)),
        hints=tuple(hints_for(pricing, evaluation)),
        optimal=optimal,
        rules_version=rules.version,
        degraded=readings.flash_available is None or not readings.check_limits,
    )


def _coupon_outcomes(
    evaluation: Evaluation,
    combo: Combo,
    presented: list[_Presented],
    applied: list[Applied],
) -> list[CouponOutcome]:
    applied_ids = {a.promotion.id for a in applied}
    outcomes: list[CouponOutcome] = []
    for p in presented:
        promotion = p.promotion
        pid = promotion.id if promotion is not None else None
        code = p.coupon.code
        if p.why is not None or p.candidate is None:
            if not p.wallet:
                why = p.why or _Why(Reason.NOT_ELIGIBLE)
                outcomes.append(
                    CouponOutcome(
                        code,
                        pid,
                        False,
                        why.reason,
                        why.missing_amount,
                        why.missing_qty,
                        why.condition,
                        promotion,
                    )
                )
            continue
        candidate = p.candidate
        if candidate.promotion.id in applied_ids:
            outcomes.append(CouponOutcome(code, pid, True, promotion=promotion))
            continue
        if p.wallet:
            continue  # wallet coupons are reported only when they apply
        reason, missing_amount, missing_qty = evaluation.reason_for(candidate, combo)
        outcomes.append(
            CouponOutcome(
                code, pid, False, reason, missing_amount, missing_qty, promotion=promotion
            )
        )
    return outcomes
