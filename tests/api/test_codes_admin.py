"""A promotion's codes for admins over HTTP, on both back ends: listed page by page,
exported as CSV (100,000 of them), revoked (quotes, reservations and wallets see
it at once); stats counting every confirmed use of a code, shared ones included,
and the budget left."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

import httpx
from sqlalchemy import text

from tests.api.test_admin import assert_problem, has_loc
from tests.conftest import ADMIN, CHECKOUT, Start

CART: dict[str, Any] = {
    "at": "2026-11-11T10:00:00+08:00",
    "customer": {"id": "u-1"},
    "lines": [{"sku": "A", "qty": 1, "unit_price": 20000}],
}


_COLUMNS = "INSERT INTO coupon_codes (code, promotion_id, kind, status, created_at) "
FILL = {
    "postgresql": _COLUMNS + "SELECT 'BIG-' || lpad(i::text, 6, '0'), 'big', 'unique', "
    "'available', now() FROM generate_series(0, 99999) AS i",
    "sqlite": _COLUMNS + "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 99999) SELECT printf('BIG-%06d', i), 'big', 'unique', 'available', "
    "'2026-11-11 00:00:00.000000' FROM n",
}


def coupon(promotion_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": promotion_id,
        "trigger": "coupon",
        "benefit": {"type": "amount_off", "amount": 1000},
    }
    body.update(changes)
    return body


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    made = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text


async def add_codes(client: httpx.AsyncClient, promotion_id: str, body: dict[str, Any]) -> Any:
    made = await client.post(f"/v1/admin/promotions/{promotion_id}/codes", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    return made.json()["codes"]


async def coupon_outcome(client: httpx.AsyncClient, code: str, **cart: Any) -> dict[str, Any]:
    quoted = await client.post(
        "/v1/quote", json={**CART, **cart, "coupon_codes": [code]}, headers=CHECKOUT
    )
    assert quoted.status_code == 200, quoted.text
    outcome: dict[str, Any] = quoted.json()["coupons"][0]
    return outcome


async def reserve(client: httpx.AsyncClient, order_id: str, code: str) -> dict[str, Any]:
    made = await client.post(
        "/v1/reservations",
        json={**CART, "order_id": order_id, "coupon_codes": [code]},
        headers=CHECKOUT,
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def revoke(client: httpx.AsyncClient, promotion_id: str, code: str) -> httpx.Response:
    return await client.post(
        f"/v1/admin/promotions/{promotion_id}/codes/{code}/revoke", headers=ADMIN
    )


# ------------------------------------------------------------------- listing


async def test_a_walk_over_the_pages_sees_each_code_once(start: Start) -> None:
    client = (await start()).client
    await create(client, coupon("c1"))
    await create(client, coupon("other"))
    unique = await add_codes(client, "c1", {"count": 25, "prefix": "D11-"})
    await add_codes(client, "c1", {"code": "save10"})
    await add_codes(client, "other", {"count": 5})

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor is not None:
            params["cursor"] = cursor
        page = await client.get("/v1/admin/promotions/c1/codes", params=params, headers=ADMIN)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 10
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [c["code"] for c in seen] == sorted([*unique, "SAVE10"])
    shared = next(c for c in seen if c["code"] == "SAVE10")
    assert shared == {
        "code": "SAVE10",
        "kind": "shared",
        "status": "available",
        "customer_id": None,
        "order_id": None,
    }
    assert {c["kind"] for c in seen if c["code"] != "SAVE10"} == {"unique"}

    # a used code carries its order; status filters
    reservation = await reserve(client, "o-1", unique[0])
    confirmed = await client.post(
        f"/v1/reservations/{reservation['reservation_id']}/confirm", headers=CHECKOUT
    )
    assert confirmed.status_code == 200, confirmed.text
    used = await client.get(
        "/v1/admin/promotions/c1/codes", params={"status": "used"}, headers=ADMIN
    )
    assert used.json() == {
        "items": [
            {
                "code": unique[0],
                "kind": "unique",
                "status": "used",
                "customer_id": None,
                "order_id": "o-1",
            }
        ],
        "next_cursor": None,
    }
    available = await client.get(
        "/v1/admin/promotions/c1/codes",
        params={"status": "available", "limit": 1000},
        headers=ADMIN,
    )
    assert len(available.json()["items"]) == 25


async def test_listing_refusals(start: Start) -> None:
    client = (await start()).client
    await create(client, coupon("c1"))
    url = "/v1/admin/promotions/c1/codes"
    assert_problem(
        await client.get("/v1/admin/promotions/nope/codes", headers=ADMIN), 404, "not_found"
    )
    assert has_loc(
        assert_problem(
            await client.get(url, params={"limit": 1001}, headers=ADMIN), 422, "validation_error"
        ),
        "query",
        "limit",
    )
    bad = await client.get(url, params={"cursor": "not-a-cursor"}, headers=ADMIN)
    assert has_loc(assert_problem(bad, 422, "validation_error"), "query", "cursor")
    wrong = await client.get(url, params={"status": "lost"}, headers=ADMIN)
    assert_problem(wrong, 422, "validation_error")
    assert_problem(await client.get(url, headers=CHECKOUT), 403, "forbidden")


async def test_a_csv_export_of_100000_codes_streams_every_one(start: Start) -> None:
    running = await start()
    client = running.client
    await create(client, coupon("big"))
    # the faster path to 100,000 stored codes: one INSERT ... SELECT in the database
    # (the endpoint makes 10,000 a call, each checking for clashes first)
    made = [f"BIG-{i:06d}" for i in range(100_000)]
    async with running.wiring.engine.begin() as conn:
        await conn.execute(text(FILL[conn.dialect.name]))
    await add_codes(client, "big", {"code": "SHARED-1"})

    began = time.perf_counter()
    chunks: list[str] = []
    async with client.stream(
        "GET", "/v1/admin/promotions/big/codes", headers={**ADMIN, "Accept": "text/csv"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "content-length" not in response.headers  # streamed: its length is not known
        async for chunk in response.aiter_text():
            chunks.append(chunk)
    elapsed = time.perf_counter() - began
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert rows[0] == ["code", "kind", "status", "customer_id", "order_id"]
    assert len(rows) == 1 + 100_001
    assert [r[0] for r in rows[1:]] == sorted([*made, "SHARED-1"])
    assert rows[1] == [min(made), "unique", "available", "", ""]
    assert ["SHARED-1", "shared", "available", "", ""] in rows
    assert elapsed < 30, elapsed

    json_preferred = await client.get(
        "/v1/admin/promotions/big/codes",
        params={"limit": 2},
        headers={**ADMIN, "Accept": "application/json, text/csv;q=0.5"},
    )
    assert json_preferred.json()["items"][0]["code"] == "BIG-000000"
    csv_preferred = await client.get(
        "/v1/admin/promotions/big/codes",
        params={"status": "used"},
        headers={**ADMIN, "Accept": "text/csv, application/json;q=0.9"},
    )
    assert csv_preferred.text == "code,kind,status,customer_id,order_id\n"
    only_shared = await client.get(
        "/v1/admin/promotions/big/codes",
        params={"status": "revoked"},
        headers={**ADMIN, "Accept": "text/csv"},
    )
    assert only_shared.text == "code,kind,status,customer_id,order_id\n"
    missing = await client.get(
        "/v1/admin/promotions/nope/codes", headers={**ADMIN, "Accept": "text/csv"}
    )
    assert_problem(missing, 404, "not_found")


# -------------------------------------------------------------------- revoke


async def test_a_revoked_shared_code_is_unknown_from_then_on(start: Start) -> None:
    client = (await start()).client
    await create(client, coupon("c1"))
    await add_codes(client, "c1", {"code": "SAVE10"})
    # the quote service now remembers the shared code for this rules version
    assert (await coupon_outcome(client, "save10"))["status"] == "applied"
    assert (await coupon_outcome(client, "SAVE10"))["status"] == "applied"

    revoked = await revoke(client, "c1", "save10")  # case-insensitive
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {
        "code": "SAVE10",
        "kind": "shared",
        "status": "revoked",
        "customer_id": None,
        "order_id": None,
    }
    outcome = await coupon_outcome(client, "SAVE10")
    assert (outcome["status"], outcome["reason"]) == ("rejected", "unknown_code")
    # a reservation prices it the same way: the code gives nothing
    made = await reserve(client, "o-1", "SAVE10")
    assert made["quote"]["discount_total"] == 0
    assert made["quote"]["coupons"][0]["reason"] == "unknown_code"

    again = await revoke(client, "c1", "SAVE10")
    assert again.status_code == 200
    assert again.json()["status"] == "revoked"
    listed = await client.get(
        "/v1/admin/promotions/c1/codes", params={"status": "revoked"}, headers=ADMIN
    )
    assert [c["code"] for c in listed.json()["items"]] == ["SAVE10"]


async def test_revoking_unique_codes(start: Start) -> None:
    client = (await start()).client
    await create(client, coupon("c1"))
    await create(client, coupon("c2"))
    first, second, third = await add_codes(client, "c1", {"count": 3})
    (elsewhere,) = await add_codes(client, "c2", {"count": 1})

    # used: 409; held by an open reservation: 409
    used = await reserve(client, "o-used", first)
    await client.post(f"/v1/reservations/{used['reservation_id']}/confirm", headers=CHECKOUT)
    assert_problem(await revoke(client, "c1", first), 409, "conflict")
    await reserve(client, "o-held", second)
    assert_problem(await revoke(client, "c1", second), 409, "conflict")

    # unknown codes: 404 (another promotion's code too)
    assert_problem(await revoke(client, "c1", "NOPE-1"), 404, "not_found")
    assert_problem(await revoke(client, "c1", elsewhere), 404, "not_found")
    assert_problem(await revoke(client, "nope", third), 404, "not_found")
    assert_problem(
        await client.post(f"/v1/admin/promotions/c1/codes/{third}/revoke", headers=CHECKOUT),
        403,
        "forbidden",
    )

    assert (await coupon_outcome(client, third))["status"] == "applied"
    revoked = await revoke(client, "c1", third.lower())
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert (await coupon_outcome(client, third))["reason"] == "unknown_code"
    made = await reserve(client, "o-after", third)
    assert made["quote"]["discount_total"] == 0
    # with the price it was quoted at before, the reservation is refused
    stale = await client.post(
        "/v1/reservations",
        json={**CART, "order_id": "o-stale", "coupon_codes": [third], "expected_total": 19000},
        headers=CHECKOUT,
    )
    assert_problem(stale, 409, "price_changed")


async def test_a_revoked_claimed_code_leaves_the_wallet(start: Start) -> None:
    client = (await start()).client
    await create(client, coupon("c1", ends_at="2099-01-01T00:00:00+08:00"))
    claimed = await client.post(
        "/v1/coupons/claim", json={"customer_id": "u-1", "promotion_id": "c1"}, headers=CHECKOUT
    )
    assert claimed.status_code == 201, claimed.text
    code = claimed.json()["code"]
    with_wallet = {"auto_coupons": True}
    quoted = await client.post("/v1/quote", json={**CART, **with_wallet}, headers=CHECKOUT)
    assert quoted.json()["discount_total"] == 1000

    revoked = await revoke(client, "c1", code)
    assert revoked.json()["customer_id"] == "u-1"
    wallet = (await client.get("/v1/customers/u-1/coupons", headers=CHECKOUT)).json()
    assert wallet["coupons"] == []
    quoted = await client.post("/v1/quote", json={**CART, **with_wallet}, headers=CHECKOUT)
    assert quoted.json()["discount_total"] == 0
    assert (await coupon_outcome(client, code))["reason"] == "unknown_code"


# --------------------------------------------------------------------- stats


async def test_stats_count_shared_code_uses_and_the_budget_left(start: Start) -> None:
    client = (await start()).client
    await create(client, coupon("c1", limits={"budget": 5000}))
    await create(client, coupon("no-budget"))
    await add_codes(client, "c1", {"code": "SAVE10"})
    (unique,) = await add_codes(client, "c1", {"count": 1})

    for order_id, code in (("o-1", "SAVE10"), ("o-2", "save10"), ("o-3", unique)):
        made = await reserve(client, order_id, code)
        confirmed = await client.post(
            f"/v1/reservations/{made['reservation_id']}/confirm", headers=CHECKOUT
        )
        assert confirmed.status_code == 200, confirmed.text
    await reserve(client, "o-4", "SAVE10")  # reserved, not confirmed

    stats = (await client.get("/v1/admin/promotions/c1/stats", headers=ADMIN)).json()
    assert stats["confirmed"] == 3
    assert stats["redemptions"] == 3  # two uses of the shared code, one of the unique one
    assert stats["budget_spent"] == 4000
    assert stats["budget_left"] == 1000
    none = (await client.get("/v1/admin/promotions/no-budget/stats", headers=ADMIN)).json()
    assert none["budget_left"] is None
    assert none["redemptions"] == 0


async def test_a_revoke_racing_a_reservation_lets_one_win(start_postgres: Start) -> None:
    """The revoke locks the code's row; a reservation takes only an available code:
    either the reservation holds it (revoke 409) or the code is revoked (the
    reservation prices without it), never both."""
    client = (await start_postgres()).client
    await create(client, coupon("c1"))
    codes = await add_codes(client, "c1", {"count": 8})
    for index, code in enumerate(codes):
        revoked, reserved = await asyncio.gather(
            revoke(client, "c1", code),
            client.post(
                "/v1/reservations",
                json={**CART, "order_id": f"o-{index}", "coupon_codes": [code]},
                headers=CHECKOUT,
            ),
        )
        assert reserved.status_code in (201, 409), reserved.text
        listed = await client.get(
            "/v1/admin/promotions/c1/codes", params={"limit": 1000}, headers=ADMIN
        )
        status = next(c["status"] for c in listed.json()["items"] if c["code"] == code)
        held = reserved.status_code == 201 and reserved.json()["quote"]["discount_total"] == 1000
        if revoked.status_code == 200:
            assert status == "revoked"
            assert not held
        else:
            assert_problem(revoked, 409, "conflict")
            assert status == "reserved"
            assert held
