"""A stored promotion that no longer reads is reported, never dropped in silence.

The row is changed under the service (as a code change tightening the stored
schema, or a hand edit, would leave it): the running snapshot keeps the last
version it read and says so; a restarted instance, which never read it, leaves
it out and says so; every other promotion keeps pricing throughout.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.api.bodies import cart, promotion
from tests.conftest import ADMIN, CHECKOUT, Running, Start

UNREADABLE_BENEFIT = {"type": "threshold", "tiers": "every 300 save 50"}


def unreadable_gauge() -> float | None:
    return REGISTRY.get_sample_value("pricing_rules_unreadable_promotions")


async def spoil(running: Running, promotion_id: str) -> None:
    """Rewrite a stored promotion so that it no longer reads (the version moves)."""
    stored = await running.wiring.repository.get(promotion_id)
    body: dict[str, Any] = {**stored.body, "benefit": UNREADABLE_BENEFIT}
    await running.wiring.repository.replace(
        id=promotion_id, status=stored.status, trigger=stored.trigger, body=body
    )


async def discount(running: Running) -> int:
    response = await running.client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    assert response.status_code == 200, response.text
    total: int = response.json()["discount_total"]
    return total


async def test_a_promotion_that_no_longer_reads_is_reported_and_the_rest_keeps_pricing(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    first = await start()
    item = promotion(
        id="item-10",
        name="item 10 off",
        benefit={"type": "item_amount_off", "amount": 1000},
        scope={"skus": ["A"]},
    )
    for body in (promotion(), item):
        created = await first.client.post("/v1/admin/promotions", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
    assert await discount(first) == 1000  # 200.00 cart: only the item promotion applies

    ready = (await first.client.get("/readyz")).json()
    assert "promotions" not in ready["checks"]  # nothing to report: the body is as before

    await spoil(first, "item-10")
    caplog.set_level(logging.ERROR, logger="app.promotions.snapshot")
    await first.wiring.snapshot.reload()  # (or its poll did already)

    # this instance read it before: that version keeps pricing, and it is reported
    assert await discount(first) == 1000
    ready = await first.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    (reported,) = ready.json()["checks"]["promotions"]["unreadable"]
    assert reported["id"] == "item-10"
    assert reported["serving"] is True
    assert "benefit" in reported["error"]
    assert unreadable_gauge() == 1
    assert any("item-10" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert "pricing_rules_unreadable_promotions 1.0" in (await first.client.get("/metrics")).text

    # a restarted instance never read it: it is left out, reported, and the rest prices
    caplog.clear()
    second = await start()
    assert [p.id for p in second.wiring.snapshot.rules.promotions] == ["d11-300-50"]
    (reported,) = (await second.client.get("/readyz")).json()["checks"]["promotions"]["unreadable"]
    assert reported["id"] == "item-10"
    assert reported["serving"] is False
    assert any("item-10" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert await discount(second) == 0
    bigger = cart(lines=[{"sku": "A", "qty": 2, "unit_price": 20000}])
    response = await second.client.post("/v1/quote", json=bigger, headers=CHECKOUT)
    assert response.json()["discount_total"] == 5000  # 满300减50 still prices

    # fixed by an admin: read again, no longer reported
    fixed = await second.client.put("/v1/admin/promotions/item-10", json=item, headers=ADMIN)
    assert fixed.status_code == 200, fixed.text
    assert second.wiring.snapshot.unreadable == ()
    assert "promotions" not in (await second.client.get("/readyz")).json()["checks"]
    assert unreadable_gauge() == 0
