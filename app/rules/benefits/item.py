"""Item-stage benefits: percent off, amount off, fixed price, member price (单品优惠)."""

from __future__ import annotations

from app.rules.benefits.base import ItemContext
from app.rules.model import (
    Benefit,
    Customer,
    ItemAmountOff,
    ItemFixedPrice,
    ItemPercentOff,
    Line,
    MemberPrice,
    Notice,
    Stage,
)
from app.rules.money import pct


def fixed_price_discount(line: Line, price: int, units: int) -> int:
    """``(unit_price − price) × units`` when the price is lower, else nothing."""
    return max(0, line.unit_price - price) * units


class _ItemRule:
    stage = Stage.ITEM

    def eligible(self, benefit: Benefit, customer: Customer) -> bool:
        return True

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        return None

    def shortfall(self, benefit: Benefit, line: Line, ctx: ItemContext) -> Notice | None:
        return None


class ItemPercentOffRule(_ItemRule):
    def line_discount(self, benefit: Benefit, line: Line, ctx: ItemContext) -> tuple[int, int]:
        assert isinstance(benefit, ItemPercentOff)
        return pct(line.list_total, benefit.percent), line.qty


class ItemAmountOffRule(_ItemRule):
    def line_discount(self, benefit: Benefit, line: Line, ctx: ItemContext) -> tuple[int, int]:
        assert isinstance(benefit, ItemAmountOff)
        return min(benefit.amount * line.qty, line.list_total), line.qty


class ItemFixedPriceRule(_ItemRule):
    def line_discount(self, benefit: Benefit, line: Line, ctx: ItemContext) -> tuple[int, int]:
        assert isinstance(benefit, ItemFixedPrice)
        return fixed_price_discount(line, benefit.price, line.qty), line.qty


class MemberPriceRule(_ItemRule):
    def eligible(self, benefit: Benefit, customer: Customer) -> bool:
        assert isinstance(benefit, MemberPrice)
        return customer.tier is not None and (
            customer.tier in benefit.tiers or customer.tier in benefit.prices
        )

    def line_discount(self, benefit: Benefit, line: Line, ctx: ItemContext) -> tuple[int, int]:
        assert isinstance(benefit, MemberPrice)
        tier = ctx.customer.tier
        if tier is None:
            return 0, 0
        fixed = benefit.prices.get(tier, {}).get(line.sku)
        if fixed is not None:  # a fixed member price for the sku wins over the tier's percent
            return fixed_price_discount(line, fixed, line.qty), line.qty
        percent = benefit.tiers.get(tier)
        if percent is None:
            return 0, 0
        return pct(line.list_total, percent), line.qty
