"""What a quote reads of the counters: the ``CounterReader`` seam and its implementation.

A quote only *reads* flash-sale stock and usage/budget counters (never
takes); the engine gets them as ``app.rules.model.Readings``.
``InventoryCounterReader`` reads them through any ``Inventory`` (Redis in
production, fakeredis embedded): for the lines of a cart, the stock and this
customer's holdings of every flash-sale sku among them, and the uses, this
customer's uses and the budget spent of every promotion with a usage limit or
a budget that may apply — the auto candidates of the lines, and the coupon
promotions whose codes the customer presents (or holds, with
``auto_coupons``). A quote's reads follow the cart and its codes, never the
size of the rule set.

When the inventory does not answer, the readings are the degraded ones of
PRICING.md: stock unknown (no flash-sale price) and limits unchecked; the
engine then marks the quote ``degraded``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from app.errors import Unavailable
from app.inventory.stock import Inventory, has_limits, needs_counters
from app.rules.model import FlashSale, Line, Promotion, Readings
from app.rules.ruleset import RuleSet

DEGRADED = Readings(flash_available=None, check_limits=False)


class CounterReader(Protocol):
    async def read(
        self,
        *,
        rules: RuleSet,
        lines: Sequence[Line],
        customer_id: str | None,
        coupon_promotions: Sequence[str] = (),
        fresh: frozenset[str] = frozenset(),
    ) -> Readings:
        """The readings for pricing ``lines`` for ``customer_id`` against ``rules``, with
        the coupon promotions whose codes the customer presents (or holds, with
        ``auto_coupons``). Promotions in ``fresh`` (drafts a preview prices) are not
        read: they count as new (their configured stock, no uses)."""


class InventoryCounterReader:
    """``CounterReader`` over any ``Inventory``; degraded readings when it does not answer."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory

    async def read(
        self,
        *,
        rules: RuleSet,
        lines: Sequence[Line],
        customer_id: str | None,
        coupon_promotions: Sequence[str] = (),
        fresh: frozenset[str] = frozenset(),
    ) -> Readings:
        skus = {line.sku for line in lines}
        coupons = (rules.get(pid) for pid in dict.fromkeys(coupon_promotions))
        candidates: Iterable[Promotion] = (
            *rules.auto_candidates(lines),
            *(p for p in coupons if p is not None and p.is_coupon and needs_counters(p)),
        )
        flash: list[tuple[str, str]] = []
        limited: list[str] = []
        for promotion in candidates:
            if promotion.id in fresh:
                continue
            if isinstance(promotion.benefit, FlashSale):
                flash += [(promotion.id, i.sku) for i in promotion.benefit.items if i.sku in skus]
            if has_limits(promotion):
                limited.append(promotion.id)
        if not flash and not limited:
            return Readings()
        try:
            found = await self._inventory.available_for(
                customer_id=customer_id, flash=flash, promotions=limited
            )
        except Unavailable:
            return DEGRADED
        return found.as_readings()
