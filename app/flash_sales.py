"""``GET /v1/flash-sales/{promotion_id}``: a flash sale's items with their live stock."""

from __future__ import annotations

from app.api.schemas import FlashSaleItem, FlashSaleResponse
from app.errors import NotFound, Unavailable
from app.inventory.stock import Inventory
from app.rules.model import FlashSale
from app.rules.ruleset import RuleSet


async def flash_sale(
    *, promotion_id: str, rules: RuleSet, inventory: Inventory
) -> FlashSaleResponse:
    """Each item's price and limit as configured, its counters as Redis has them
    (``available + reserved + sold == initial``). 404 for an unknown promotion or
    one that is not a flash sale; 503 while its stock is not loaded (Redis down,
    or being rebuilt)."""
    promotion = rules.get(promotion_id)
    if promotion is None or not isinstance(promotion.benefit, FlashSale):
        raise NotFound(f"no flash sale {promotion_id!r}")
    levels = await inventory.read(promotion_id)
    items = []
    for item in promotion.benefit.items:
        level = levels.get(item.sku)
        if level is None:
            raise Unavailable(f"the stock of flash sale {promotion_id!r} is not loaded yet")
        items.append(
            FlashSaleItem(
                sku=item.sku,
                price=item.price,
                initial=level.initial,
                available=level.available,
                reserved=level.reserved,
                sold=level.sold,
                per_customer_limit=item.per_customer_limit,
            )
        )
    return FlashSaleResponse(promotion_id=promotion_id, items=items)
