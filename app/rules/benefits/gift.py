"""Gifts (满赠): reaching a tier adds its gifts at price 0."""

from __future__ import annotations

from collections.abc import Sequence

from app.rules.benefits.base import Miss, OrderEffect, ScopedLine, measure
from app.rules.benefits.threshold import highest_reached, miss_first_tier
from app.rules.model import Benefit, Gift, Stage, Tier


class GiftRule:
    stage = Stage.ORDER

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        return None

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        assert isinstance(benefit, Gift)
        amount, qty = measure(lines)
        tiers = [Tier(min_amount=t.min_amount, min_qty=t.min_qty) for t in benefit.tiers]
        reached = highest_reached(tiers, amount, qty)
        if reached < 0:
            return miss_first_tier(tiers[0], amount, qty)
        return OrderEffect(shares={}, units={}, gifts=benefit.tiers[reached].gifts)

    def bound(self, benefit: Benefit, amount: int, qty: int, count: int) -> int:
        return 0  # a gift takes nothing off the total
