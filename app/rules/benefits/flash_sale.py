"""秒杀 flash sale: a sale price on at most min(qty, per-customer remaining, stock) units."""

from __future__ import annotations

from app.rules.benefits.base import ItemContext
from app.rules.benefits.item import fixed_price_discount
from app.rules.model import Benefit, Customer, FlashSale, Line, Stage


class FlashSaleRule:
    stage = Stage.ITEM

    def eligible(self, benefit: Benefit, customer: Customer) -> bool:
        return True

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        assert isinstance(benefit, FlashSale)
        return frozenset(item.sku for item in benefit.items)

    def line_discount(self, benefit: Benefit, line: Line, ctx: ItemContext) -> tuple[int, int]:
        assert isinstance(benefit, FlashSale)
        if ctx.flash_available is None:  # stock unknown: no sale price is given
            return 0, 0
        item = next((i for i in benefit.items if i.sku == line.sku), None)
        if item is None:
            return 0, 0
        key = (ctx.promotion_id, line.sku)
        units = min(line.qty, max(0, ctx.flash_available.get(key, item.stock)))
        if item.per_customer_limit is not None:
            remaining = item.per_customer_limit - ctx.flash_bought.get(key, 0)
            units = min(units, max(0, remaining))
        discount = fixed_price_discount(line, item.price, units)
        return (discount, units) if discount > 0 else (0, 0)
