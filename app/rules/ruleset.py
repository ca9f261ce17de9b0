"""An immutable, indexed snapshot of the promotions the engine prices against.

Auto promotions are indexed by the most selective non-empty list of their scope
(skus — or a flash sale's or bundle's items — then categories, brands,
merchants, tags); promotions with none of those apply everywhere. A quote looks
up only the keys its lines carry, so its cost follows the cart and the
promotions that can match it, not how many promotions exist.

``RuleSet.changed`` makes the rule set with a few promotions stored or removed
without building it again: it shares what the change does not touch (the
lists of untouched index keys), so a rule change costs what it changes plus a
copy of the id maps, not a new index of every promotion.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from operator import attrgetter

from app.rules.model import Bundle, FlashSale, Line, Promotion

_Key = tuple[str, str]


def _index_keys(promotion: Promotion) -> list[_Key] | None:
    """The keys a promotion is filed under; None when it can match any line."""
    benefit = promotion.benefit
    scope = promotion.scope
    if isinstance(benefit, FlashSale | Bundle):
        return [("sku", item.sku) for item in benefit.items]
    if scope.skus:
        return [("sku", v) for v in scope.skus]
    if scope.categories:
        return [("category", v) for v in scope.categories]
    if scope.brands:
        return [("brand", v) for v in scope.brands]
    if scope.merchants:
        return [("merchant", v) for v in scope.merchants]
    if scope.tags:
        return [("tag", v) for v in scope.tags]
    return None


def _filing(promotion: Promotion) -> tuple[bool, list[_Key]]:
    """Whether the index files it as matching everywhere, and under which keys."""
    if promotion.is_coupon or promotion.status != "active":
        return False, []  # coupons come in by code; inactive auto promotions never apply
    keys = _index_keys(promotion)
    return keys is None, keys or []


_ID = attrgetter("id")


def _without(promotions: list[Promotion], promotion_id: str) -> list[Promotion]:
    return [p for p in promotions if p.id != promotion_id]


def _with(promotions: list[Promotion], promotion: Promotion) -> list[Promotion]:
    """A new list with ``promotion`` in id order (the list is in id order)."""
    at = bisect_left(promotions, promotion.id, key=_ID)
    return [*promotions[:at], promotion, *promotions[at:]]


def _line_keys(line: Line) -> list[_Key]:
    keys: list[_Key] = [("sku", line.sku)]
    if line.category is not None:
        keys.append(("category", line.category))
    if line.brand is not None:
        keys.append(("brand", line.brand))
    if line.merchant is not None:
        keys.append(("merchant", line.merchant))
    keys.extend(("tag", tag) for tag in line.tags)
    return keys


class RuleSet:
    """Promotions by id, and an index from line attributes to active auto promotions."""

    def __init__(self, promotions: Iterable[Promotion], version: str) -> None:
        self.version = version
        self.promotions: tuple[Promotion, ...] = tuple(sorted(promotions, key=lambda p: p.id))
        self._by_id = {p.id: p for p in self.promotions}
        self._everywhere: list[Promotion] = []
        self._index: dict[_Key, list[Promotion]] = {}
        for promotion in self.promotions:
            everywhere, keys = _filing(promotion)
            if everywhere:
                self._everywhere.append(promotion)
            for key in keys:
                self._index.setdefault(key, []).append(promotion)

    def changed(self, stored: Iterable[Promotion], removed: Iterable[str], version: str) -> RuleSet:
        """This rule set with ``stored`` in (replacing those with the same id) and the
        ``removed`` ids out; equal to ``RuleSet`` built afresh from the result."""
        incoming = {p.id: p for p in stored}
        gone = [i for i in dict.fromkeys(removed) if i in self._by_id and i not in incoming]
        promotions = list(self.promotions)
        by_id = dict(self._by_id)
        everywhere = self._everywhere
        index = dict(self._index)
        for promotion_id in [*incoming, *gone]:
            old, new = self._by_id.get(promotion_id), incoming.get(promotion_id)
            if old is not None:
                old_everywhere, old_keys = _filing(old)
                if old_everywhere:
                    everywhere = _without(everywhere, promotion_id)
                for key in dict.fromkeys(old_keys):
                    kept = _without(index[key], promotion_id)
                    if kept:
                        index[key] = kept
                    else:
                        del index[key]
            if new is None:
                del by_id[promotion_id]
                del promotions[bisect_left(promotions, promotion_id, key=_ID)]
                continue
            by_id[promotion_id] = new
            if old is None:
                promotions.insert(bisect_left(promotions, promotion_id, key=_ID), new)
            else:
                promotions[bisect_left(promotions, promotion_id, key=_ID)] = new
            new_everywhere, new_keys = _filing(new)
            if new_everywhere:
                everywhere = _with(everywhere, new)
            for key in new_keys:
                index[key] = _with(index.get(key, []), new)
        result = RuleSet((), version)  # (not __new__: a mypyc-compiled class needs __init__)
        result.promotions = tuple(promotions)
        result._by_id = by_id
        result._everywhere = everywhere
        result._index = index
        return result

    def get(self, promotion_id: str) -> Promotion | None:
        return self._by_id.get(promotion_id)

    def __len__(self) -> int:
        return len(self.promotions)

    def auto_candidates(self, lines: Sequence[Line]) -> list[Promotion]:
        """Active auto promotions that may match some line, in id order."""
        found: dict[str, Promotion] = {p.id: p for p in self._everywhere}
        index = self._index
        for line in lines:
            for key in _line_keys(line):
                for promotion in index.get(key, ()):
                    found[promotion.id] = promotion
        return [found[promotion_id] for promotion_id in sorted(found)]
