"""An immutable, indexed snapshot of the promotions the engine prices against.

Auto promotions are indexed by the most selective non-empty list of their scope
(skus — or a flash sale's or bundle's items — then categories, brands,
merchants, tags); promotions with none of those apply everywhere. A quote looks
up only the keys its lines carry, so its cost follows the cart and the
promotions that can match it, not how many promotions exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
        self._rank = {p.id: i for i, p in enumerate(self.promotions)}
        self._everywhere: list[Promotion] = []
        self._index: dict[_Key, list[Promotion]] = {}
        for promotion in self.promotions:
            if promotion.is_coupon or promotion.status != "active":
                continue  # coupons come in by code; inactive auto promotions never apply
            keys = _index_keys(promotion)
            if keys is None:
                self._everywhere.append(promotion)
            else:
                for key in keys:
                    self._index.setdefault(key, []).append(promotion)

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
        rank = self._rank
        return sorted(found.values(), key=lambda p: rank[p.id])
