"""Every fractional step on the money path, in one place.

Money is an ``int`` of minor units (fen, cents). Fractions appear only inside
percentages and proportional splits; each function here names its rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

Money = int


def round_half_up(value: Fraction) -> int:
    """Round a non-negative exact fraction to the nearest int, halves up."""
    if value < 0:
        raise ValueError("round_half_up expects a non-negative value")
    return int((value * 2 + 1) // 2)


def pct(amount: Fraction | int, percent: Fraction | int) -> int:
    """``round_half_up(amount × percent / 100)``, computed exactly (integers only)."""
    num = amount.numerator * percent.numerator
    den = amount.denominator * percent.denominator * 100
    if num < 0:
        raise ValueError("pct expects a non-negative amount and percent")
    return (2 * num + den) // (2 * den)


def pct_of(numerator: int, denominator: int, percent: Fraction | int) -> int:
    """``pct(Fraction(numerator, denominator), percent)`` without making the fraction
    (``denominator`` > 0): the rounding is the same for any multiple of both."""
    num = numerator * percent.numerator
    den = denominator * percent.denominator * 100
    if num < 0:
        raise ValueError("pct expects a non-negative amount and percent")
    return (2 * num + den) // (2 * den)


def largest_remainder(total: int, weights: Sequence[int | Fraction]) -> list[int]:
    """Split ``total`` over ``weights`` in proportion, shares summing to ``total`` exactly.

    Each share is the floor of its exact proportional part; the units left over
    go one each to the largest remainders, ties to the earlier position.
    All weights zero: nothing can be split, every share is 0.
    """
    # over one common denominator the split is plain integer arithmetic
    common = math.lcm(*[w.denominator for w in weights]) if weights else 1
    return split([w.numerator * (common // w.denominator) for w in weights], total)


def split(weights: list[int], total: int) -> list[int]:
    """``largest_remainder`` of integer weights (most splits: line amounts), in plain
    integer operations: the floors, then one unit each to the largest remainders."""
    whole = 0
    for weight in weights:
        whole += weight
    if whole <= 0 or total <= 0:
        return [0] * len(weights)
    shares: list[int] = []
    given = 0
    for weight in weights:
        share = total * weight // whole
        shares.append(share)
        given += share
    left = total - given
    if left:
        # largest remainder first; equal remainders keep the earlier line
        remainders = [(-(total * weight % whole), index) for index, weight in enumerate(weights)]
        remainders.sort()
        for _, index in remainders[:left]:
            shares[index] += 1
    return shares
