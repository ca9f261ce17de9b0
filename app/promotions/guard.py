"""The publish guard: a benefit that can take more than ``MAX_DISCOUNT_PERCENT``
percent off a line or an order needs ``confirm_deep_discount`` (API.md,
"Managing promotions safely").

``deep_discounts`` judges what the promotion itself says, with the share off
exact (``Fraction``):

- ``item_percent_off``, ``percent_off``, a ``member_price`` tier, a
  ``threshold`` tier with ``percent``: the percent (the share *off*: 9折 is
  ``percent: 10``, not 90);
- a ``threshold`` tier with ``amount_off`` and ``min_amount``: the amount off
  as a share of that minimum (the most it can be: a cart just at the tier);
- ``amount_off`` with ``conditions.min_amount``: the same share;
- ``nth_item``: ``percent / every``, the share off a full group (second item
  free, ``every: 2, percent: 100``, is 50% off the pair).

Prices and amounts whose share depends on the cart's list price, which the
promotion does not know, are not judged when a promotion is written: fixed
prices (``item_fixed_price``, ``flash_sale``, ``bundle``, a member's fixed
price), ``item_amount_off``, ``amount_off`` without a ``min_amount``, a
threshold tier by quantity with ``amount_off``, gifts and shipping. A 1-fen
flash sale is a legitimate promotion; a preview, which has carts, reports
any line a draft takes more than the limit off (``app.quoting.previews``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from app.errors import DeepDiscount, Problem
from app.rules.model import (
    AmountOff,
    ItemPercentOff,
    MemberPrice,
    NthItem,
    PercentOff,
    Promotion,
    Threshold,
)


@dataclass(frozen=True, slots=True)
class DeepBenefit:
    """One part of a benefit that can take more than the limit off: where in the
    body (``loc`` under ``benefit``, or ``conditions``) and what."""

    promotion_id: str
    benefit_type: str
    loc: tuple[str | int, ...]
    percent_off: Fraction

    def message(self, max_percent: int) -> str:
        where = ".".join(str(part) for part in self.loc)
        return (
            f"{self.benefit_type} benefit of {self.promotion_id!r} ({where}) can take "
            f"{percent_shown(self.percent_off)}% off, more than MAX_DISCOUNT_PERCENT "
            f"({max_percent}%); "
            'send "confirm_deep_discount": true if that is intended (percent is the share '
            "off: 9折 is percent 10)"
        )


def percent_shown(percent: Fraction) -> str:
    """A share in percent for a message: at most two decimals."""
    rounded = round(percent, 2)
    return str(int(rounded)) if rounded == int(rounded) else f"{float(rounded):g}"


def deep_discounts(promotion: Promotion, *, max_percent: int) -> list[DeepBenefit]:
    """Every part of the promotion's benefit that can take more than
    ``max_percent`` percent off a line or an order (none: it passes)."""
    limit = Fraction(max_percent)
    benefit = promotion.benefit
    found: list[tuple[tuple[str | int, ...], Fraction]] = []
    if isinstance(benefit, ItemPercentOff | PercentOff):
        found.append((("benefit", "percent"), benefit.percent))
    elif isinstance(benefit, MemberPrice):
        found += [(("benefit", "tiers", tier, "percent"), p) for tier, p in benefit.tiers.items()]
    elif isinstance(benefit, NthItem):
        found.append((("benefit", "percent"), benefit.percent / benefit.every))
    elif isinstance(benefit, Threshold):
        for index, tier in enumerate(benefit.tiers):
            if tier.percent is not None:
                found.append((("benefit", "tiers", index, "percent"), tier.percent))
            elif tier.amount_off is not None and tier.min_amount:
                share = Fraction(100 * tier.amount_off, tier.min_amount)
                found.append((("benefit", "tiers", index, "amount_off"), share))
    elif isinstance(benefit, AmountOff) and promotion.conditions.min_amount:
        share = Fraction(100 * benefit.amount, promotion.conditions.min_amount)
        found.append((("benefit", "amount"), share))
    return [
        DeepBenefit(promotion.id, benefit.type, loc, share) for loc, share in found if share > limit
    ]


def check_deep_discount(promotion: Promotion, *, confirmed: bool, max_percent: int) -> None:
    """``DeepDiscount`` (422 ``deep_discount``) naming each deep part of the benefit,
    unless the write ``confirmed`` it. Every write path calls it (create, replace,
    patch, import)."""
    if confirmed:
        return
    deep = deep_discounts(promotion, max_percent=max_percent)
    if deep:
        raise DeepDiscount(
            "; ".join(d.message(max_percent) for d in deep),
            [Problem(loc=("body", *d.loc), msg=d.message(max_percent)) for d in deep],
        )
