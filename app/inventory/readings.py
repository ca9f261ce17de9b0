"""Stock and counter readings for a quote, behind one small interface.

A quote only *reads* flash-sale stock and usage/budget counters; the engine
takes them as ``app.rules.model.Readings``. ``CounterReader`` is the seam:
``ConfiguredStock`` (today) reads nothing, so every flash item prices with
its configured stock and no usage has been counted yet; the flash-sale and
reservation work plugs a Redis reader in here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.rules.model import Line, Readings
from app.rules.ruleset import RuleSet


class CounterReader(Protocol):
    async def read(
        self, *, rules: RuleSet, lines: Sequence[Line], customer_id: str | None
    ) -> Readings:
        """The readings for pricing ``lines`` for ``customer_id`` against ``rules``."""


class ConfiguredStock:
    """No counters yet: configured stock, nothing used, limits checked against 0."""

    async def read(
        self,
        *,
        rules: RuleSet,  # noqa: ARG002
        lines: Sequence[Line],  # noqa: ARG002
        customer_id: str | None,  # noqa: ARG002
    ) -> Readings:
        return Readings()
