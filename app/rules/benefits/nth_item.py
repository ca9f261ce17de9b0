"""第二件半价 and 买二赠一: every ``every``-th unit, dearest first, gets ``percent`` off."""

from __future__ import annotations

import math
from collections.abc import Sequence

from app.rules.benefits.base import Miss, OrderEffect, ScopedLine
from app.rules.model import Benefit, NthItem, Stage
from app.rules.money import pct, pct_of


class NthItemRule:
    stage = Stage.ORDER

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        return None

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        assert isinstance(benefit, NthItem)
        every = benefit.every
        # dearest first; sorted() is stable, so equal unit amounts keep line order.
        # A unit's amount (amount ÷ qty) × the lcm of the quantities is an exact integer.
        scale = math.lcm(*[s.line.qty for s in lines])
        ordered = sorted(lines, key=lambda s: s.amount * (scale // s.line.qty), reverse=True)
        shares: dict[int, int] = {}
        units: dict[int, int] = {}
        position = 0  # units laid out before this line's run
        for scoped in ordered:
            end = position + scoped.qty
            # the last unit of each full group sits at positions every-1, 2*every-1, ...
            discounted = end // every - position // every
            position = end
            if discounted:
                # pct of discounted units at amount ÷ qty each
                shares[scoped.index] = pct_of(
                    discounted * scoped.amount, scoped.line.qty, benefit.percent
                )
                units[scoped.index] = discounted
        return OrderEffect(shares=shares, units=units)

    def bound(self, benefit: Benefit, amount: int, qty: int, count: int) -> int:
        assert isinstance(benefit, NthItem)
        # the discounted units are some of the units; each line rounds up at most ½
        return pct(amount, benefit.percent) + count
