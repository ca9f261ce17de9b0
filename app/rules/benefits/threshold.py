"""满减 threshold, and the other order benefits that give one amount 分摊 (allocated)
over their lines: amount off, percent off."""

from __future__ import annotations

from collections.abc import Sequence

from app.rules.benefits.base import Miss, OrderEffect, ScopedLine, measure
from app.rules.model import AmountOff, Benefit, PercentOff, Reason, Stage, Threshold, Tier
from app.rules.money import pct, split


def spread(total: int, lines: Sequence[ScopedLine]) -> OrderEffect:
    """分摊: split ``total`` over the lines in proportion to their stage-start amounts."""
    split_shares = split([s.amount for s in lines], total)
    shares: dict[int, int] = {}
    units: dict[int, int] = {}
    for k, s in enumerate(lines):
        shares[s.index] = split_shares[k]
        units[s.index] = s.line.qty
    return OrderEffect(shares=shares, units=units)


def tier_reached(tier: Tier, amount: int, qty: int) -> bool:
    if tier.min_amount is not None:
        return amount >= tier.min_amount
    return tier.min_qty is not None and qty >= tier.min_qty


def highest_reached(tiers: Sequence[Tier], amount: int, qty: int) -> int:
    """Index of the highest reached tier, −1 when none is."""
    reached = -1
    for index, tier in enumerate(tiers):
        if tier_reached(tier, amount, qty):
            reached = index
    return reached


def miss_first_tier(tier: Tier, amount: int, qty: int) -> Miss:
    if tier.min_amount is not None:
        return Miss(Reason.MIN_AMOUNT_NOT_MET, missing_amount=tier.min_amount - amount)
    return Miss(Reason.MIN_QTY_NOT_MET, missing_qty=(tier.min_qty or 0) - qty)


def threshold_discount(benefit: Threshold, tier: Tier, amount: int, qty: int) -> int:
    """The discount of ``tier`` on measure (amount, qty), ``max_discount`` applied."""
    if tier.amount_off is not None:
        times = 1
        if benefit.repeat:
            if tier.min_amount:
                times = amount // tier.min_amount
            elif tier.min_qty:
                times = qty // tier.min_qty
        discount = tier.amount_off * times
    else:
        discount = pct(amount, tier.percent or 0)
    if benefit.max_discount is not None:
        discount = min(discount, benefit.max_discount)
    return discount


class ThresholdRule:
    stage = Stage.ORDER

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        return None

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        assert isinstance(benefit, Threshold)
        amount, qty = measure(lines)
        reached = highest_reached(benefit.tiers, amount, qty)
        if reached < 0:
            return miss_first_tier(benefit.tiers[0], amount, qty)
        return spread(threshold_discount(benefit, benefit.tiers[reached], amount, qty), lines)

    def bound(self, benefit: Benefit, amount: int, qty: int, count: int) -> int:
        assert isinstance(benefit, Threshold)
        # any tier reachable at a lower measure is reached here, and each tier's
        # discount grows with the measure; tiers need not grow, so take the max
        return max(
            (
                threshold_discount(benefit, tier, amount, qty)
                for tier in benefit.tiers
                if tier_reached(tier, amount, qty)
            ),
            default=0,
        )


class AmountOffRule:
    stage = Stage.ORDER

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        return None

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        assert isinstance(benefit, AmountOff)
        return spread(benefit.amount, lines)

    def bound(self, benefit: Benefit, amount: int, qty: int, count: int) -> int:
        assert isinstance(benefit, AmountOff)
        return benefit.amount


class PercentOffRule:
    stage = Stage.ORDER

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        return None

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        amount, qty = measure(lines)
        return spread(self.bound(benefit, amount, qty, len(lines)), lines)

    def bound(self, benefit: Benefit, amount: int, qty: int, count: int) -> int:
        assert isinstance(benefit, PercentOff)
        discount = pct(amount, benefit.percent)
        if benefit.max_discount is not None:
            discount = min(discount, benefit.max_discount)
        return discount
