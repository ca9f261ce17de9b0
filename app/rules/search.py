"""The search for the customer's lowest total over the legal combinations.

A *combination* chooses, for each line, at most one item promotion, and a set of
order, coupon and shipping promotions. It is *legal* when no two members
conflict (two item promotions on one line, one exclusion group, an exclusive
promotion with anything, two shipping benefits), every member is applicable in
it, and every applicable auto promotion outside it conflicts with a member.

The search is a depth-first walk, stage by stage (a stage's amounts depend only
on earlier stages): exclusive promotions are tried alone first; then every line's
item choice, then order, coupon and shipping members. Choices that can never
become legal are cut early (an auto promotion with no group cannot be left out);
the rest is checked at each leaf. Up to ``EXACT_LIMIT`` legal combinations the
answer is exact; beyond, the best found so far is returned with ``optimal``
False. The greedy path (deepest item discount first) is walked first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from app.rules.candidates import Candidate, Pricing
from app.rules.model import STAGE_ORDER, GiftItem, Reason, Stage

EXACT_LIMIT = 4096
MAX_LEAVES = 50_000  # legal or not: bounds the work of a pathological request


@dataclass(frozen=True, slots=True)
class Combo:
    items: tuple[int, ...]  # per line: candidate index, or -1
    order: tuple[int, ...] = ()
    coupon: tuple[int, ...] = ()
    shipping: int = -1

    def members(self) -> set[int]:
        found = {c for c in self.items if c >= 0}
        found.update(self.order)
        found.update(self.coupon)
        if self.shipping >= 0:
            found.add(self.shipping)
        return found


@dataclass(slots=True)
class Placed:
    """What one member placed: per line (amount, units, capped by a floor)."""

    candidate: Candidate
    per_line: dict[int, tuple[int, int, bool]] = field(default_factory=dict)
    gifts: tuple[GiftItem, ...] = ()
    total: int = 0

    @property
    def listed(self) -> bool:
        return self.total > 0 or bool(self.gifts)


def place_items(
    pricing: Pricing, items: tuple[int, ...] | list[int]
) -> tuple[list[int], list[Placed]]:
    """The item stage: each line's one item promotion, budgets spent in line order."""
    lines = pricing.request.lines
    amounts = [line.list_total for line in lines]
    placed: dict[int, Placed] = {}
    for index, chosen in enumerate(items):
        if chosen < 0:
            continue
        candidate = pricing.candidates[chosen]
        option = candidate.options[index]
        record = placed.get(chosen)
        if record is None:
            record = placed[chosen] = Placed(candidate)
        amount = option.placed
        if candidate.budget_left is not None:
            amount = min(amount, candidate.budget_left - record.total)
        if amount <= 0:
            continue
        record.per_line[index] = (amount, option.units, option.capped)
        record.total += amount
        amounts[index] -= amount
    return amounts, sorted(placed.values(), key=lambda p: p.candidate.rank)


def place_stage(
    pricing: Pricing, members: tuple[int, ...] | list[int], amounts: list[int]
) -> tuple[list[int], list[Placed]]:
    """An order or coupon stage: every member measured on ``amounts`` (the stage start),
    then placed in rank order, each share cut to the room left on its line."""
    floors = pricing.floors
    has_floor = pricing.has_floor
    rooms = [max(0, a - f) for a, f in zip(amounts, floors, strict=True)]
    after = list(amounts)
    out: list[Placed] = []
    for chosen in sorted(members, key=lambda c: pricing.candidates[c].rank):
        candidate = pricing.candidates[chosen]
        assessment = pricing.assess(candidate, amounts)
        record = Placed(candidate, gifts=assessment.gifts)
        for index in sorted(assessment.shares):
            share = assessment.shares[index]
            cut = min(share, rooms[index])
            if cut <= 0 and share <= 0:
                continue
            rooms[index] -= cut
            after[index] -= cut
            record.per_line[index] = (
                cut,
                assessment.units.get(index, 0),
                cut < share and has_floor[index],
            )
            record.total += cut
        out.append(record)
    return after, out


@dataclass(slots=True)
class Evaluation:
    """A combination priced in full."""

    pricing: Pricing
    combo: Combo
    starts: dict[Stage, list[int]]  # line amounts at the start of each stage
    final: list[int]
    placed: list[Placed]
    shipping_discount: int
    total: int

    def key(self) -> tuple[int, int, tuple[int, ...], tuple[str, ...]]:
        """Lowest total; then fewer applied; higher priorities; smaller ids."""
        listed = [p.candidate.promotion for p in self.placed if p.listed]
        priorities = sorted((p.priority for p in listed), reverse=True)
        return (
            self.total,
            len(listed),
            tuple(-p for p in priorities),
            tuple(sorted(p.id for p in listed)),
        )

    def reason_for(
        self, candidate: Candidate, combo: Combo
    ) -> tuple[Reason, int | None, int | None]:
        """Why a candidate outside the combination is out: its check-6/8 reason measured
        at its stage start here, else ``conflict`` or ``not_best``."""
        if candidate.stage is not Stage.ITEM:
            assessment = self.pricing.assess(candidate, self.starts[candidate.stage])
            if not assessment.applicable and assessment.reason is not None:
                return assessment.reason, assessment.missing_amount, assessment.missing_qty
        if _blocked(self.pricing, candidate, combo):
            return Reason.CONFLICT, None, None
        return Reason.NOT_BEST, None, None


def _blocked(pricing: Pricing, candidate: Candidate, combo: Combo) -> bool:
    """Does a member of ``combo`` keep ``candidate`` out?"""
    members = combo.members() - {candidate.index}
    if not members:
        return False
    if candidate.exclusive or any(pricing.candidates[m].exclusive for m in members):
        return True
    group = candidate.group
    if group is not None and any(pricing.candidates[m].group == group for m in members):
        return True
    if candidate.stage is Stage.ITEM:
        return any(combo.items[i] not in (-1, candidate.index) for i in candidate.options)
    return candidate.stage is Stage.SHIPPING and combo.shipping not in (-1, candidate.index)


def evaluate(pricing: Pricing, combo: Combo) -> Evaluation:
    starts: dict[Stage, list[int]] = {}
    starts[Stage.ITEM] = [line.list_total for line in pricing.request.lines]
    amounts, placed = place_items(pricing, combo.items)
    starts[Stage.ORDER] = amounts
    amounts, more = place_stage(pricing, combo.order, amounts)
    placed += more
    starts[Stage.COUPON] = amounts
    amounts, more = place_stage(pricing, combo.coupon, amounts)
    placed += more
    starts[Stage.SHIPPING] = amounts
    shipping_discount = 0
    if combo.shipping >= 0:
        candidate = pricing.candidates[combo.shipping]
        shipping_discount = pricing.assess(candidate, amounts).waive
        placed.append(Placed(candidate, total=shipping_discount))
    total = sum(amounts) + pricing.request.shipping_fee - shipping_discount
    return Evaluation(pricing, combo, starts, amounts, placed, shipping_discount, total)


# what the walk computed on its way to a leaf: stage-start amounts and placements
Walked = tuple[dict[Stage, list[int]], list[Placed]]


class _Stop(Exception):
    """The search went past its limits."""


class _Search:
    def __init__(self, pricing: Pricing) -> None:
        self.pricing = pricing
        self.candidates = pricing.candidates
        self.n_lines = len(pricing.request.lines)
        self.best: Evaluation | None = None
        self.best_key: tuple[int, int, tuple[int, ...], tuple[str, ...]] | None = None
        self.legal_count = 0
        self.leaves = 0
        self.optimal = True
        self.owner: dict[str, int] = {}  # exclusion group -> member holding it
        self.exclusive_alone: list[Candidate] = []  # auto exclusives applicable alone
        self.group_last_stage: dict[str, int] = {}
        for c in pricing.candidates:
            if c.group is not None and not c.exclusive:
                rank = STAGE_ORDER[c.stage]
                if rank > self.group_last_stage.get(c.group, -1):
                    self.group_last_stage[c.group] = rank

    # ---------------------------------------------------------------- leaves

    def offer(self, combo: Combo, walked: Walked | None = None) -> None:
        self.legal_count += 1
        if self.legal_count > EXACT_LIMIT:
            self.optimal = False
            raise _Stop
        if walked is None:
            evaluation = evaluate(self.pricing, combo)
        else:
            starts, placed = walked
            amounts = starts[Stage.SHIPPING]
            placed = list(placed)
            shipping_discount = 0
            if combo.shipping >= 0:
                candidate = self.pricing.candidates[combo.shipping]
                shipping_discount = self.pricing.assess(candidate, amounts).waive
                placed.append(Placed(candidate, total=shipping_discount))
            total = sum(amounts) + self.pricing.request.shipping_fee - shipping_discount
            evaluation = Evaluation(
                self.pricing, combo, starts, amounts, placed, shipping_discount, total
            )
        key = evaluation.key()
        if self.best_key is None or key < self.best_key:
            self.best, self.best_key = evaluation, key

    def blocked_by_group(self, candidate: Candidate) -> bool:
        group = candidate.group
        return group is not None and self.owner.get(group, candidate.index) != candidate.index

    # ----------------------------------------------------------- exclusives

    def alone(self) -> None:
        list_amounts = [line.list_total for line in self.pricing.request.lines]
        for candidate in self.pricing.exclusives:
            items = [-1] * self.n_lines
            combo: Combo
            if candidate.stage is Stage.ITEM:
                for index in candidate.options:
                    items[index] = candidate.index
                combo = Combo(tuple(items))
            else:
                if not self.pricing.assess(candidate, list_amounts).applicable:
                    continue
                if candidate.stage is Stage.ORDER:
                    combo = Combo(tuple(items), order=(candidate.index,))
                elif candidate.stage is Stage.COUPON:
                    combo = Combo(tuple(items), coupon=(candidate.index,))
                else:
                    combo = Combo(tuple(items), shipping=candidate.index)
            if candidate.auto:
                self.exclusive_alone.append(candidate)
            self.offer(combo)

    # ------------------------------------------------------------ item stage

    def items(self, position: int, chosen: list[int]) -> None:
        if position == self.n_lines:
            amounts, placed = place_items(self.pricing, chosen)
            starts = {
                Stage.ITEM: [line.list_total for line in self.pricing.request.lines],
                Stage.ORDER: amounts,
            }
            self.stage(Stage.ORDER, amounts, tuple(chosen), {}, [], starts, placed)
            return
        options = self.pricing.line_options[position]
        if not options:
            self.items(position + 1, chosen)
            return
        members = set(chosen[:position])
        for candidate in options:
            if self.blocked_by_group(candidate):
                continue
            with self.claim(candidate):
                chosen[position] = candidate.index
                self.items(position + 1, chosen)
                chosen[position] = -1
        # the line bare: only if every auto (or member) option can end up kept out
        for candidate in options:
            if candidate.index in members or (candidate.auto and candidate.group is None):
                return
        self.items(position + 1, chosen)

    # ---------------------------------------------- order, coupon, shipping

    def stage(
        self,
        stage: Stage,
        amounts: list[int],
        items: tuple[int, ...],
        chosen: dict[Stage, tuple[int, ...]],
        pending: list[Candidate],
        starts: dict[Stage, list[int]],
        placed: list[Placed],
    ) -> None:
        """Choose the members of an order or coupon stage measured on ``amounts``.

        ``pending``: applicable auto promotions left out so far; each must be kept
        out by a member's exclusion group by the time a leaf is reached.
        """
        pricing = self.pricing
        # Branch and bound. A lower bound on every completion from here: the amounts,
        # less what this and later stages can give at most (each candidate no member
        # keeps out gives its optimistic bound, one per exclusion group, all within
        # the lines' room above their floors), plus the fee less a whole waive. Only
        # a bound strictly above the best total prunes, so ties reach the tie-breaks.
        room = sum(max(0, a - f) for a, f in zip(amounts, pricing.floors, strict=True))
        fee = pricing.request.shipping_fee
        ceiling = sum(amounts) + fee - (fee if pricing.by_stage[Stage.SHIPPING] else 0)
        rest = (Stage.ORDER, Stage.COUPON) if stage is Stage.ORDER else (Stage.COUPON,)
        if (
            self.best_key is not None
            and ceiling - min(room, self.discount_bound(rest, amounts)) > self.best_key[0]
        ):
            return
        later = self.discount_bound((Stage.COUPON,), amounts) if stage is Stage.ORDER else 0
        candidates = pricing.by_stage[stage]
        assessments = [pricing.assess(c, amounts) for c in candidates]
        members: list[int] = []
        # the same bound kept as members are decided one by one: what the members so
        # far, the candidates still to decide and every later stage can give at most
        gives = [
            pricing.bound(c, amounts) if a.applicable else 0
            for c, a in zip(candidates, assessments, strict=True)
        ]
        tail = [0] * (len(candidates) + 1)
        for k in range(len(candidates) - 1, -1, -1):
            tail[k] = tail[k + 1] + gives[k]
        taken = [0]  # what the members chosen so far in this stage can give at most

        def decide(k: int) -> None:
            if (
                self.best_key is not None
                and ceiling - min(room, taken[0] + tail[k] + later) > self.best_key[0]
            ):
                return
            if k == len(candidates):
                here = STAGE_ORDER[stage]
                for left in pending:  # nothing later can claim its group: dead branch
                    if (
                        not self.blocked_by_group(left)
                        and self.group_last_stage[left.group] <= here  # type: ignore[index]
                    ):
                        return
                after, more = place_stage(self.pricing, members, amounts)
                now = {**chosen, stage: tuple(members)}
                nxt = Stage.COUPON if stage is Stage.ORDER else Stage.SHIPPING
                walked_starts = {**starts, nxt: after}
                walked_placed = placed + more
                if stage is Stage.ORDER:
                    self.stage(
                        Stage.COUPON, after, items, now, pending, walked_starts, walked_placed
                    )
                else:
                    self.shipping(after, items, now, pending, (walked_starts, walked_placed))
                return
            candidate = candidates[k]
            if not assessments[k].applicable or self.blocked_by_group(candidate):
                decide(k + 1)
                return
            with self.claim(candidate):
                members.append(candidate.index)
                taken[0] += gives[k]
                decide(k + 1)
                taken[0] -= gives[k]
                members.pop()
            if not candidate.auto:
                decide(k + 1)  # a presented coupon is an optional candidate
                return
            group = candidate.group
            if group is None or self.pricing.group_sizes.get(group, 0) < 2:
                return  # nothing could keep it out: it applies
            pending.append(candidate)
            decide(k + 1)
            pending.pop()

        decide(0)

    def shipping(
        self,
        amounts: list[int],
        items: tuple[int, ...],
        chosen: dict[Stage, tuple[int, ...]],
        pending: list[Candidate],
        walked: Walked,
    ) -> None:
        """At most one shipping benefit; an applicable auto one left out needs a reason."""
        applicable = [
            c
            for c in self.pricing.by_stage[Stage.SHIPPING]
            if self.pricing.assess(c, amounts).applicable
        ]
        order, coupon = chosen.get(Stage.ORDER, ()), chosen.get(Stage.COUPON, ())
        for candidate in applicable:
            if self.blocked_by_group(candidate):
                continue
            with self.claim(candidate):
                self.leaf(Combo(items, order, coupon, candidate.index), pending, walked)
        left_out = [c for c in applicable if c.auto]
        if any(not self.blocked_by_group(c) for c in left_out):
            return  # an applicable auto shipping benefit nothing keeps out
        self.leaf(Combo(items, order, coupon, -1), pending + left_out, walked)

    def discount_bound(self, stages: tuple[Stage, ...], amounts: list[int]) -> int:
        """At most what the candidates of ``stages`` that no member keeps out can give
        from a stage start at or below ``amounts``: one per exclusion group."""
        by_group: dict[str, int] = {}
        free = 0
        for stage in stages:
            for candidate in self.pricing.by_stage[stage]:
                if self.blocked_by_group(candidate):
                    continue
                gives = self.pricing.bound(candidate, amounts)
                group = candidate.group
                if group is None:
                    free += gives
                elif gives > by_group.get(group, 0):
                    by_group[group] = gives
        return free + sum(by_group.values())

    @contextmanager
    def claim(self, candidate: Candidate) -> Iterator[None]:
        """Hold the candidate's exclusion group while it is a member."""
        group = candidate.group
        claims = group is not None and group not in self.owner
        if claims:
            self.owner[group] = candidate.index  # type: ignore[index]
        try:
            yield
        finally:
            if claims:
                del self.owner[group]  # type: ignore[arg-type]

    def leaf(self, combo: Combo, pending: list[Candidate], walked: Walked) -> None:
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            self.optimal = False
            raise _Stop
        if self.is_legal(combo, pending):
            self.offer(combo, walked)

    def is_legal(self, combo: Combo, pending: list[Candidate]) -> bool:
        members = combo.members()
        if not members and self.exclusive_alone:
            return False  # an applicable exclusive promotion applies alone
        for candidate in pending:
            if not self.blocked_by_group(candidate):
                return False
        # a bare line: each of its auto (or member) options must be kept out by a group
        for index, chosen in enumerate(combo.items):
            if chosen >= 0:
                continue
            for candidate in self.pricing.line_options[index]:
                if candidate.index in members or (
                    candidate.auto and not self.blocked_by_group(candidate)
                ):
                    return False
        return True


def _forced(pricing: Pricing) -> Combo | None:
    """The one legal combination when nothing can conflict, else None.

    With no coupons (optional by nature), no exclusive promotion, no exclusion
    group held by two candidates, at most one item option per line and at most
    one shipping benefit, every applicable promotion must apply and nothing
    else may: there is no choice to search. Most carts are this case.
    """
    if pricing.exclusives or len(pricing.by_stage[Stage.SHIPPING]) > 1:
        return None
    if any(not c.auto for c in pricing.candidates):
        return None
    if any(size > 1 for size in pricing.group_sizes.values()):
        return None
    if any(len(options) > 1 for options in pricing.line_options):
        return None
    items = tuple(options[0].index if options else -1 for options in pricing.line_options)
    amounts, _ = place_items(pricing, items)
    order = tuple(
        c.index for c in pricing.by_stage[Stage.ORDER] if pricing.assess(c, amounts).applicable
    )
    amounts, _ = place_stage(pricing, order, amounts)
    shipping = -1
    for candidate in pricing.by_stage[Stage.SHIPPING]:
        if pricing.assess(candidate, amounts).applicable:
            shipping = candidate.index
    return Combo(items, order, (), shipping)


def search(pricing: Pricing) -> tuple[Evaluation, bool]:
    """The best legal combination priced in full, and whether the search was exhaustive."""
    forced = _forced(pricing)
    if forced is not None:
        return evaluate(pricing, forced), True
    state = _Search(pricing)
    try:
        state.alone()
        state.items(0, [-1] * state.n_lines)
    except _Stop:
        pass
    if state.best is None:
        return evaluate(pricing, Combo(tuple([-1] * state.n_lines))), state.optimal
    return state.best, state.optimal
