"""Every fractional step on the money path, in one place.

Money is an ``int`` of minor units (fen, cents). Fractions appear only inside
percentages and proportional splits; each function here names its rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

Money = int


def round_half_up(value: Fraction) -> int:
    """Round a non-negative exact fraction to the nearest int, halves up."""
    if value < 0:
        raise ValueError("round_half_up expects a non-negative value")
    return int((value * 2 + 1) // 2)


def pct(amount: Fraction | int, percent: Fraction | int) -> int:
    """``round_half_up(amount × percent / 100)``, computed exactly."""
    return round_half_up(Fraction(amount) * percent / 100)


def largest_remainder(total: int, weights: Sequence[int | Fraction]) -> list[int]:
    """Split ``total`` over ``weights`` in proportion, shares summing to ``total`` exactly.

    Each share is the floor of its exact proportional part; the units left over
    go one each to the largest remainders, ties to the earlier position.
    All weights zero: nothing can be split, every share is 0.
    """
    whole = sum(weights, Fraction(0))
    if whole <= 0 or total <= 0:
        return [0] * len(weights)
    shares: list[int] = []
    remainders: list[tuple[Fraction, int]] = []
    for index, weight in enumerate(weights):
        exact = Fraction(total) * Fraction(weight) / whole
        floor = exact.numerator // exact.denominator
        shares.append(floor)
        remainders.append((exact - floor, index))
    left = total - sum(shares)
    # largest remainder first; equal remainders keep the earlier line
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, index in remainders[:left]:
        shares[index] += 1
    return shares
