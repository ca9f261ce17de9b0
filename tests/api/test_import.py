"""``POST /v1/admin/promotions/import``: all or nothing, every problem by index."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.bodies import cart, promotion
from tests.conftest import ADMIN, CHECKOUT, Running, Start

URL = "/v1/admin/promotions/import"


def many(count: int, prefix: str = "imp") -> list[dict[str, Any]]:
    """``count`` item promotions, each 1.00 off its own sku; the last one on sku A."""
    return [
        promotion(
            id=f"{prefix}-{n:05d}",
            name=f"item {n}",
            benefit={"type": "item_amount_off", "amount": 100},
            scope={"skus": ["A" if n == count - 1 else f"SKU-{n}"]},
        )
        for n in range(count)
    ]


async def discount(client: httpx.AsyncClient) -> int:
    response = await client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    assert response.status_code == 200, response.text
    total: int = response.json()["discount_total"]
    return total


async def stored_ids(client: httpx.AsyncClient) -> list[str]:
    """Every stored id, page by page."""
    found: list[str] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        response = await client.get("/v1/admin/promotions", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        found += [p["id"] for p in response.json()["items"]]
        if response.json()["next_cursor"] is None:
            return found
        params["cursor"] = response.json()["next_cursor"]


async def test_ten_thousand_promotions_in_one_request(start: Start) -> None:
    running = await start()
    response = await running.client.post(
        URL, json={"promotions": many(10_000)}, headers=ADMIN, timeout=120
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"]) == (10_000, 0)
    rules = running.wiring.snapshot.rules
    assert len(rules) == 10_000
    assert body["rules_version"] == rules.version
    assert await discount(running.client) == 100  # live on this instance at once
    quoted = await running.client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    assert quoted.json()["rules_version"] == body["rules_version"]


async def test_every_invalid_body_is_listed_by_index_and_nothing_is_stored(
    start: Start,
) -> None:
    running = await start()
    bodies = many(12)
    bodies[3]["benefit"] = {"type": "item_percent_off", "percent": 150}
    bodies[7]["ends_at"] = "2026-11-10T00:00:00+08:00"  # before starts_at
    bodies[11]["benefit"] = {"type": "no_such_type"}
    before = running.wiring.snapshot.counter
    response = await running.client.post(URL, json={"promotions": bodies}, headers=ADMIN)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    indexes = {tuple(e["loc"][:3]) for e in problem["errors"]}
    assert indexes == {("body", "promotions", i) for i in (3, 7, 11)}
    assert await stored_ids(running.client) == []
    assert running.wiring.snapshot.counter == before


async def test_more_than_ten_thousand_or_none_is_invalid(client: httpx.AsyncClient) -> None:
    for bodies in ([], [promotion(id=None)] * 10_001):
        response = await client.post(URL, json={"promotions": bodies}, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"][:2] == ["body", "promotions"]
    assert await stored_ids(client) == []


async def test_an_existing_id_with_create_stores_nothing(start: Start) -> None:
    running = await start()
    created = await running.client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    assert created.status_code == 201, created.text
    before = running.wiring.snapshot.counter
    bodies = [*many(5), promotion(name="changed")]
    response = await running.client.post(URL, json={"promotions": bodies}, headers=ADMIN)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "conflict"
    assert "d11-300-50" in response.json()["detail"]
    assert await stored_ids(running.client) == ["d11-300-50"]
    got = await running.client.get("/v1/admin/promotions/d11-300-50", headers=ADMIN)
    assert got.json()["name"] == "Double 11 spend 300 save 50"
    assert running.wiring.snapshot.counter == before


async def test_an_id_twice_in_one_request_stores_nothing(client: httpx.AsyncClient) -> None:
    for mode in ("create", "upsert"):
        bodies = [*many(3), many(3)[1]]
        response = await client.post(URL, json={"promotions": bodies, "mode": mode}, headers=ADMIN)
        assert response.status_code == 409, response.text
        assert "imp-00001" in response.json()["detail"]
    assert await stored_ids(client) == []


async def test_upsert_replaces_and_creates(start: Start) -> None:
    running = await start()
    first = await running.client.post(URL, json={"promotions": many(3)}, headers=ADMIN)
    assert first.status_code == 200, first.text
    assert await discount(running.client) == 100
    bodies = many(4)
    bodies[2]["benefit"] = {"type": "item_amount_off", "amount": 700}  # imp-00002: was on SKU-2
    bodies[2]["scope"] = {"skus": ["A"]}
    bodies[3]["status"] = "paused"  # imp-00003 is new, on sku A, paused
    response = await running.client.post(
        URL, json={"promotions": bodies, "mode": "upsert"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (1, 3)
    assert await stored_ids(running.client) == [f"imp-{n:05d}" for n in range(4)]
    replaced = await running.client.get("/v1/admin/promotions/imp-00002", headers=ADMIN)
    assert replaced.json()["benefit"]["amount"] == 700
    assert await discount(running.client) == 700  # the best item promotion on A
    assert len(running.wiring.snapshot.rules) == 4


async def test_an_import_reaches_another_instance(start: Start) -> None:
    first: Running = await start()
    second: Running = await start(rules_poll_seconds=0.2)
    response = await first.client.post(URL, json={"promotions": many(300)}, headers=ADMIN)
    assert response.status_code == 200, response.text
    await second.wiring.refresher._catch_up()  # what its poll does
    assert second.wiring.snapshot.rules.version == response.json()["rules_version"]
    assert len(second.wiring.snapshot.rules) == 300
    assert await discount(second.client) == 100
