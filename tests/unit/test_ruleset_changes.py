"""``RuleSet.changed`` equals a rule set built afresh from the result: every
attribute, the index lists in the same order (``vars`` compares them all, so a
field added to ``RuleSet`` that ``changed`` forgets fails here)."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules.model import Promotion
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
    assert _state(changed) == _state(fresh)
    assert _state(old) == _state(RuleSet(before, "v#1"))  # the old one is untouched


_FIELDS = ("version", "promotions", "_by_id", "_everywhere", "_index")


def _state(rules: RuleSet) -> dict[str, object]:
    """Every attribute: ``vars`` on the interpreted class, so that a field added to
    ``RuleSet`` and missed by ``changed()`` fails here; the known fields on a
    mypyc-compiled one (no ``__dict__``)."""
    if hasattr(rules, "__dict__"):
        assert set(vars(rules)) == set(_FIELDS), "RuleSet has a field this test does not know"
        return dict(vars(rules))
    return {name: getattr(rules, name) for name in _FIELDS}
