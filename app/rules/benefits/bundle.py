"""Bundles (组合价): each complete set of ``items`` costs ``price``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from app.rules.benefits.base import Miss, OrderEffect, ScopedLine
from app.rules.model import Benefit, Bundle, Reason, Stage
from app.rules.money import split

# A run of equal units of one line: (unit amount × scale, units, cart position); the
# scale (the lcm of the lines' quantities) makes every unit amount an exact integer
Run = tuple[int, int, int]


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


def _unit(run: Run) -> int:
    return run[0]


class BundleRule:
    stage = Stage.ORDER

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        assert isinstance(benefit, Bundle)
        return frozenset(item.sku for item in benefit.items)

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        assert isinstance(benefit, Bundle)
        skus = {item.sku for item in benefit.items}
        scale = math.lcm(*[s.line.qty for s in lines if s.line.sku in skus])
        runs: dict[str, list[Run]] = {}
        for item in benefit.items:
            # per sku, dearest units first; equal amounts keep the earlier line
            of_sku = [
                (s.amount * (scale // s.line.qty), s.line.qty, s.index)
                for s in lines
                if s.line.sku == item.sku
            ]
            of_sku.sort(key=_unit, reverse=True)
            runs[item.sku] = of_sku
        sets = min(sum(r[1] for r in runs[item.sku]) // item.qty for item in benefit.items)
        if benefit.max_applications is not None:
            sets = min(sets, benefit.max_applications)
        if sets <= 0:
            return Miss(Reason.MIN_QTY_NOT_MET)
        gain = 0  # × scale, as every amount below
        in_sets: dict[int, int] = {}  # cart position -> amount of its units in sets
        units: dict[int, int] = {}
        price = benefit.price * scale
        for _ in range(sets):
            value = 0
            for item in benefit.items:
                for amount, used, index in _take(runs[item.sku], item.qty):
                    value += amount * used
                    in_sets[index] = in_sets.get(index, 0) + amount * used
                    units[index] = units.get(index, 0) + used
            gain += max(0, value - price)
        discount = (2 * gain + scale) // (2 * scale)  # round_half_up(gain / scale)
        order = sorted(in_sets)  # spread in cart order so ties go to the earlier line
        # a split in proportion is the same over amounts all × scale
        shares = split([in_sets[i] for i in order], discount)
        return OrderEffect(shares=dict(zip(order, shares, strict=True)), units=units)

    def bound(self, benefit: Benefit, amount: int, qty: int, count: int) -> int:
        return amount  # a set never costs less than nothing
