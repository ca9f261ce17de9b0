"""Flash-sale reads: a flash sale's items with their live stock (``GET /v1/flash-sales/{id}``)."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import NotFound, Unavailable
from app.inventory.stock import Inventory
from app.promotions.snapshot import RulesSource
from app.rules.model import FlashSale


@dataclass(frozen=True, slots=True)
class FlashSaleItemStock:
    """One item as configured (price, limit) with its counters as Redis has them."""

    sku: str
    price: int
    initial: int
    available: int
    reserved: int
    sold: int
    per_customer_limit: int | None


@dataclass(frozen=True, slots=True)
class FlashSaleStock:
    promotion_id: str
    items: tuple[FlashSaleItemStock, ...]


class FlashSaleService:
    """One per process, made by ``lifespan``."""

    def __init__(self, *, rules: RulesSource, inventory: Inventory) -> None:
        self._rules = rules
        self._inventory = inventory

    async def stock(self, promotion_id: str) -> FlashSaleStock:
        """Each item's price and limit as configured, its counters as Redis has them
        (``available + reserved + sold == initial``). ``NotFound`` for an unknown
        promotion or one that is not a flash sale; ``Unavailable`` while its stock
        is not loaded (Redis down, or being rebuilt)."""
        promotion = self._rules.rules.get(promotion_id)
        if promotion is None or not isinstance(promotion.benefit, FlashSale):
            raise NotFound(f"no flash sale {promotion_id!r}")
        levels = await self._inventory.read(promotion_id)
        items = []
        for item in promotion.benefit.items:
            level = levels.get(item.sku)
            if level is None:
                raise Unavailable(f"the stock of flash sale {promotion_id!r} is not loaded yet")
            items.append(
                FlashSaleItemStock(
                    sku=item.sku,
                    price=item.price,
                    initial=level.initial,
                    available=level.available,
                    reserved=level.reserved,
                    sold=level.sold,
                    per_customer_limit=item.per_customer_limit,
                )
            )
        return FlashSaleStock(promotion_id=promotion_id, items=tuple(items))
