"""凑单 hints: how much more in-scope amount (or how many more units) would reach
a threshold's next tier or free shipping, and what it would give."""

from __future__ import annotations

from collections.abc import Iterator

from app.rules.benefits.threshold import highest_reached, threshold_discount
from app.rules.candidates import Candidate, Pricing
from app.rules.model import FreeShipping, Hint, Threshold, Tier
from app.rules.money import pct
from app.rules.search import Evaluation


def hints_for(pricing: Pricing, evaluation: Evaluation) -> Iterator[Hint]:
    """Hints for every candidate threshold or free shipping, measured at its stage
    start in the chosen combination."""
    for candidate in pricing.candidates:  # in stage, priority, id order
        benefit = candidate.promotion.benefit
        amounts = evaluation.starts[candidate.stage]
        amount = sum(amounts[i] for i in candidate.lines)
        qty = sum(pricing.request.lines[i].qty for i in candidate.lines)
        if isinstance(benefit, Threshold):
            hint = _threshold_hint(candidate, benefit, amount, qty)
        elif isinstance(benefit, FreeShipping):
            hint = _free_shipping_hint(candidate, pricing.request.shipping_fee, amount)
        else:
            hint = None
        if hint is not None:
            yield hint


def _capped(benefit: Threshold, reward: int) -> int:
    return reward if benefit.max_discount is None else min(reward, benefit.max_discount)


def _threshold_hint(candidate: Candidate, benefit: Threshold, amount: int, qty: int) -> Hint | None:
    tiers = benefit.tiers
    reached = highest_reached(tiers, amount, qty)
    base = tiers[max(reached, 0)]
    if benefit.repeat and base.amount_off is not None:
        # 每满 X 减 Y: the next multiple of the reached (else first) tier, while under the cap
        current = threshold_discount(benefit, base, amount, qty) if reached >= 0 else 0
        if benefit.max_discount is not None and current >= benefit.max_discount:
            return None
        if base.min_amount:
            times = amount // base.min_amount + 1
            missing_amount, missing_qty = times * base.min_amount - amount, None
        elif base.min_qty:
            times = qty // base.min_qty + 1
            missing_amount, missing_qty = None, times * base.min_qty - qty
        else:
            return None
        reward = _capped(benefit, base.amount_off * times)
        return Hint(candidate.promotion, missing_amount, missing_qty, reward)
    if reached == len(tiers) - 1:
        return None  # at the top tier
    following: Tier = tiers[reached + 1]
    if following.min_amount is not None:
        missing_amount, missing_qty = following.min_amount - amount, None
        measure_for_percent = following.min_amount
    else:
        missing_amount, missing_qty = None, (following.min_qty or 0) - qty
        measure_for_percent = amount
    if following.amount_off is not None:
        reward = following.amount_off
    else:
        reward = pct(measure_for_percent, following.percent or 0)
    return Hint(candidate.promotion, missing_amount, missing_qty, _capped(benefit, reward))


def _free_shipping_hint(candidate: Candidate, fee: int, amount: int) -> Hint | None:
    minimum = candidate.promotion.conditions.min_amount
    if minimum is None or fee <= 0 or amount >= minimum:
        return None
    return Hint(candidate.promotion, minimum - amount, None, fee)
