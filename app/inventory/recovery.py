"""Keeping the inventory's counters in step with the promotions and the ledger.

The PostgreSQL ledger is the source of truth; Redis holds the live counters
(docs/inventory.md, *Durability*). ``Recovery``:

- ``ensure(promotion)``: adjust a loaded promotion's stock (``load_stock``,
  never resetting a sale), or, when its loaded marker is missing (a Redis
  that came back empty, a new promotion), **rebuild** it from the ledger:
  sold from confirmed orders, reserved from open reservations (whose records
  come back too), uses and budget likewise, ``available = initial −
  reserved − sold``. A promotion with nothing in the ledger rebuilds to a
  plain first load. Start-up, admin writes and the sweeper all call this.
- ``keep(promotions)``: ``ensure`` those whose marker is missing or whose
  items changed since this process last ensured them (the sweeper's tick).
- ``rebuild(promotion)``: forced: remove the marker (takes then refuse), read
  the ledger, rebuild.
- ``reconcile(promotion)``: every difference between Redis and the ledger.

The command ``python -m app.cli.recover rebuild|reconcile`` runs the last two.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.inventory.stock import (
    CounterState,
    Inventory,
    LedgerCounts,
    StockChange,
    needs_counters,
)
from app.rules.model import FlashItem, FlashSale, Promotion

log = logging.getLogger(__name__)


class LedgerReader(Protocol):
    async def ledger_counts(self, promotion_id: str) -> LedgerCounts: ...


def flash_items(promotion: Promotion) -> tuple[FlashItem, ...]:
    return promotion.benefit.items if isinstance(promotion.benefit, FlashSale) else ()


@dataclass(frozen=True, slots=True)
class Difference:
    """One way Redis and the ledger disagree about a promotion."""

    promotion_id: str
    kind: str
    redis: int | None = None
    ledger: int | None = None
    sku: str | None = None
    customer: str | None = None
    reservation: str | None = None

    def __str__(self) -> str:
        where = " ".join(
            f"{name} {value}"
            for name, value in (
                ("sku", self.sku),
                ("customer", self.customer),
                ("reservation", self.reservation),
            )
            if value is not None
        )
        values = (
            ""
            if self.redis is None and self.ledger is None
            else (f": redis {self.redis}, ledger {self.ledger}")
        )
        return f"{self.promotion_id} {self.kind}{' ' + where if where else ''}{values}"


class Recovery:
    def __init__(self, inventory: Inventory, ledger: LedgerReader) -> None:
        self._inventory = inventory
        self._ledger = ledger
        self._seen: dict[str, tuple[FlashItem, ...]] = {}  # items this process ensured

    async def ensure(self, promotion: Promotion, *, now: datetime) -> str:
        """``adjusted`` (was loaded) or ``rebuilt`` (from the ledger)."""
        items = flash_items(promotion)
        outcome = "adjusted"
        if await self._inventory.adjust_stock(promotion.id, items, now=now) is None:
            counts = await self._ledger.ledger_counts(promotion.id)
            built = await self._inventory.rebuild(promotion.id, items, counts, now=now)
            if built is None:  # another instance rebuilt it in between
                await self._inventory.adjust_stock(promotion.id, items, now=now)
            else:
                outcome = "rebuilt"
                if not counts.is_empty:
                    log.warning(
                        "counters of %s rebuilt from the ledger: %d confirmed, %d open",
                        promotion.id,
                        len(counts.confirmed),
                        len(counts.open),
                    )
        self._seen[promotion.id] = items
        return outcome

    async def keep(
        self,
        promotions: Iterable[Promotion],
        *,
        now: datetime,
        check: Container[str] | None = None,
    ) -> int:
        """Ensure every promotion with counters that this process has not ensured or
        whose items changed since, and those of ``check`` (all when None) that are
        not loaded in Redis; how many were ensured."""
        wanted = [p for p in promotions if needs_counters(p)]
        if not wanted:
            return 0
        changed, looked = [], []
        for promotion in wanted:
            if self._seen.get(promotion.id) != flash_items(promotion):
                changed.append(promotion)
            elif check is None or promotion.id in check:
                looked.append(promotion)
        loaded = await self._inventory.loaded(p.id for p in looked) if looked else frozenset()
        todo = changed + [p for p in looked if p.id not in loaded]
        for promotion in todo:
            await self.ensure(promotion, now=now)
        return len(todo)

    async def rebuild(self, promotion: Promotion, *, now: datetime) -> tuple[StockChange, ...]:
        """Rebuild from the ledger even when loaded (takes refuse meanwhile)."""
        items = flash_items(promotion)
        await self._inventory.unload(promotion.id)
        counts = await self._ledger.ledger_counts(promotion.id)
        changes = await self._inventory.rebuild(promotion.id, items, counts, now=now)
        if changes is None:  # another instance rebuilt it after the unload: as good
            changes = await self._inventory.adjust_stock(promotion.id, items, now=now) or ()
        self._seen[promotion.id] = items
        return changes

    async def reconcile(self, promotion: Promotion) -> list[Difference]:
        counts = await self._ledger.ledger_counts(promotion.id)
        state = await self._inventory.inspect(promotion.id)
        return differences(promotion.id, flash_items(promotion), counts, state)


def differences(
    promotion_id: str,
    items: Sequence[FlashItem],
    ledger: LedgerCounts,
    state: CounterState,
) -> list[Difference]:
    """Every disagreement between the counters (``state``) and the ledger."""

    def diff(kind: str, redis: int | None = None, want: int | None = None, **where: str) -> None:
        found.append(Difference(promotion_id, kind, redis, want, **where))

    found: list[Difference] = []
    if not state.loaded:
        diff("not_loaded")
        return found
    configured = {item.sku: item for item in items}
    sold, reserved = ledger.units("confirmed"), ledger.units("open")
    for sku in sorted(set(configured) | ledger.skus | set(state.stock)):
        level = state.stock.get(sku)
        if level is None:
            diff("stock_missing", sku=sku)
            continue
        total = level.available + level.reserved + level.sold
        if total != level.initial:
            diff("available+reserved+sold!=initial", total, level.initial, sku=sku)
        if level.available < 0:
            diff("negative_available", level.available, 0, sku=sku)
        if level.sold != sold.get(sku, 0):
            diff("sold", level.sold, sold.get(sku, 0), sku=sku)
        if level.reserved != reserved.get(sku, 0):
            diff("reserved", level.reserved, reserved.get(sku, 0), sku=sku)
        if sku in configured and level.initial < configured[sku].stock:
            diff("initial_below_stock", level.initial, configured[sku].stock, sku=sku)
    holdings = ledger.holdings()
    for sku in sorted(set(holdings) | set(state.holdings)):
        want, have = holdings.get(sku, {}), state.holdings.get(sku, {})
        for customer in sorted(set(want) | set(have)):
            if want.get(customer, 0) != have.get(customer, 0):
                diff("holding", have.get(customer, 0), want.get(customer, 0), sku=sku,
                     customer=customer)  # fmt: skip
    if state.uses != ledger.uses():
        diff("uses", state.uses, ledger.uses())
    want_uses = ledger.customer_uses()
    for customer in sorted(set(want_uses) | set(state.customer_uses)):
        if want_uses.get(customer, 0) != state.customer_uses.get(customer, 0):
            diff("customer_uses", state.customer_uses.get(customer, 0),
                 want_uses.get(customer, 0), customer=customer)  # fmt: skip
    if state.budget_spent != ledger.budget_spent():
        diff("budget_spent", state.budget_spent, ledger.budget_spent())
    open_ids = {held.reservation_id for held in ledger.open}
    for rid in sorted(state.open - open_ids):
        diff("taken_in_redis_not_open_in_ledger", reservation=rid)
    for rid in sorted(open_ids - state.open):
        diff("open_in_ledger_not_taken_in_redis", reservation=rid)
    return found
