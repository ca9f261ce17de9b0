"""秒杀 flash sale: a sale price on at most min(qty, per-customer remaining, stock) units.

When the stock or the customer's limit leaves the line short of its qty (or the
stock is unknown, degraded), ``shortfall`` says so: the line's notice.
"""

from __future__ import annotations

from app.rules.benefits.base import ItemContext
from app.rules.benefits.item import fixed_price_discount
from app.rules.model import (
    Benefit,
    Customer,
    FlashItem,
    FlashSale,
    Line,
    Notice,
    NoticeReason,
    Stage,
)


def _item(benefit: Benefit, sku: str) -> FlashItem | None:
    assert isinstance(benefit, FlashSale)
    for item in benefit.items:
        if item.sku == sku:
            return item
    return None


def _units(item: FlashItem, line: Line, ctx: ItemContext) -> tuple[int, NoticeReason | None]:
    """Units at the sale price, and what held it under the line's qty (None: nothing).

    The stock is named when it alone is enough to explain the shortfall."""
    available = ctx.flash_available
    assert available is not None
    key = (ctx.promotion_id, line.sku)
    stock = max(0, available.get(key, item.stock))
    units = min(line.qty, stock)
    reason = NoticeReason.SOLD_OUT if stock < line.qty else None
    if item.per_customer_limit is not None:
        remaining = max(0, item.per_customer_limit - ctx.flash_bought.get(key, 0))
        if remaining < units:
            units, reason = remaining, NoticeReason.LIMIT_REACHED
    return units, reason


class FlashSaleRule:
    stage = Stage.ITEM

    def eligible(self, benefit: Benefit, customer: Customer) -> bool:
        return True

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        assert isinstance(benefit, FlashSale)
        return frozenset(item.sku for item in benefit.items)

    def line_discount(self, benefit: Benefit, line: Line, ctx: ItemContext) -> tuple[int, int]:
        if ctx.flash_available is None:  # stock unknown: no sale price is given
            return 0, 0
        item = _item(benefit, line.sku)
        if item is None:
            return 0, 0
        units, _ = _units(item, line, ctx)
        discount = fixed_price_discount(line, item.price, units)
        return (discount, units) if discount > 0 else (0, 0)

    def shortfall(self, benefit: Benefit, line: Line, ctx: ItemContext) -> Notice | None:
        item = _item(benefit, line.sku)
        if item is None or item.price >= line.unit_price:
            return None  # not a sale price for this line: nothing to miss
        if ctx.flash_available is None:
            return Notice(
                ctx.promotion_id, NoticeReason.STOCK_UNKNOWN, 0, item.price, item.per_customer_limit
            )
        units, reason = _units(item, line, ctx)
        if reason is None:
            return None
        return Notice(ctx.promotion_id, reason, units, item.price, item.per_customer_limit)
