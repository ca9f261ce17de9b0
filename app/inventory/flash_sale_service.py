"""Flash-sale reads: a flash sale's items with their live stock (``GET /v1/flash-sales/{id}``)."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import NotFound, Unavailable
from app.inventory.stock import Inventory
from app.observability.series import SaleLevels
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

    async def levels(self) -> SaleLevels:
        """Every active flash sale's units available (of its configured stock) and
        every budget's spend (of its limit), in one read of the live counters: what
        ``/metrics`` shows. A sku or budget whose counters are not loaded is left
        out; ``Unavailable`` when Redis does not answer."""
        flash: dict[tuple[str, str], int] = {}
        budgets: dict[str, int] = {}
        for promotion in self._rules.rules.promotions:
            if promotion.status != "active":
                continue
            if isinstance(promotion.benefit, FlashSale):
                for item in promotion.benefit.items:
                    flash[promotion.id, item.sku] = item.stock
            if promotion.limits.budget is not None:
                budgets[promotion.id] = promotion.limits.budget
        read = await self._inventory.available_for(
            customer_id=None, flash=flash, promotions=budgets
        )
        return SaleLevels(
            stock={
                pair: (read.flash_available[pair], initial)
                for pair, initial in flash.items()
                if pair in read.flash_available
            },
            budgets={
                promotion_id: (read.budget_spent.get(promotion_id, 0), budget)
                for promotion_id, budget in budgets.items()
                if promotion_id not in read.not_loaded
            },
        )
