"""Stock and counter readings for a quote, behind one small interface.

A quote only *reads* flash-sale stock and usage/budget counters; the engine
takes them as ``app.rules.model.Readings``. ``CounterReader`` is the seam:
``app.inventory.redis_readings.RedisCounters`` reads them from the
inventory (and gives the degraded readings when Redis does not answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.rules.model import Line, Readings
from app.rules.ruleset import RuleSet


class CounterReader(Protocol):
    async def read(
        self,
        *,
        rules: RuleSet,
        lines: Sequence[Line],
        customer_id: str | None,
        coupon_promotions: Sequence[str] = (),
    ) -> Readings:
        """The readings for pricing ``lines`` for ``customer_id`` against ``rules``, with
        the coupon promotions whose codes the customer presents (or holds, with
        ``auto_coupons``)."""
