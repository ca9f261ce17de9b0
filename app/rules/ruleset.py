"""An immutable, indexed snapshot of the promotions the engine prices against.

Auto promotions are indexed by the most selective non-empty list of their scope
(skus — or a flash sale's or bundle's items — then categories, brands,
merchants, tags); promotions with none of those apply everywhere. A quote looks
up only the keys its lines carry, so its cost follows the cart and the
promotions that can match it, not how many promotions exist.

``RuleSet.changed`` makes the rule set with a few promotions stored or removed
without building it again: it shares the maps of the rule set it came from and
holds the promotions changed since over them, folding them in every
``FOLD_AFTER`` changed promotions, so a rule change costs what it changes (plus,
now and then, one copy of the maps), not a copy or a new index of every
promotion: the 10,000th change of a marketplace costs what the 100th did.
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


# How many promotions a rule set may hold changed over its base maps before a change
# folds them in: a change copies at most this many entries, and every this many
# changes one copy of the whole maps, instead of copying them on every change.
FOLD_AFTER = 256


def _current(
    changed_keys: dict[_Key, list[Promotion]], index: dict[_Key, list[Promotion]], key: _Key
) -> list[Promotion]:
    """The promotions filed under ``key``: the changed list when there is one."""
    found = changed_keys.get(key)
    if found is not None:
        return found
    return index.get(key, [])


def _merged(
    base: tuple[Promotion, ...], changed_ids: dict[str, Promotion | None]
) -> tuple[Promotion, ...]:
    """``base`` (in id order) with the changed ids replaced, added or removed, in id
    order: one pass over ``base``."""
    if not changed_ids:
        return base
    incoming = sorted((p for p in changed_ids.values() if p is not None), key=_ID)
    result: list[Promotion] = []
    at = 0
    for promotion in base:
        if promotion.id in changed_ids:
            continue
        while at < len(incoming) and incoming[at].id < promotion.id:
            result.append(incoming[at])
            at += 1
        result.append(promotion)
    result.extend(incoming[at:])
    return tuple(result)


class RuleSet:
    """Promotions by id, and an index from line attributes to active auto promotions.

    Made by ``changed``, a rule set shares its base maps (by id, the index) with the
    one it came from and holds the promotions changed since over them
    (``_changed_ids``: None for removed; ``_changed_keys``: the index lists those
    changes touched); past ``FOLD_AFTER`` changed promotions, ``changed`` folds
    them into new base maps. ``promotions`` (every promotion in id order) is made
    when first asked for."""

    def __init__(self, promotions: Iterable[Promotion], version: str) -> None:
        self.version = version
        ordered = tuple(sorted(promotions, key=lambda p: p.id))
        self._base: tuple[Promotion, ...] = ordered
        self._ordered: tuple[Promotion, ...] | None = ordered
        self._count = len(ordered)
        self._by_id = {p.id: p for p in ordered}
        self._everywhere: list[Promotion] = []
        self._index: dict[_Key, list[Promotion]] = {}
        self._changed_ids: dict[str, Promotion | None] = {}
        self._changed_keys: dict[_Key, list[Promotion]] = {}
        for promotion in ordered:
            everywhere, keys = _filing(promotion)
            if everywhere:
                self._everywhere.append(promotion)
            for key in keys:
                self._index.setdefault(key, []).append(promotion)

    @property
    def promotions(self) -> tuple[Promotion, ...]:
        """Every promotion, in id order."""
        ordered = self._ordered
        if ordered is None:
            ordered = _merged(self._base, self._changed_ids)
            self._ordered = ordered
        return ordered

    def changed(self, stored: Iterable[Promotion], removed: Iterable[str], version: str) -> RuleSet:
        """This rule set with ``stored`` in (replacing those with the same id) and the
        ``removed`` ids out; it prices, lists and finds exactly as ``RuleSet`` built
        afresh from the result. Costs what the change touches plus a copy of the
        promotions changed since the last fold (at most ``FOLD_AFTER``)."""
        incoming = {p.id: p for p in stored}
        gone = [i for i in dict.fromkeys(removed) if self.get(i) is not None and i not in incoming]
        if self._changed_ids and len(self._changed_ids) + len(incoming) + len(gone) > FOLD_AFTER:
            return self._folded().changed(incoming.values(), gone, version)
        changed_ids = dict(self._changed_ids)
        changed_keys = dict(self._changed_keys)
        index = self._index
        everywhere = self._everywhere
        count = self._count
        for promotion_id in [*incoming, *gone]:
            old, new = self.get(promotion_id), incoming.get(promotion_id)
            if old is not None:
                old_everywhere, old_keys = _filing(old)
                if old_everywhere:
                    everywhere = _without(everywhere, promotion_id)
                for key in dict.fromkeys(old_keys):
                    changed_keys[key] = _without(_current(changed_keys, index, key), promotion_id)
                count -= 1
            changed_ids[promotion_id] = new
            if new is None:
                continue
            count += 1
            new_everywhere, new_keys = _filing(new)
            if new_everywhere:
                everywhere = _with(everywhere, new)
            for key in new_keys:
                changed_keys[key] = _with(_current(changed_keys, index, key), new)
        result = RuleSet((), version)  # (not __new__: a mypyc-compiled class needs __init__)
        result._base = self._base
        result._ordered = None
        result._count = count
        result._by_id = self._by_id
        result._everywhere = everywhere
        result._index = index
        result._changed_ids = changed_ids
        result._changed_keys = changed_keys
        return result

    def _folded(self) -> RuleSet:
        """The same rule set with its changes folded into new base maps."""
        by_id = dict(self._by_id)
        for promotion_id, promotion in self._changed_ids.items():
            if promotion is None:
                by_id.pop(promotion_id, None)
            else:
                by_id[promotion_id] = promotion
        index = dict(self._index)
        for key, promotions in self._changed_keys.items():
            if promotions:
                index[key] = promotions
            else:
                index.pop(key, None)
        result = RuleSet((), self.version)
        result._base = self.promotions
        result._ordered = result._base
        result._count = self._count
        result._by_id = by_id
        result._everywhere = self._everywhere
        result._index = index
        return result

    def get(self, promotion_id: str) -> Promotion | None:
        changed = self._changed_ids
        if changed and promotion_id in changed:
            return changed[promotion_id]
        return self._by_id.get(promotion_id)

    def __len__(self) -> int:
        return self._count

    def filed(self, key: _Key) -> list[Promotion]:
        """The active auto promotions filed under ``key`` (in id order)."""
        return _current(self._changed_keys, self._index, key)

    def auto_candidates(self, lines: Sequence[Line]) -> list[Promotion]:
        """Active auto promotions that may match some line, in id order."""
        found: dict[str, Promotion] = {p.id: p for p in self._everywhere}
        index = self._index
        changed_keys = self._changed_keys
        for line in lines:
            keys = _line_keys(line)
            if changed_keys:
                for key in keys:
                    promotions = changed_keys.get(key)
                    if promotions is None:
                        promotions = index.get(key)
                    if promotions:
                        for promotion in promotions:
                            found[promotion.id] = promotion
                continue
            for key in keys:
                promotions = index.get(key)
                if promotions:
                    for promotion in promotions:
                        found[promotion.id] = promotion
        if not found:
            return []
        return [found[promotion_id] for promotion_id in sorted(found)]
