"""Every rejection reason of API.md, produced through HTTP with the real engine,
on both storage back ends (``conflict`` and ``not_best`` also in the worked examples)."""

from __future__ import annotations

from typing import Any

import httpx

from app.promotions.repository import NewCode
from tests.api.bodies import cart, coupon
from tests.conftest import ADMIN, CHECKOUT, Start

CUSTOMER = {"id": "u-1"}


async def make(client: httpx.AsyncClient, promotion_id: str, code: str, **changes: Any) -> None:
    created = await client.post(
        "/v1/admin/promotions", json=coupon(promotion_id, **changes), headers=ADMIN
    )
    assert created.status_code == 201, created.text
    coded = await client.post(
        f"/v1/admin/promotions/{promotion_id}/codes", json={"code": code}, headers=ADMIN
    )
    assert coded.status_code == 201, coded.text


async def reasons(client: httpx.AsyncClient, codes: list[str], **changes: Any) -> dict[str, Any]:
    body = cart(customer=CUSTOMER, coupon_codes=codes, **changes)
    response = await client.post("/v1/quote", json=body, headers=CHECKOUT)
    assert response.status_code == 200, response.text
    return {c["code"]: c["reason"] or c["status"] for c in response.json()["coupons"]}


async def test_request_checks_give_their_reasons(start: Start) -> None:
    client = (await start()).client
    await make(client, "c-late", "LATE", starts_at="2026-11-12T00:00:00+08:00", ends_at=None)
    await make(client, "c-gone", "GONE", starts_at=None, ends_at="2026-11-11T00:00:00+08:00")
    await make(client, "c-paused", "PAUSED", status="paused")
    await make(client, "c-gold", "GOLD", conditions={"customer_tiers": ["gold"]})
    await make(client, "c-min", "MIN", conditions={"min_amount": 50000})
    await make(client, "c-qty", "QTY", conditions={"min_qty": 3})
    await make(client, "c-shoes", "SHOES", scope={"categories": ["shoes"]})
    await make(
        client,
        "c-item",
        "ITEM",
        benefit={"type": "item_fixed_price", "price": 30000},  # dearer than the line
        exclusion_group="items",
    )
    got = await reasons(
        client, ["nope", "late", "gone", "paused", "gold", "min", "qty", "shoes", "item"]
    )
    assert got == {
        "NOPE": "unknown_code",
        "LATE": "not_started",
        "GONE": "expired",
        "PAUSED": "paused",
        "GOLD": "not_eligible",
        "MIN": "min_amount_not_met",
        "QTY": "min_qty_not_met",
        "SHOES": "no_eligible_items",
        "ITEM": "no_eligible_items",
    }


async def test_owner_and_single_use_reasons(start: Start) -> None:
    running = await start()
    client = running.client
    created = await client.post("/v1/admin/promotions", json=coupon("c-own"), headers=ADMIN)
    assert created.status_code == 201, created.text
    await running.wiring.repository.add_codes(
        "c-own", [NewCode(code="THEIRS", kind="unique", customer_id="u-2")]
    )
    assert await reasons(client, ["theirs"]) == {"THEIRS": "not_owner"}


async def test_limits_spent_by_reservations_give_their_reasons(start: Start) -> None:
    client = (await start()).client
    # no time window: reservations price at the server's clock
    await make(client, "c-once", "ONCE", starts_at=None, ends_at=None, limits={"max_uses": 1})
    await make(client, "c-budget", "BUDGET", starts_at=None, ends_at=None, limits={"budget": 1000})
    for order, code in (("o-1", "ONCE"), ("o-2", "BUDGET")):
        body = cart(customer=CUSTOMER, coupon_codes=[code], order_id=order)
        del body["at"]
        made = await client.post("/v1/reservations", json=body, headers=CHECKOUT)
        assert made.status_code == 201, made.text
        assert made.json()["quote"]["coupons"][0]["status"] == "applied"
    got = await reasons(client, ["once", "budget"], at=None)
    assert got == {"ONCE": "usage_limit_reached", "BUDGET": "budget_exhausted"}
