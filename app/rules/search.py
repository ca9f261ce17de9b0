"""The search for the customer's lowest total over the legal combinations.

A *combination* chooses, for each line, at most one item promotion, and a set of
order, coupon and shipping promotions. It is *legal* when no two members
conflict (two item promotions on one line, one exclusion group, an exclusive
promotion with anything, two shipping benefits), every member is applicable in
it, and every applicable auto promotion outside it conflicts with a member.

The search is a depth-first walk, stage by stage (a stage's amounts depend only
on earlier stages): exclusive promotions are tried alone first; then every line's
item choice, then order, coupon and shipping members. Lines no later stage can
see are decided before the walk (``independent_lines``). Choices that can never
become legal are cut early (an auto promotion with no group cannot be left out);
branches that cannot beat the best total found are cut by a bound at every item
line and every stage start; the rest is checked at each leaf. The greedy path
(deepest item discount first, members in before out) is walked first and is legal.

The walk is bounded: it counts its work in line steps (``WORK_LIMIT``) and the
legal combinations it evaluates (``EXACT_LIMIT``); past either it stops and
answers the best combination found so far with ``optimal`` False. A finished
walk is exact, whatever the number of legal combinations.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from app.rules.candidates import Assessment, Candidate, Pricing
from app.rules.model import STAGE_ORDER, GiftItem, Promotion, Reason, Stage

EXACT_LIMIT = 4096
# The work bound, in *line steps*: one unit per cart line a search step reads or
# writes (placing a line, measuring it for an assessment or a bound, checking it at
# a leaf) and one per node of the walk. Sized so that any walk of at most
# ``EXACT_LIMIT`` legal combinations of a realistic cart finishes, and so that the
# worst request stays within a few tens of milliseconds (docs/engine.md).
WORK_LIMIT = 25_000
# how often (in item lines) the item-stage bound is measured again for the choices
# made so far: every line prunes most but costs most (docs/engine.md)
REFRESH_EVERY = 3
# How often (in line steps) a long walk calls the ``pause`` it was handed. A caller
# that runs the search on a thread hands it a function that lets other threads run
# (a compiled engine never returns to the interpreter, which is where the GIL is
# handed over, so without it the event loop would wait for whole searches).
PAUSE_EVERY = 500


@dataclass(frozen=True, slots=True)
class Combo:
    items: tuple[int, ...]  # per line: candidate index, or -1
    order: tuple[int, ...] = ()
    coupon: tuple[int, ...] = ()
    shipping: int = -1

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        items: tuple[int, ...],
        order: tuple[int, ...] = (),
        coupon: tuple[int, ...] = (),
        shipping: int = -1,
    ) -> None:
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "coupon", coupon)
        object.__setattr__(self, "shipping", shipping)

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

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        candidate: Candidate,
        per_line: dict[int, tuple[int, int, bool]] | None = None,
        gifts: tuple[GiftItem, ...] = (),
        total: int = 0,
    ) -> None:
        self.candidate = candidate
        self.per_line = {} if per_line is None else per_line
        self.gifts = gifts
        self.total = total

    @property
    def listed(self) -> bool:
        return self.total > 0 or bool(self.gifts)


def _placed_order(placed: Placed) -> int:
    return placed.candidate.index  # its place in rank order (Pricing.freeze)


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
    return amounts, sorted(placed.values(), key=_placed_order)


def place_stage(
    pricing: Pricing, members: tuple[int, ...] | list[int], amounts: list[int]
) -> tuple[list[int], list[Placed]]:
    """An order or coupon stage: every member measured on ``amounts`` (the stage start),
    then placed in rank order, each share cut to the room left on its line."""
    if not members:
        return list(amounts), []
    floors = pricing.floors
    has_floor = pricing.has_floor
    rooms = [max(0, a - f) for a, f in zip(amounts, floors, strict=True)]
    after = list(amounts)
    out: list[Placed] = []
    # a candidate's index is its place in rank order (Pricing.freeze)
    for chosen in sorted(members):
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


# the search's order of preference, all but the last tie-break (Evaluation.line_key)
Key = tuple[int, int, tuple[int, ...], tuple[str, ...]]


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

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        pricing: Pricing,
        combo: Combo,
        starts: dict[Stage, list[int]],
        final: list[int],
        placed: list[Placed],
        shipping_discount: int,
        total: int,
    ) -> None:
        self.pricing = pricing
        self.combo = combo
        self.starts = starts
        self.final = final
        self.placed = placed
        self.shipping_discount = shipping_discount
        self.total = total

    def key(self) -> Key:
        """Lowest total; then fewer applied; higher priorities; smaller ids."""
        listed = [p.candidate.promotion for p in self.placed if p.listed]
        priorities = sorted((p.priority for p in listed), reverse=True)
        return (
            self.total,
            len(listed),
            tuple(-p for p in priorities),
            tuple(sorted(p.id for p in listed)),
        )

    def line_key(self) -> tuple[tuple[int, int, str], ...]:
        """The last tie-break, line by line in cart order: the line's item promotion
        with the higher priority, then the smaller id; a line with one before a line
        without."""
        on_line: dict[int, Promotion] = {}
        for placed in self.placed:
            if placed.candidate.stage is not Stage.ITEM:
                break  # placed is in stage order
            for index, (amount, _, _) in placed.per_line.items():
                if amount > 0:
                    on_line[index] = placed.candidate.promotion
        return tuple(
            (0, -on_line[i].priority, on_line[i].id) if i in on_line else (1, 0, "")
            for i in range(len(self.final))
        )

    def better_than(self, other: Evaluation, other_key: Key, key: Key | None = None) -> bool:
        """By PRICING.md's order; ``other_key`` is ``other.key()`` and ``key`` this one's,
        when already computed."""
        if key is None:
            key = self.key()
        if key != other_key:
            return key < other_key
        return self.line_key() < other.line_key()

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
    amounts, placed = place_items(pricing, combo.items)
    return _evaluated(pricing, combo, amounts, placed, place_stage(pricing, combo.order, amounts))


def _evaluated(
    pricing: Pricing,
    combo: Combo,
    amounts: list[int],
    placed: list[Placed],
    order: tuple[list[int], list[Placed]],
) -> Evaluation:
    """``evaluate`` from the item stage's amounts and placements and the order stage's
    (``place_stage`` of ``combo.order`` on those amounts), already computed."""
    starts: dict[Stage, list[int]] = {}
    starts[Stage.ITEM] = [line.list_total for line in pricing.request.lines]
    starts[Stage.ORDER] = amounts
    amounts, more = order
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
    """The search went past its work bound."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The search's answer: the best legal combination found, priced in full."""

    evaluation: Evaluation
    optimal: bool  # the walk finished: no legal combination is better
    work: int = 0  # line steps spent (see WORK_LIMIT)
    legal: int = 0  # legal combinations evaluated
    fixed_lines: int = 0  # lines whose item choice was decided before the walk
    stopped: bool = False  # the work bound stopped the walk (a larger one may finish it)

    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        evaluation: Evaluation,
        optimal: bool,
        work: int = 0,
        legal: int = 0,
        fixed_lines: int = 0,
        stopped: bool = False,
    ) -> None:
        object.__setattr__(self, "evaluation", evaluation)
        object.__setattr__(self, "optimal", optimal)
        object.__setattr__(self, "work", work)
        object.__setattr__(self, "legal", legal)
        object.__setattr__(self, "fixed_lines", fixed_lines)
        object.__setattr__(self, "stopped", stopped)


class _StageWalk:
    """One order or coupon stage being decided (``_Search.stage``): what its start
    measured and the members chosen so far. A plain object the walk hands down, not a
    closure over the stage's locals (a closure that calls itself is a reference cycle:
    each quote's working set would wait for the cyclic garbage collector)."""

    def __init__(
        self,
        stage: Stage,
        amounts: list[int],
        items: tuple[int, ...],
        chosen: dict[Stage, tuple[int, ...]],
        pending: list[Candidate],
        starts: dict[Stage, list[int]],
        placed: list[Placed],
        candidates: list[Candidate],
        assessments: list[Assessment],
    ) -> None:
        self.stage = stage
        self.amounts = amounts
        self.items = items
        self.chosen = chosen
        self.pending = pending
        self.starts = starts
        self.placed = placed
        self.candidates = candidates
        self.assessments = assessments
        self.members: list[int] = []
        self.gives: list[int] = []  # what each candidate gives at the stage start
        self.tail: list[int] = []  # what the candidates from k on give
        self.taken = 0  # what the members chosen so far give
        self.ceiling = 0  # the amounts plus the fee less a whole waive
        self.room = 0  # the lines' room above their floors
        self.later = 0  # at most what later stages give


class _Search:
    # written out: mypyc compiles it (a dataclass's generated __init__ runs interpreted)
    def __init__(
        self,
        pricing: Pricing,
        fixed: list[Candidate | None],
        work_limit: int | None,
        pause: Callable[[], None] | None = None,
    ) -> None:
        self.pricing = pricing
        self.work_limit = work_limit
        self.pause = pause
        self.next_pause = PAUSE_EVERY
        self.candidates = pricing.candidates
        self.n_lines = len(pricing.request.lines)
        self.fixed = fixed
        self.best: Evaluation | None = None
        self.best_key: Key | None = None
        self.legal_count = 0
        self.work = 0
        self.optimal = True
        self.stopped = False
        self.owner: dict[str, int] = {}  # exclusion group -> member holding it
        self.exclusive_alone: list[Candidate] = []  # auto exclusives applicable alone
        self.group_last_stage: dict[str, int] = {}
        for c in pricing.candidates:
            if c.group is not None and not c.exclusive:
                rank = STAGE_ORDER[c.stage]
                if rank > self.group_last_stage.get(c.group, -1):
                    self.group_last_stage[c.group] = rank
        self._item_bound_setup()

    # ------------------------------------------------------------------ work

    def spend(self, units: int) -> None:
        """Count work; past ``WORK_LIMIT`` the walk stops with the best found so far.
        It never stops before a first legal combination is found (the greedy path,
        walked first, is legal and costs a few steps per line and candidate)."""
        self.work += units
        if self.pause is not None and self.work >= self.next_pause:
            self.next_pause = self.work + PAUSE_EVERY
            self.pause()
        if self.work_limit is not None and self.work > self.work_limit and self.best is not None:
            self.optimal = False
            self.stopped = True
            raise _Stop

    # ---------------------------------------------------------------- leaves

    def offer(self, combo: Combo, walked: Walked | None = None) -> None:
        self.legal_count += 1
        if self.legal_count > EXACT_LIMIT and self.best is not None:
            self.optimal = False
            raise _Stop
        self.spend(self.n_lines)
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
        if (
            self.best is None
            or self.best_key is None
            or evaluation.better_than(self.best, self.best_key, key)
        ):
            self.best, self.best_key = evaluation, key

    def blocked_by_group(self, candidate: Candidate) -> bool:
        group = candidate.group
        return group is not None and self.owner.get(group, candidate.index) != candidate.index

    # ----------------------------------------------------------- exclusives

    def alone(self) -> None:
        list_amounts = [line.list_total for line in self.pricing.request.lines]
        for candidate in self.pricing.exclusives:
            self.spend(len(candidate.lines) + 1)
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

    def _item_bound_setup(self) -> None:
        """What the item-stage bound needs, computed once per quote.

        Every line's lowest possible amount after the item stage (its deepest option),
        as suffix sums, and its highest (its shallowest option; the list amount when it
        may stay bare or its options have a budget). The order and coupon stages give
        at most their bound at the highest amounts (each rule's ``bound`` holds at any
        lower amounts), within the lines' room above their floors.
        """
        pricing = self.pricing
        lines = pricing.request.lines
        lowest: list[int] = []
        self.highest: list[int] = []
        for index, (line, options) in enumerate(zip(lines, pricing.line_options, strict=True)):
            placed = [c.options[index].placed for c in options]
            lowest.append(line.list_total - max(placed, default=0))
            may_stay_bare = any(
                not c.auto or c.group is not None or c.budget_left is not None for c in options
            )
            self.highest.append(
                line.list_total if may_stay_bare or not placed else line.list_total - min(placed)
            )
        self.lowest_after = [0] * (self.n_lines + 1)
        for i in range(self.n_lines - 1, -1, -1):
            self.lowest_after[i] = self.lowest_after[i + 1] + lowest[i]
        self.upper = list(self.highest)  # decided lines' amounts, the rest at their highest
        self.upper_room = sum(
            max(0, a - f) for a, f in zip(self.upper, pricing.floors, strict=True)
        )
        self.on_lines = [0] * len(pricing.candidates)  # item candidate -> lines it holds
        # order candidates whose lines have no item choice: their stage start is known
        self.settled = {
            c.index
            for c in pricing.by_stage[Stage.ORDER]
            if all(lowest[i] == self.highest[i] for i in c.lines)
        }
        self.fee_left = pricing.request.shipping_fee - (
            pricing.request.shipping_fee if pricing.by_stage[Stage.SHIPPING] else 0
        )
        self.later_gives = self.later_bound()
        self.spend(sum(len(c.lines) for c in pricing.candidates) + self.n_lines)

    def later_bound(self) -> int:
        """At most what the order and coupon stages can give after any item choice
        that keeps every line at or below ``self.upper``."""
        return min(
            self.upper_room,
            self.discount_bound((Stage.ORDER, Stage.COUPON), self.upper, self.settled),
        )

    def set_upper(self, position: int, amount: int) -> None:
        floor = self.pricing.floors[position]
        self.upper_room += max(0, amount - floor) - max(0, self.upper[position] - floor)
        self.upper[position] = amount

    def items(self, position: int, chosen: list[int], low: int) -> None:
        """Choose each line's item promotion, from ``position`` on; ``low`` is the sum
        of the decided lines' amounts after their item promotion (no budget cap:
        at most that much is taken, so it is a lower bound)."""
        self.spend(1)
        # branch and bound: the decided lines, every undecided one at its deepest
        # option, less all that the later stages could give: first as measured once
        # for any choice; when that does not prune, every few lines (each measure
        # costs a pass over the candidates), for the choices made so far
        if self.best_key is not None:
            floor_total = low + self.lowest_after[position] + self.fee_left
            if floor_total - self.later_gives > self.best_key[0]:
                return
            if (
                position % REFRESH_EVERY == REFRESH_EVERY - 1
                and position < self.n_lines
                and floor_total - self.later_bound() > self.best_key[0]
            ):
                return
        if position == self.n_lines:
            self.spend(self.n_lines)
            amounts, placed = place_items(self.pricing, chosen)
            starts = {
                Stage.ITEM: [line.list_total for line in self.pricing.request.lines],
                Stage.ORDER: amounts,
            }
            self.stage(Stage.ORDER, amounts, tuple(chosen), {}, [], starts, placed)
            return
        list_total = self.pricing.request.lines[position].list_total
        highest = self.upper[position]
        fixed = self.fixed[position]
        options = [fixed] if fixed is not None else self.pricing.line_options[position]
        on_lines = self.on_lines
        for candidate in options:
            if self.blocked_by_group(candidate):
                continue
            held = candidate.group is not None and candidate.group not in self.owner
            if held:
                self.owner[candidate.group] = candidate.index  # type: ignore[index]
            chosen[position] = candidate.index
            amount = list_total - candidate.options[position].placed
            self.set_upper(position, list_total if candidate.budget_left is not None else amount)
            on_lines[candidate.index] += 1
            try:
                self.items(position + 1, chosen, low + amount)
            finally:
                on_lines[candidate.index] -= 1
                chosen[position] = -1
                if held:
                    del self.owner[candidate.group]  # type: ignore[arg-type]
        if fixed is not None:
            self.set_upper(position, highest)
            return
        # the line bare: only if every auto (or member) option can end up kept out
        for candidate in options:
            if on_lines[candidate.index] or (candidate.auto and candidate.group is None):
                self.set_upper(position, highest)
                return
        self.set_upper(position, list_total)
        self.items(position + 1, chosen, low + list_total)
        self.set_upper(position, highest)

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
        self.spend(self.n_lines)
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
        self.spend(sum(len(c.lines) for c in candidates))
        assessments = [pricing.assess(c, amounts) for c in candidates]
        # the same bound kept as members are decided one by one: what the members so
        # far, the candidates still to decide and every later stage can give at most
        gives = [sum(a.shares.values()) if a.applicable else 0 for a in assessments]
        tail = [0] * (len(candidates) + 1)
        for k in range(len(candidates) - 1, -1, -1):
            tail[k] = tail[k + 1] + gives[k]
        walk = _StageWalk(
            stage, amounts, items, chosen, pending, starts, placed, candidates, assessments
        )
        walk.gives = gives
        walk.tail = tail
        walk.ceiling = ceiling
        walk.room = room
        walk.later = later
        self.decide(walk, 0)

    def decide(self, walk: _StageWalk, k: int) -> None:
        """Decide the stage's candidates from the ``k``-th on, members in before out."""
        self.spend(1)
        if (
            self.best_key is not None
            and walk.ceiling - min(walk.room, walk.taken + walk.tail[k] + walk.later)
            > self.best_key[0]
        ):
            return
        candidates = walk.candidates
        stage = walk.stage
        members = walk.members
        pending = walk.pending
        if k == len(candidates):
            here = STAGE_ORDER[stage]
            for left in pending:  # nothing later can claim its group: dead branch
                if (
                    not self.blocked_by_group(left) and self.group_last_stage[left.group] <= here  # type: ignore[index]
                ):
                    return
            self.spend(sum(len(self.candidates[m].lines) for m in members) + 1)
            after, more = place_stage(self.pricing, members, walk.amounts)
            now = {**walk.chosen, stage: tuple(members)}
            nxt = Stage.COUPON if stage is Stage.ORDER else Stage.SHIPPING
            walked_starts = {**walk.starts, nxt: after}
            walked_placed = walk.placed + more
            if stage is Stage.ORDER:
                self.stage(
                    Stage.COUPON, after, walk.items, now, pending, walked_starts, walked_placed
                )
            else:
                self.shipping(after, walk.items, now, pending, (walked_starts, walked_placed))
            return
        candidate = candidates[k]
        if not walk.assessments[k].applicable or self.blocked_by_group(candidate):
            self.decide(walk, k + 1)
            return
        held = self.hold(candidate)
        try:
            members.append(candidate.index)
            walk.taken += walk.gives[k]
            self.decide(walk, k + 1)
            walk.taken -= walk.gives[k]
            members.pop()
        finally:
            if held:
                self.release(candidate)
        if not candidate.auto:
            self.decide(walk, k + 1)  # a presented coupon is an optional candidate
            return
        group = candidate.group
        if group is None or self.pricing.group_sizes.get(group, 0) < 2:
            return  # nothing could keep it out: it applies
        pending.append(candidate)
        self.decide(walk, k + 1)
        pending.pop()

    def shipping(
        self,
        amounts: list[int],
        items: tuple[int, ...],
        chosen: dict[Stage, tuple[int, ...]],
        pending: list[Candidate],
        walked: Walked,
    ) -> None:
        """At most one shipping benefit; an applicable auto one left out needs a reason."""
        by_stage = self.pricing.by_stage[Stage.SHIPPING]
        self.spend(sum(len(c.lines) for c in by_stage) + 1)
        applicable = [c for c in by_stage if self.pricing.assess(c, amounts).applicable]
        order, coupon = chosen.get(Stage.ORDER, ()), chosen.get(Stage.COUPON, ())
        for candidate in applicable:
            if self.blocked_by_group(candidate):
                continue
            held = self.hold(candidate)
            try:
                self.leaf(Combo(items, order, coupon, candidate.index), pending, walked)
            finally:
                if held:
                    self.release(candidate)
        left_out = [c for c in applicable if c.auto]
        if any(not self.blocked_by_group(c) for c in left_out):
            return  # an applicable auto shipping benefit nothing keeps out
        self.leaf(Combo(items, order, coupon, -1), pending + left_out, walked)

    def discount_bound(
        self, stages: tuple[Stage, ...], amounts: list[int], exact: Collection[int] = ()
    ) -> int:
        """At most what the candidates of ``stages`` that no member keeps out can give
        from a stage start at or below ``amounts``: one per exclusion group. Those in
        ``exact`` start their stage at exactly ``amounts``: what they give there."""
        by_group: dict[str, int] = {}
        free = 0
        for stage in stages:
            for candidate in self.pricing.by_stage[stage]:
                if self.blocked_by_group(candidate):
                    continue
                self.spend(len(candidate.lines))
                if candidate.index in exact:
                    gives = self.pricing.gives(candidate, amounts)
                else:
                    gives = self.pricing.bound(candidate, amounts)
                group = candidate.group
                if group is None:
                    free += gives
                elif gives > by_group.get(group, 0):
                    by_group[group] = gives
        return free + sum(by_group.values())

    def hold(self, candidate: Candidate) -> bool:
        """Hold the candidate's exclusion group while it is a member (unless a member
        already holds it); True when this call took it (``release`` it after)."""
        group = candidate.group
        if group is None or group in self.owner:
            return False
        self.owner[group] = candidate.index
        return True

    def release(self, candidate: Candidate) -> None:
        if candidate.group is not None:
            del self.owner[candidate.group]

    def leaf(self, combo: Combo, pending: list[Candidate], walked: Walked) -> None:
        self.spend(self.n_lines)
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


def independent_lines(pricing: Pricing) -> list[Candidate | None]:
    """Lines whose item choice no other choice can change, decided before the walk.

    A line in scope of no order or coupon candidate and of no shipping candidate
    with a ``min_amount`` condition ends the quote at its item-stage amount, so
    its deepest option lowers the total strictly. When every option is an auto
    promotion with no exclusion group and no budget (its choice then blocks
    nothing and spends nothing another line could use) and the deepest option is
    strictly deeper than the next, every legal combination with another choice on
    that line becomes legal and strictly cheaper with the deepest: it is decided.
    """
    touched: set[int] = set()
    for stage in (Stage.ORDER, Stage.COUPON):
        for candidate in pricing.by_stage[stage]:
            touched.update(candidate.lines)
    for candidate in pricing.by_stage[Stage.SHIPPING]:
        if candidate.promotion.conditions.min_amount is not None:
            touched.update(candidate.lines)
    fixed: list[Candidate | None] = []
    for index, options in enumerate(pricing.line_options):
        if (
            len(options) < 2
            or index in touched
            or any(not c.auto or c.group is not None or c.budget_left is not None for c in options)
            or options[0].options[index].placed <= options[1].options[index].placed
        ):
            fixed.append(None)
        else:
            fixed.append(options[0])
    return fixed


def combinations_above(pricing: Pricing, fixed: list[Candidate | None], limit: int) -> bool:
    """Could the choices make more than ``limit`` combinations? An upper bound on the
    legal ones: each line's options, and staying bare when every auto option has an
    exclusion group; each order or coupon candidate in or out when it can be left
    out (a coupon, or a member of a shared group); one shipping benefit or none;
    each exclusive promotion alone."""
    space = 1
    for options, decided in zip(pricing.line_options, fixed, strict=True):
        if decided is None and options:
            bare = all(c.group is not None for c in options if c.auto)
            space *= len(options) + bare
            if space > limit:
                return True
    for stage in (Stage.ORDER, Stage.COUPON):
        for c in pricing.by_stage[stage]:
            if not c.auto or (c.group is not None and pricing.group_sizes[c.group] > 1):
                space *= 2
    shipping = pricing.by_stage[Stage.SHIPPING]
    if len(shipping) > 1 or any(not c.auto or c.group is not None for c in shipping):
        space *= len(shipping) + 1
    return space + len(pricing.exclusives) > limit


def _forced(pricing: Pricing, fixed: list[Candidate | None]) -> Evaluation | None:
    """The one legal combination when nothing can conflict, priced, else None.

    With no coupons (optional by nature), no exclusive promotion, no exclusion
    group held by two candidates, at most one item option per line (or one decided
    by ``independent_lines``) and at most one shipping benefit, every applicable
    promotion must apply and nothing else may: there is no choice to search. Most
    carts are this case.
    """
    if pricing.exclusives or len(pricing.by_stage[Stage.SHIPPING]) > 1:
        return None
    if any(not c.auto for c in pricing.candidates):
        return None
    if any(size > 1 for size in pricing.group_sizes.values()):
        return None
    if any(
        len(options) > 1 and decided is None
        for options, decided in zip(pricing.line_options, fixed, strict=True)
    ):
        return None
    items = tuple(
        decided.index if decided is not None else options[0].index if options else -1
        for options, decided in zip(pricing.line_options, fixed, strict=True)
    )
    item_amounts, item_placed = place_items(pricing, items)
    order = tuple(
        c.index for c in pricing.by_stage[Stage.ORDER] if pricing.assess(c, item_amounts).applicable
    )
    order_stage = place_stage(pricing, order, item_amounts)
    shipping = -1
    for candidate in pricing.by_stage[Stage.SHIPPING]:
        if pricing.assess(candidate, order_stage[0]).applicable:
            shipping = candidate.index
    combo = Combo(items, order, (), shipping)
    return _evaluated(pricing, combo, item_amounts, item_placed, order_stage)


def search(
    pricing: Pricing, work_limit: int | None = None, pause: Callable[[], None] | None = None
) -> Outcome:
    """The best legal combination priced in full, and whether the search was exhaustive.

    ``work_limit`` (default ``WORK_LIMIT``) bounds the walk in line steps. A walk that
    finishes is exact, so every limit it finishes under gives the same answer.
    ``pause``, when given, is called every ``PAUSE_EVERY`` line steps; it changes
    nothing in the answer.
    """
    fixed = independent_lines(pricing)
    n_fixed = sum(1 for decided in fixed if decided is not None)
    forced = _forced(pricing, fixed)
    if forced is not None:
        return Outcome(forced, True, fixed_lines=n_fixed)
    if work_limit is None:
        # PRICING.md: exact up to 4,096 legal combinations. When the choices cannot
        # make more than that, the walk is bounded by them and runs to its end.
        work_limit = WORK_LIMIT if combinations_above(pricing, fixed, EXACT_LIMIT) else None
    state = _Search(pricing, fixed, work_limit, pause)
    try:
        state.alone()
        state.items(0, [-1] * state.n_lines, 0)
    except _Stop:
        pass
    best = state.best
    if best is None:  # cannot happen: the greedy path is legal; a bare cart, to be safe
        best = evaluate(pricing, Combo(tuple([-1] * state.n_lines)))
    return Outcome(best, state.optimal, state.work, state.legal_count, n_fixed, state.stopped)
