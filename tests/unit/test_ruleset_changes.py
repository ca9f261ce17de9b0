"""``RuleSet.changed`` behaves as a rule set built afresh from the result: the
promotions in order, each by id, every index list in the same order, the
candidates of lines; after one change and after hundreds (past ``FOLD_AFTER``,
where the changes are folded into new maps); and the rule set it came from is
untouched."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules import ruleset
from app.rules.model import AmountOff, Line, Promotion, Scope
from app.rules.ruleset import RuleSet
from tests.unit import strategies

_looks = st.sampled_from(
    [
        {},
        {"status": "paused"},
        {"trigger": "coupon"},
        {"status": "active", "trigger": "auto"},
    ]
)


@st.composite
def rule_sets(draw: st.DrawFn) -> tuple[Promotion, ...]:
    drawn = draw(strategies.promotions(max_size=9))
    return tuple(dataclasses.replace(p, **draw(_looks)) for p in drawn)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(before=rule_sets(), after=rule_sets(), keep=st.booleans())
def test_a_change_gives_the_rule_set_built_afresh(
    before: tuple[Promotion, ...], after: tuple[Promotion, ...], keep: bool
) -> None:
    old = RuleSet(before, "v#1")
    fresh = RuleSet(after, "v#2")
    after_ids = {p.id for p in after}
    stored = [p for p in after if keep or p not in before]
    removed = [p.id for p in before if p.id not in after_ids] + ["never-there"]
    changed = old.changed(stored, removed, "v#2")
    assert view(changed) == view(fresh)
    assert view(old) == view(RuleSet(before, "v#1"))  # the old one is untouched


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(rule_sets(), min_size=2, max_size=6), fold_after=st.integers(1, 12))
def test_many_changes_folded_now_and_then_give_the_rule_set_built_afresh(
    steps: list[tuple[Promotion, ...]], fold_after: int
) -> None:
    with _folding_after(fold_after):
        _change_through(steps)


def _change_through(steps: list[tuple[Promotion, ...]]) -> None:
    rules = RuleSet(steps[0], "v#0")
    kept = [view(rules)]
    for n, after in enumerate(steps[1:], start=1):
        before = {p.id: p for p in rules.promotions}
        after_ids = {p.id for p in after}
        stored = [p for p in after if before.get(p.id) != p]
        removed = [i for i in before if i not in after_ids]
        older = rules
        rules = rules.changed(stored, removed, f"v#{n}")
        assert view(rules) == view(RuleSet(after, f"v#{n}"))
        assert view(older) == kept[-1]  # untouched by the change made from it
        kept.append(view(rules))


@contextmanager
def _folding_after(n: int) -> Iterator[None]:
    """``FOLD_AFTER`` set to ``n`` (the interpreted engine reads the module global; a
    compiled one keeps its own: then the default, which the next test crosses)."""
    saved = ruleset.FOLD_AFTER
    ruleset.FOLD_AFTER = n
    try:
        yield
    finally:
        ruleset.FOLD_AFTER = saved


def test_a_marketplace_of_changes_one_by_one_stays_exact() -> None:
    """Hundreds of single changes over a few hundred promotions, past several folds."""
    promotions = {p.id: p for p in _catalogue(300)}
    rules = RuleSet(promotions.values(), "v#0")
    replacements = _catalogue(900, start=150)
    for n, promotion in enumerate(replacements, start=1):
        if n % 7 == 0:
            gone = sorted(promotions)[n % len(promotions)]
            del promotions[gone]
            rules = rules.changed([], [gone], f"v#{n}")
        else:
            promotions[promotion.id] = promotion
            rules = rules.changed([promotion], [], f"v#{n}")
        if n % 97 == 0 or n == len(replacements):
            assert view(rules) == view(RuleSet(promotions.values(), f"v#{n}"))


def _catalogue(n: int, start: int = 0) -> list[Promotion]:
    """``n`` promotions with ids among ``start``..``start + 400`` (so later ones replace
    earlier ones), scoped to skus, categories or nothing, some paused or coupons."""
    made = []
    for i in range(n):
        number = start + (i * 37) % 400
        scope = [
            Scope(skus=frozenset({f"S{i % 13}", f"S{i % 5}"})),
            Scope(categories=frozenset({f"C{i % 4}"})),
            Scope(),
        ][i % 3]
        looks: dict[str, Any] = [{}, {"status": "paused"}, {"trigger": "coupon"}, {}][i % 4]
        made.append(
            Promotion(f"p{number:04d}", f"n{i}", AmountOff(amount=100 + i), scope=scope, **looks)
        )
    return made


def view(rules: RuleSet) -> dict[str, object]:
    """What a rule set answers: its promotions in order, each by id, the active auto
    promotions filed under every key, the candidates of lines of every sku,
    category and merchant seen, and how many it holds."""
    promotions = rules.promotions
    keys = sorted(
        {("sku", sku) for p in promotions for sku in p.scope.skus}
        | {("category", c) for p in promotions for c in p.scope.categories}
        | {("merchant", m) for p in promotions for m in p.scope.merchants}
        | {("sku", sku) for p in promotions for sku in _items(p)}
    )
    lines = [Line(line_id=f"{k}:{v}", sku=v if k == "sku" else "x", qty=1, unit_price=100,
                  category=v if k == "category" else None,
                  merchant=v if k == "merchant" else None)
             for k, v in keys]  # fmt: skip
    return {
        "version": rules.version,
        "promotions": promotions,
        "by_id": {p.id: rules.get(p.id) for p in promotions},
        "missing": rules.get("never-there"),
        "filed": {key: rules.filed(key) for key in keys if rules.filed(key)},
        "candidates": [p.id for p in rules.auto_candidates(lines)],
        "alone": [[p.id for p in rules.auto_candidates([line])] for line in lines],
        "len": len(rules),
    }


def _items(promotion: Promotion) -> list[str]:
    items = getattr(promotion.benefit, "items", ())
    return [item.sku for item in items if hasattr(item, "sku")]
