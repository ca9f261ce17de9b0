"""What a benefit type is to the engine: one small rule behind one of three protocols.

An *item* rule prices one line on its list amount. An *order* rule looks at the
in-scope lines' amounts at the start of its stage and says what it gives (per-line
shares, units, gifts) or which tier it missed. A *shipping* rule waives some of the
fee. Each rule is registered by its type string in ``benefits/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.rules.model import Benefit, Customer, GiftItem, Line, Notice, Reason, Stage


@dataclass(frozen=True, slots=True)
class ItemContext:
    """What an item rule may know besides the line: the customer and stock readings."""

    promotion_id: str
    customer: Customer
    flash_available: Mapping[tuple[str, str], int] | None
    flash_bought: Mapping[tuple[str, str], int]

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        promotion_id: str,
        customer: Customer,
        flash_available: Mapping[tuple[str, str], int] | None,
        flash_bought: Mapping[tuple[str, str], int],
    ) -> None:
        object.__setattr__(self, "promotion_id", promotion_id)
        object.__setattr__(self, "customer", customer)
        object.__setattr__(self, "flash_available", flash_available)
        object.__setattr__(self, "flash_bought", flash_bought)


@dataclass(slots=True)  # not frozen: made in the search's inner loop, where frozen costs
class ScopedLine:
    """A line in a promotion's scope, with its amount at the start of the stage."""

    index: int  # position in the cart
    line: Line
    amount: int

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        index: int,
        line: Line,
        amount: int,
    ) -> None:
        self.index = index
        self.line = line
        self.amount = amount

    @property
    def qty(self) -> int:
        return self.line.qty


@dataclass(frozen=True, slots=True)
class OrderEffect:
    """What an order-stage rule gives, before floors: shares by cart position. The
    dicts are the rule's own, new for each ``apply``: the assessment keeps them."""

    shares: dict[int, int]
    units: dict[int, int]
    gifts: tuple[GiftItem, ...] = ()

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        shares: dict[int, int],
        units: dict[int, int],
        gifts: tuple[GiftItem, ...] = (),
    ) -> None:
        object.__setattr__(self, "shares", shares)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "gifts", gifts)

    @property
    def total(self) -> int:
        return sum(self.shares.values())


@dataclass(frozen=True, slots=True)
class Miss:
    """An order-stage rule that gives nothing here, with the reason and what is missing."""

    reason: Reason
    missing_amount: int | None = None
    missing_qty: int | None = None

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        reason: Reason,
        missing_amount: int | None = None,
        missing_qty: int | None = None,
    ) -> None:
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "missing_amount", missing_amount)
        object.__setattr__(self, "missing_qty", missing_qty)


class ItemRule(Protocol):
    stage: Stage

    def eligible(self, benefit: Benefit, customer: Customer) -> bool:
        """Who-check of the benefit itself (a member price needs the customer's tier)."""
        ...

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None:
        """Skus the benefit is limited to beyond its scope (flash-sale items), or None."""
        ...

    def line_discount(self, benefit: Benefit, line: Line, ctx: ItemContext) -> tuple[int, int]:
        """``(discount, units priced)`` on the line's list amount, before its floor."""
        ...

    def shortfall(self, benefit: Benefit, line: Line, ctx: ItemContext) -> Notice | None:
        """Why the benefit covers the line but prices fewer units than it has (a flash
        sale's stock or limit), or None: the line's notice."""
        ...


class OrderRule(Protocol):
    stage: Stage

    def scope_skus(self, benefit: Benefit) -> frozenset[str] | None: ...

    def apply(self, benefit: Benefit, lines: Sequence[ScopedLine]) -> OrderEffect | Miss:
        """What the benefit gives measured on these in-scope lines (non-empty)."""
        ...

    def bound(self, benefit: Benefit, amount: int, qty: int, count: int) -> int:
        """An optimistic bound from the in-scope lines' measure (amount ``M``, units ``Q``)
        and how many lines they are: never less than what ``apply`` gives on such lines,
        or on any lines whose amounts are each no higher (later stages only lower
        amounts). The search prunes with it, so it must hold; it need not be tight.
        (No lines are handed over: the search asks it often, and no rule needs more.)"""
        ...


class ShippingRule(Protocol):
    stage: Stage

    def waive(self, benefit: Benefit, fee: int) -> int: ...


def measure(lines: Sequence[ScopedLine]) -> tuple[int, int]:
    """A promotion's measure: in-scope amount ``M`` and units ``Q``."""
    return sum(s.amount for s in lines), sum(s.line.qty for s in lines)
