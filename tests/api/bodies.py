"""Request bodies for the API tests."""

from __future__ import annotations

import copy
from typing import Any

BASE_PROMOTION: dict[str, Any] = {
    "id": "d11-300-50",
    "name": "Double 11 spend 300 save 50",
    "status": "active",
    "starts_at": "2026-11-11T00:00:00+08:00",
    "ends_at": "2026-11-12T00:00:00+08:00",
    "trigger": "auto",
    "benefit": {"type": "threshold", "tiers": [{"min_amount": 30000, "amount_off": 5000}]},
}


def promotion(**changes: Any) -> dict[str, Any]:
    """The base promotion with top-level fields replaced (``None`` values drop the key)."""
    body = copy.deepcopy(BASE_PROMOTION)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def coupon(promotion_id: str, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"benefit": {"type": "amount_off", "amount": 1000}, **changes}
    return promotion(id=promotion_id, name=promotion_id, trigger="coupon", **fields)


def cart(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "at": "2026-11-11T10:00:00+08:00",
        "lines": [{"sku": "A", "qty": 1, "unit_price": 20000}],
    }
    body.update(changes)
    return body
