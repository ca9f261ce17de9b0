"""The search's working set: candidates that passed the request-only checks, and
their assessment at a stage start (check 6 and what the benefit gives there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from app.rules.benefits import ORDER_RULES, SHIPPING_RULES
from app.rules.benefits.base import Miss, ScopedLine
from app.rules.eligibility import conditions_miss
from app.rules.model import (
    STAGE_ORDER,
    STAGES,
    GiftItem,
    Notice,
    Promotion,
    QuoteRequest,
    Reason,
    Stage,
)
from app.rules.money import split


@dataclass(frozen=True, slots=True)
class ItemOption:
    """What an item promotion places on one line (after the floor), and the units it prices."""

    placed: int
    units: int
    capped: bool

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        placed: int,
        units: int,
        capped: bool,
    ) -> None:
        object.__setattr__(self, "placed", placed)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "capped", capped)


@dataclass(slots=True)
class Candidate:
    index: int
    promotion: Promotion
    stage: Stage
    auto: bool
    code: str | None
    lines: tuple[int, ...]  # cart positions in scope
    budget_left: int | None
    options: dict[int, ItemOption] = field(default_factory=dict)  # item stage only
    # derived once, read in the search's inner loops
    group: str | None = field(init=False)
    exclusive: bool = field(init=False)
    rank: tuple[int, int, str] = field(init=False)  # stage, priority (higher first), id

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        index: int,
        promotion: Promotion,
        stage: Stage,
        auto: bool,
        code: str | None,
        lines: tuple[int, ...],
        budget_left: int | None,
        options: dict[int, ItemOption] | None = None,
    ) -> None:
        self.index = index
        self.promotion = promotion
        self.stage = stage
        self.auto = auto
        self.code = code
        self.lines = lines
        self.budget_left = budget_left
        self.options = {} if options is None else options
        self.group = promotion.group
        self.exclusive = promotion.exclusive
        self.rank = (STAGE_ORDER[stage], -promotion.priority, promotion.id)


@dataclass(frozen=True, slots=True)
class Assessment:
    """A non-item candidate measured at a stage start."""

    applicable: bool
    shares: dict[int, int]
    units: dict[int, int]
    gifts: tuple[GiftItem, ...] = ()
    waive: int = 0
    reason: Reason | None = None
    missing_amount: int | None = None
    missing_qty: int | None = None
    measure: tuple[int, int] = (0, 0)

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        applicable: bool,
        shares: dict[int, int],
        units: dict[int, int],
        gifts: tuple[GiftItem, ...] = (),
        waive: int = 0,
        reason: Reason | None = None,
        missing_amount: int | None = None,
        missing_qty: int | None = None,
        measure: tuple[int, int] = (0, 0),
    ) -> None:
        object.__setattr__(self, "applicable", applicable)
        object.__setattr__(self, "shares", shares)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "gifts", gifts)
        object.__setattr__(self, "waive", waive)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "missing_amount", missing_amount)
        object.__setattr__(self, "missing_qty", missing_qty)
        object.__setattr__(self, "measure", measure)


def _option_order(line_index: int, candidate: Candidate) -> tuple[int, tuple[int, int, str]]:
    return (-candidate.options[line_index].placed, candidate.rank)


class Pricing:
    """One quote's request, candidates and caches."""

    def __init__(self, request: QuoteRequest) -> None:
        self.request = request
        self.floors = [line.floor_total for line in request.lines]
        self.rooms = [
            max(0, line.list_total - f) for line, f in zip(request.lines, self.floors, strict=True)
        ]
        self.has_floor = [line.min_unit_price is not None for line in request.lines]
        self.candidates: list[Candidate] = []
        # by cart position: flash sales that cover a line but do not price all of it
        self.notices: dict[int, list[Notice]] = {}
        self._assessments: dict[tuple[int, tuple[int, ...]], Assessment] = {}
        self._bounds: dict[tuple[int, tuple[int, ...]], int] = {}
        # filled by freeze()
        self.line_options: list[list[Candidate]] = []
        self.by_stage: dict[Stage, list[Candidate]] = {}
        self.exclusives: list[Candidate] = []
        self.group_sizes: dict[str, int] = {}

    def freeze(self) -> None:
        """Index the candidates for the search (called once all are gathered)."""
        self.candidates.sort(key=lambda c: c.rank)
        # a candidate's index is its place in rank order (ranks are unique: one
        # candidate per promotion id); the search sorts members by index
        for index, candidate in enumerate(self.candidates):
            candidate.index = index
        # (not ``for stage in Stage``: iterating an enum runs enum.py's Python code)
        self.by_stage = {stage: [] for stage in STAGES}
        self.line_options = [[] for _ in self.request.lines]
        for candidate in self.candidates:
            if candidate.group is not None:
                self.group_sizes[candidate.group] = self.group_sizes.get(candidate.group, 0) + 1
            if candidate.exclusive:
                self.exclusives.append(candidate)
                continue
            self.by_stage[candidate.stage].append(candidate)
            for line_index in candidate.options:
                self.line_options[line_index].append(candidate)
        for line_index, options in enumerate(self.line_options):
            # deepest discount first, so the greedy path is the first one tried
            if len(options) > 1:
                options.sort(key=partial(_option_order, line_index))

    def bound(self, candidate: Candidate, amounts: list[int]) -> int:
        """At most what an order or coupon candidate can take off at any stage start whose
        amounts are each no higher than ``amounts`` (see ``OrderRule.bound``)."""
        key = (candidate.index, tuple(amounts[i] for i in candidate.lines))
        found = self._bounds.get(key)
        if found is None:
            found = self._bound(candidate, amounts)
            self._bounds[key] = found
        return found

    def _measure(self, candidate: Candidate, amounts: list[int]) -> tuple[int, int, int]:
        """The candidate's measure at ``amounts`` (amount, units) and its lines' room above
        their floors, in one pass."""
        lines = self.request.lines
        floors = self.floors
        amount = qty = room = 0
        for i in candidate.lines:
            at = amounts[i]
            amount += at
            qty += lines[i].qty
            if at > floors[i]:
                room += at - floors[i]
        return amount, qty, room

    def _bound(self, candidate: Candidate, amounts: list[int]) -> int:
        amount, qty, room = self._measure(candidate, amounts)
        conditions = candidate.promotion.conditions
        if (conditions.min_qty is not None and qty < conditions.min_qty) or (
            conditions.min_amount is not None and amount < conditions.min_amount
        ):
            return 0  # check 6 not met here, so not met at any lower amounts
        benefit = candidate.promotion.benefit
        found = ORDER_RULES[benefit.type].bound(benefit, amount, qty, len(candidate.lines))
        if candidate.budget_left is not None:
            found = min(found, candidate.budget_left)
        return max(0, min(found, room))

    def gives(self, candidate: Candidate, amounts: list[int]) -> int:
        """What an order or coupon candidate takes off at exactly this stage start,
        before the lines' room is shared with other members."""
        assessment = self.assess(candidate, amounts)
        return sum(assessment.shares.values()) if assessment.applicable else 0

    def assess(self, candidate: Candidate, amounts: list[int]) -> Assessment:
        key = (candidate.index, tuple(amounts[i] for i in candidate.lines))
        found = self._assessments.get(key)
        if found is None:
            found = self._assess(candidate, amounts)
            self._assessments[key] = found
        return found

    def _assess(self, candidate: Candidate, amounts: list[int]) -> Assessment:
        amount, qty, _ = self._measure(candidate, amounts)
        miss = conditions_miss(candidate.promotion.conditions, amount, qty)
        if miss is not None:
            return Assessment(
                False,
                {},
                {},
                reason=miss.reason,
                missing_amount=miss.missing_amount,
                missing_qty=miss.missing_qty,
                measure=(amount, qty),
            )
        benefit = candidate.promotion.benefit
        if candidate.stage is Stage.SHIPPING:
            waive = SHIPPING_RULES[benefit.type].waive(benefit, self.request.shipping_fee)
            if candidate.budget_left is not None:
                waive = min(waive, candidate.budget_left)
            if waive <= 0:  # nothing to waive
                return Assessment(False, {}, {}, reason=Reason.NOT_ELIGIBLE, measure=(amount, qty))
            return Assessment(True, {}, {}, waive=waive, measure=(amount, qty))
        lines = self.request.lines
        scoped = [ScopedLine(i, lines[i], amounts[i]) for i in candidate.lines]
        effect = ORDER_RULES[benefit.type].apply(benefit, scoped)
        if isinstance(effect, Miss):
            return Assessment(
                False,
                {},
                {},
                reason=effect.reason,
                missing_amount=effect.missing_amount,
                missing_qty=effect.missing_qty,
                measure=(amount, qty),
            )
        shares = effect.shares
        if candidate.budget_left is not None and effect.total > candidate.budget_left:
            order = sorted(shares)  # the budget left is all it gives, spread the same way
            capped = split([shares[i] for i in order], candidate.budget_left)
            shares = dict(zip(order, capped, strict=True))
        placeable = sum(
            min(share, max(0, amounts[i] - self.floors[i])) for i, share in shares.items()
        )
        if placeable <= 0 and not effect.gifts:
            return Assessment(
                False,
                shares,
                effect.units,
                reason=Reason.NO_ELIGIBLE_ITEMS,
                measure=(amount, qty),
            )
        return Assessment(True, shares, effect.units, gifts=effect.gifts, measure=(amount, qty))
