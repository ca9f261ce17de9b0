"""Property tests of the pricing engine against PRICING.md.

1. Invariants every quote must satisfy (PRICING.md "Allocation", "Invariants",
   "Exact rules"), over random carts and promotions of all 13 benefit types.
2. A brute-force oracle for the search: every combination is enumerated, its
   legality is checked exactly as "The search" paragraph defines it, and the best
   legal one by the spec's order must be the engine's answer. The oracle uses the
   engine only to gather the candidates (``engine._prepare``/``_present``, the
   request-only checks) and to price one given combination (``search.evaluate``);
   the enumeration, the legality check and the choice of the best are its own.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass, replace
from fractions import Fraction
from itertools import chain, combinations, product

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from app.rules import engine
from app.rules.candidates import Candidate, Pricing
from app.rules.engine import price
from app.rules.model import (
    STAGE_ORDER,
    FreeShipping,
    Gift,
    PresentedCoupon,
    Quote,
    QuoteRequest,
    Reason,
    Scope,
    ShippingAmountOff,
    Stage,
)
from app.rules.ruleset import RuleSet
from app.rules.search import Combo, Evaluation, evaluate
from tests.unit.strategies import BENEFIT_TYPES, Cart, Case, cases, promotion

VERSION = "props#1"
EXACT_LIMIT = 4096  # PRICING.md: exact for up to 4,096 legal combinations
COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


def quote_for(case: Case) -> Quote:
    return price(RuleSet(case.promotions, VERSION), case.request)


def describe(case: Case) -> None:
    note(f"lines={case.request.lines!r}")
    note(f"customer={case.request.customer!r} fee={case.request.shipping_fee}")
    note(f"coupons={case.request.coupons!r} wallet={case.request.wallet!r}")
    note(f"readings={case.request.readings!r}")
    for p in case.promotions:
        note(
            f"promotion {p.id}: {p.benefit!r} trigger={p.trigger} exclusive={p.exclusive} "
            f"group={p.exclusion_group} priority={p.priority} scope={p.scope!r} "
            f"conditions={p.conditions!r} limits={p.limits!r} status={p.status}"
        )


# ------------------------------------------------------------------ invariants


def _money_values(value: object, path: str = "quote") -> Iterator[tuple[str, object]]:
    """Every field of the quote that is not a Promotion/Line input, recursively."""
    if is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            if f.name in ("promotion", "line"):
                continue  # inputs, echoed back
            yield from _money_values(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _money_values(item, f"{path}[{i}]")
    else:
        yield path, value


def check_invariants(request: QuoteRequest, q: Quote) -> None:
    lines = request.lines
    # no floats (or Fractions) anywhere in the answer
    for path, value in _money_values(q):
        assert not isinstance(value, float | Fraction), f"{path} is {value!r}"
    for name in ("subtotal", "discount_total", "shipping_fee", "shipping_discount", "total"):
        assert type(getattr(q, name)) is int, name

    assert q.subtotal == sum(line.unit_price * line.qty for line in lines)
    assert q.shipping_fee == request.shipping_fee
    assert q.total == q.subtotal - q.discount_total + q.shipping_fee - q.shipping_discount
    assert 0 <= q.shipping_discount <= q.shipping_fee

    # lines
    assert [r.line for r in q.lines] == list(lines)
    by_promotion: Counter[str] = Counter()
    for r in q.lines:
        line = r.line
        assert r.list_total == line.unit_price * line.qty
        assert r.discount == r.list_total - r.final_total
        assert 0 <= r.final_total <= r.list_total
        floor = (line.min_unit_price or 0) * line.qty
        assert r.final_total >= min(floor, r.list_total), "a line broke its floor"
        assert sum(a.amount for a in r.adjustments) == r.discount
        ids = [a.promotion_id for a in r.adjustments]
        assert len(ids) == len(set(ids)), "one adjustment per promotion per line"
        for a in r.adjustments:
            assert type(a.amount) is int
            assert a.amount > 0
            assert type(a.units) is int
            assert 0 <= a.units <= line.qty
            if a.capped:
                assert line.min_unit_price is not None
            by_promotion[a.promotion_id] += a.amount
    assert q.discount_total == sum(r.discount for r in q.lines)

    # applied
    applied_ids = [a.promotion.id for a in q.applied]
    assert len(applied_ids) == len(set(applied_ids))
    non_shipping = [a for a in q.applied if a.stage is not Stage.SHIPPING]
    shipping = [a for a in q.applied if a.stage is Stage.SHIPPING]
    assert q.discount_total == sum(a.amount for a in non_shipping)
    assert q.shipping_discount == sum(a.amount for a in shipping)
    assert len(shipping) <= 1
    for a in non_shipping:
        assert by_promotion[a.promotion.id] == a.amount, f"{a.promotion.id}'s lines"
    assert set(by_promotion) <= set(applied_ids), "an adjustment of a promotion not applied"
    for a in q.applied:
        assert type(a.amount) is int
        assert a.amount >= 0
        if isinstance(a.promotion.benefit, Gift):
            assert a.amount == 0
        else:
            assert a.amount > 0, "a promotion that places nothing is not applied"
        assert (a.coupon_code is not None) == a.promotion.is_coupon
        if a.promotion.is_coupon:
            assert a.stage is not Stage.ORDER
    ranks = [(STAGE_ORDER[a.stage], -a.promotion.priority, a.promotion.id) for a in q.applied]
    assert ranks == sorted(ranks), "applied is ordered by stage, priority desc, id"

    # stacking rules visible in the answer
    exclusive = [a for a in q.applied if a.promotion.exclusive]
    assert not exclusive or len(q.applied) == 1, "an exclusive promotion applies alone"
    groups = [a.promotion.group for a in q.applied if a.promotion.group is not None]
    assert len(groups) == len(set(groups)), "two members of one exclusion group"
    for r in q.lines:
        items = [
            a
            for a in r.adjustments
            if next(x for x in q.applied if x.promotion.id == a.promotion_id).stage is Stage.ITEM
        ]
        assert len(items) <= 1, "two item promotions on one line"

    # gifts
    gift_applied = {a.promotion.id for a in q.applied if isinstance(a.promotion.benefit, Gift)}
    for g in q.gifts:
        assert g.promotion_id in gift_applied
        assert g.qty > 0
    assert {g.promotion_id for g in q.gifts} == gift_applied

    # coupons: every presented code (codes compare case-insensitively) has one outcome
    presented: list[str] = []
    for c in request.coupons:
        if c.code.upper() not in presented:
            presented.append(c.code.upper())
    wallet = {c.code.upper() for c in request.wallet} - set(presented)
    outcome_codes = [o.code.upper() for o in q.coupons]
    assert [c for c in outcome_codes if c in presented] == presented
    assert set(outcome_codes) - set(presented) <= wallet
    assert len(outcome_codes) == len(set(outcome_codes))
    used_codes = {a.coupon_code.upper() for a in q.applied if a.coupon_code is not None}
    for o in q.coupons:
        assert o.applied == (o.reason is None)
        assert o.applied == (o.code.upper() in used_codes), o
    assert used_codes <= {o.code.upper() for o in q.coupons if o.applied}

    # hints are money too
    for h in q.hints:
        assert type(h.reward_amount) is int
        assert h.reward_amount >= 0
        assert (h.missing_amount is None) != (h.missing_qty is None)
        assert (h.missing_amount or h.missing_qty or 0) > 0

    assert q.rules_version == VERSION


@settings(max_examples=200, **COMMON)
@given(cases(with_limits=True, with_eligibility=True, odd_codes=True))
def test_every_quote_keeps_the_invariants(case: Case) -> None:
    describe(case)
    check_invariants(case.request, quote_for(case))


@settings(max_examples=50, **COMMON)
@given(st.data())
def test_each_benefit_type_keeps_the_invariants(data: st.DataObject) -> None:
    """Every benefit type on its own against a random cart, so none is starved."""
    kind = data.draw(st.sampled_from(BENEFIT_TYPES))
    case = data.draw(cases(max_promotions=3))
    extra = data.draw(promotion("pk", kind=kind, cart=Cart.of(case.request.lines)))
    case = Case((*case.promotions, extra), case.request)
    describe(case)
    check_invariants(case.request, quote_for(case))


@settings(max_examples=60, **COMMON)
@given(cases(with_limits=True, with_eligibility=True, odd_codes=True), st.randoms())
def test_same_request_same_quote_whatever_the_promotions_order(
    case: Case, rnd: random.Random
) -> None:
    describe(case)
    first = quote_for(case)
    assert quote_for(case) == first
    shuffled = list(case.promotions)
    rnd.shuffle(shuffled)
    assert price(RuleSet(shuffled, VERSION), case.request) == first


# ---------------------------------------------------------------------- oracle


@dataclass(frozen=True)
class Verdict:
    total: int
    applied: frozenset[str]
    legal: int  # how many legal combinations there are
    item_on_lines: tuple[str | None, ...] = ()  # per line, its item promotion


def _gather(rules: RuleSet, request: QuoteRequest) -> Pricing:
    """The candidates: every active auto promotion (the index is not trusted here)
    and the presented coupons, through the engine's request-only checks."""
    pricing = Pricing(request)
    for p in rules.promotions:
        if not p.is_coupon:
            engine._prepare(pricing, p, None)
    engine._present(pricing, rules)
    pricing.freeze()
    return pricing


def _applicable(pricing: Pricing, c: Candidate, amounts: list[int]) -> bool:
    """Check 6 on the stage-start ``amounts``, then: places > 0 after floors, gives a
    gift, or (shipping) waives something."""
    lines = pricing.request.lines
    m = sum(amounts[i] for i in c.lines)
    qty = sum(lines[i].qty for i in c.lines)
    cond = c.promotion.conditions
    if cond.min_qty is not None and qty < cond.min_qty:
        return False
    if cond.min_amount is not None and m < cond.min_amount:
        return False
    benefit = c.promotion.benefit
    if c.stage is Stage.SHIPPING:
        fee = pricing.request.shipping_fee
        if isinstance(benefit, FreeShipping):
            waive = fee
        else:
            assert isinstance(benefit, ShippingAmountOff)
            waive = min(benefit.amount, fee)
        if c.budget_left is not None:
            waive = min(waive, c.budget_left)
        return waive > 0
    assessment = pricing.assess(c, amounts)  # what the benefit gives, before floors
    if assessment.gifts:
        return True
    placeable = sum(
        min(share, max(0, amounts[i] - lines[i].min_unit_price * lines[i].qty))
        if lines[i].min_unit_price is not None
        else min(share, amounts[i])
        for i, share in assessment.shares.items()
    )
    return placeable > 0


def _subsets(indices: list[int]) -> Iterator[tuple[int, ...]]:
    return chain.from_iterable(combinations(indices, k) for k in range(len(indices) + 1))


def _legal(pricing: Pricing, combo: Combo, ev: Evaluation) -> bool:
    """PRICING.md "The search": no two members conflict, every member is applicable
    in the combination, every applicable auto promotion outside conflicts with a
    member. Item promotions are judged line by line (an item promotion prices each
    in-scope line, 单品优惠互斥): one chosen on some of its lines but not on another
    it could price, left bare, is not a legal choice."""
    cands = pricing.candidates
    members = {c for c in combo.items if c >= 0} | set(combo.order) | set(combo.coupon)
    if combo.shipping >= 0:
        members.add(combo.shipping)
    member_cands = [cands[m] for m in members]
    # no two members conflict: one exclusion group, an exclusive promotion with anything
    groups = [c.promotion.group for c in member_cands if c.promotion.group is not None]
    if len(groups) != len(set(groups)):
        return False
    if len(member_cands) > 1 and any(c.promotion.exclusive for c in member_cands):
        return False

    def conflicts_with_members(c: Candidate) -> bool:
        others = [m for m in member_cands if m.index != c.index]
        if not others:
            return False
        return (
            c.promotion.exclusive
            or any(m.promotion.exclusive for m in others)
            or (c.promotion.group is not None and c.promotion.group in groups)
        )

    # every member applicable at the start of its stage
    for stage, chosen in ((Stage.ORDER, combo.order), (Stage.COUPON, combo.coupon)):
        for m in chosen:
            if not _applicable(pricing, cands[m], ev.starts[stage]):
                return False
    if combo.shipping >= 0 and not _applicable(
        pricing, cands[combo.shipping], ev.starts[Stage.SHIPPING]
    ):
        return False

    # item promotions: a member applies to each line it can price, unless the line
    # holds another item promotion; an auto one outside is kept out of each of its
    # lines by that line's item promotion, or by a member (group, exclusivity)
    for c in cands:
        if c.stage is not Stage.ITEM:
            continue
        bound = c.index in members or (c.auto and not conflicts_with_members(c))
        if bound and any(combo.items[i] < 0 for i in c.options):
            return False

    # every applicable auto promotion outside conflicts with a member
    for c in cands:
        if c.stage is Stage.ITEM or not c.auto or c.index in members:
            continue
        if not _applicable(pricing, c, ev.starts[c.stage]):
            continue
        if c.stage is Stage.SHIPPING and combo.shipping >= 0:
            continue  # two shipping benefits
        if not conflicts_with_members(c):
            return False
    return True


Preference = tuple[int, int, list[int], list[str], list[tuple[int, int, str]]]


def _item_on_lines(ev: Evaluation) -> list[str | None]:
    """Per line, the item promotion that took something off it, or None."""
    on_line: list[str | None] = [None] * len(ev.final)
    for p in ev.placed:
        if p.candidate.stage is Stage.ITEM:
            for i, (amount, _, _) in p.per_line.items():
                if amount > 0:
                    on_line[i] = p.candidate.promotion.id
    return on_line


def _preference(ev: Evaluation) -> Preference:
    """Lowest total; fewer applied; applied priorities high→low as a list, higher
    wins (so negated); sorted applied ids, smaller wins; last, line by line in cart
    order, the line's item promotion with the higher priority, then the smaller id,
    a line with one before a line without."""
    applied = [p.candidate.promotion for p in ev.placed if p.total > 0 or p.gifts]
    by_id = {p.id: p for p in applied}
    priorities = sorted((p.priority for p in applied), reverse=True)
    per_line = [
        (1, 0, "") if pid is None else (0, -by_id[pid].priority, pid) for pid in _item_on_lines(ev)
    ]
    return (
        ev.total,
        len(applied),
        [-p for p in priorities],
        sorted(p.id for p in applied),
        per_line,
    )


def brute_force(rules: RuleSet, request: QuoteRequest) -> Verdict:
    pricing = _gather(rules, request)
    cands = pricing.candidates
    n = len(request.lines)
    per_line = [
        [-1, *(c.index for c in cands if c.stage is Stage.ITEM and i in c.options)]
        for i in range(n)
    ]
    order = [c.index for c in cands if c.stage is Stage.ORDER]
    coupon = [c.index for c in cands if c.stage is Stage.COUPON]
    shipping = [-1, *(c.index for c in cands if c.stage is Stage.SHIPPING)]
    best: tuple[Preference, Evaluation] | None = None
    legal = 0
    for items, o, cp, s in product(product(*per_line), _subsets(order), _subsets(coupon), shipping):
        combo = Combo(tuple(items), o, cp, s)
        ev = evaluate(pricing, combo)
        if not _legal(pricing, combo, ev):
            continue
        legal += 1
        key = _preference(ev)
        if best is None or key < best[0]:
            best = (key, ev)
    assert best is not None, "there is always a legal combination"
    ev = best[1]
    applied = frozenset(p.candidate.promotion.id for p in ev.placed if p.total > 0 or p.gifts)
    return Verdict(ev.total, applied, legal, tuple(_item_on_lines(ev)))


def check_against_oracle(case: Case) -> Verdict:
    describe(case)
    rules = RuleSet(case.promotions, VERSION)
    q = price(rules, case.request)
    verdict = brute_force(rules, case.request)
    note(f"oracle: {verdict}")
    note(f"engine: total={q.total} applied={[a.promotion.id for a in q.applied]}")
    if verdict.legal <= EXACT_LIMIT:
        assert q.optimal
        assert (q.total, frozenset(a.promotion.id for a in q.applied)) == (
            verdict.total,
            verdict.applied,
        )
        item_on_lines = tuple(
            next((a.promotion_id for a in r.adjustments if a.promotion_id in item_ids), None)
            for r in q.lines
            for item_ids in [{a.promotion.id for a in q.applied if a.stage is Stage.ITEM}]
        )
        assert item_on_lines == verdict.item_on_lines
    else:
        assert q.total >= verdict.total
    check_not_best(rules, case.request, q)
    return verdict


def check_not_best(rules: RuleSet, request: QuoteRequest, q: Quote) -> None:
    """A coupon left out as ``not_best`` is kept out by no member of the answer
    (check 9): no applied promotion shares its group, is exclusive (nor is it, with
    anything applied), holds one of its lines (item) or the shipping (shipping)."""
    pricing = _gather(rules, request)
    by_id = {c.promotion.id: c for c in pricing.candidates}
    applied = {a.promotion.id: a for a in q.applied}
    item_on_line = {
        i: adj.promotion_id
        for i, r in enumerate(q.lines)
        for adj in r.adjustments
        if applied[adj.promotion_id].stage is Stage.ITEM
    }
    for o in q.coupons:
        if o.reason is not Reason.NOT_BEST:
            continue
        c = by_id[o.promotion_id]  # type: ignore[index]
        others = [a.promotion for pid, a in applied.items() if pid != c.promotion.id]
        assert not (c.exclusive and others), o
        assert not any(p.exclusive for p in others), o
        assert c.group is None or all(p.group != c.group for p in others), o
        if c.stage is Stage.ITEM:
            assert all(item_on_line.get(i, c.promotion.id) == c.promotion.id for i in c.options)
        if c.stage is Stage.SHIPPING:
            assert all(applied[pid].stage is not Stage.SHIPPING for pid in applied), o


@settings(max_examples=200, **COMMON)
@given(cases())
def test_search_finds_the_best_legal_combination(case: Case) -> None:
    check_against_oracle(case)


@settings(max_examples=100, **COMMON)
@given(cases(with_limits=True, with_eligibility=True, odd_codes=True))
def test_search_matches_the_oracle_with_limits_and_odd_codes(case: Case) -> None:
    check_against_oracle(case)


# item promotions conflict on shared lines; order ones give the search a reason to
# prefer a shallower item discount (a 满减 threshold, a percent of the remainder)
CROWDED_KINDS = (
    *("item_percent_off", "item_amount_off", "item_fixed_price") * 3,
    *("member_price", "flash_sale", "threshold", "threshold", "percent_off", "gift"),
    *("amount_off", "nth_item", "bundle", "free_shipping", "shipping_amount_off"),
)
# order, coupon and shipping stages: left-out auto promotions, groups claimed later
STAGED_KINDS = (
    *("threshold", "threshold", "percent_off", "amount_off", "nth_item", "bundle", "gift"),
    *("free_shipping", "shipping_amount_off", "item_percent_off", "item_amount_off"),
)


def draw_crowded(
    data: st.DataObject,
    count: int,
    ids: list[int],
    *,
    kinds: tuple[str, ...] = CROWDED_KINDS,
    groups: tuple[str | None, ...] = (None, None, "g1", "g2"),
    coupon_share: int = 4,
) -> Case:
    """``count`` promotions over wide scopes, sharing groups, some exclusive, with ids
    ``p<n>`` for ``n`` in ``ids``; about one in ``coupon_share`` coupon-triggered,
    most of them presented."""
    base = data.draw(cases(max_promotions=0, min_lines=2))
    cart = Cart.of(base.request.lines)
    promos = []
    for n in ids[:count]:
        kind = data.draw(st.sampled_from(kinds))
        p = data.draw(promotion(f"p{n:02d}", kind=kind, cart=cart))
        promos.append(
            replace(
                p,
                scope=p.scope if data.draw(st.integers(0, 3)) == 0 else Scope(),
                trigger="coupon" if data.draw(st.integers(1, coupon_share)) == 1 else "auto",
                exclusion_group=data.draw(st.sampled_from(groups)),
                exclusive=data.draw(st.integers(0, 9)) == 0,
            )
        )
    coupons = tuple(
        PresentedCoupon(f"C-{p.id}", p.id)
        for p in promos
        if p.is_coupon and data.draw(st.integers(0, 3)) > 0
    )
    return Case(tuple(promos), replace(base.request, coupons=coupons))


@settings(max_examples=120, **COMMON)
@given(st.data())
def test_search_with_crowded_stacking(data: st.DataObject) -> None:
    """Wide scopes, shared groups, exclusives: many forced choices to search."""
    count = data.draw(st.integers(3, 6))
    check_against_oracle(draw_crowded(data, count, list(range(count))))


@settings(max_examples=120, **COMMON)
@given(st.data())
def test_search_across_order_coupon_and_shipping_stages(data: st.DataObject) -> None:
    """Mostly order, coupon and shipping benefits, half of them in one group and many
    coupons: an auto promotion left out for a coupon or shipping benefit of its group,
    a discount that costs a later threshold or free shipping."""
    count = data.draw(st.integers(2, 5))
    case = draw_crowded(
        data,
        count,
        list(range(count)),
        kinds=STAGED_KINDS,
        groups=(None, "g1", "g1", "coupon"),
        coupon_share=2,
    )
    check_against_oracle(case)


@settings(max_examples=80, **COMMON)
@given(st.data())
def test_search_breaks_ties_as_the_spec_says(data: st.DataObject) -> None:
    """Clones of a promotion under other ids (and sometimes other priorities) give
    exactly equal totals, so the tie-breaks decide: fewer applied, higher
    priorities, smaller ids."""
    ids = data.draw(st.lists(st.integers(0, 99), min_size=6, max_size=6, unique=True))
    case = draw_crowded(data, data.draw(st.integers(2, 4)), ids)
    promos = list(case.promotions)
    coupons = list(case.request.coupons)
    for n in ids[len(promos) : len(promos) + data.draw(st.integers(1, 2))]:
        original = data.draw(st.sampled_from(promos))
        clone = replace(
            original,
            id=f"p{n:02d}",
            name=f"p{n:02d}",
            priority=original.priority
            if data.draw(st.booleans())
            else data.draw(st.integers(0, 3)),
        )
        promos.append(clone)
        if clone.is_coupon:
            coupons.append(PresentedCoupon(f"C-{clone.id}", clone.id))
    order = data.draw(st.permutations(promos))
    check_against_oracle(Case(tuple(order), replace(case.request, coupons=tuple(coupons))))
