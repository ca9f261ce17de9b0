"""Bundles (组合价): each complete set of ``items`` costs ``price``."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from app.rules.benefits.base import Miss, OrderEffect, ScopedLine, measure, unit_amount
from app.rules.model import Benefit, Bundle, Reason, Stage
from app.rules.money import largest_remainder, round_half_up

# A run of equal units of one line: (unit amount, units, cart position)
Run = tuple[Fraction, int, int]


def _take(runs: list[Run], count: int) -> list[Run]:
    """Take ``count`` units from the front of ``runs`` (mutating it); the runs taken."""
    taken: list[Run] = []
    while count:
        amount, units, index = runs[0]
        used = min(units, count)
        taken.append((amount, used, index))
        count -= used
        if used == units:
            runs.pop(0)
        else:
            runs[0] = (amount, units - used, index)
    return taken


class BundleRule:
    stage = Stage.ORDER

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        assert isinstance(benefit, Bundle)
        return frozenset(item.sku for item in benefit.items)

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        assert isinstance(benefit, Bundle)
        runs: dict[str, list[Run]] = {}
        for item in benefit.items:
            of_sku = [s for s in lines if s.line.sku == item.sku]
            # per sku, dearest units first; equal amounts keep the earlier line
            of_sku.sort(key=unit_amount, reverse=True)
            runs[item.sku] = [(unit_amount(s), s.qty, s.index) for s in of_sku]
        sets = min(sum(r[1] for r in runs[item.sku]) // item.qty for item in benefit.items)
        if benefit.max_applications is not None:
            sets = min(sets, benefit.max_applications)
        if sets <= 0:
            return Miss(Reason.MIN_QTY_NOT_MET)
        gain = Fraction(0)
        in_sets: dict[int, Fraction] = {}  # cart position -> amount of its units in sets
        units: dict[int, int] = {}
        for _ in range(sets):
            value = Fraction(0)
            for item in benefit.items:
                for amount, used, index in _take(runs[item.sku], item.qty):
                    value += amount * used
                    in_sets[index] = in_sets.get(index, Fraction(0)) + amount * used
                    units[index] = units.get(index, 0) + used
            gain += max(Fraction(0), value - benefit.price)
        discount = round_half_up(gain)
        order = sorted(in_sets)  # spread in cart order so ties go to the earlier line
        shares = largest_remainder(discount, [in_sets[i] for i in order])
        return OrderEffect(shares=dict(zip(order, shares, strict=True)), units=units)

    def bound(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> int:
        return measure(lines)[0]  # a set never costs less than nothing
