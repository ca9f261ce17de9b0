"""领券 over HTTP on both back ends: claiming, its refusals, the wallet, codes
claimed by one customer refused to others, and failed attempts limited.

The races (1,000 claims, 200 reservations of one code), Redis emptied
mid-burst and the cluster are under tests/integration/test_claims.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.test_admin import assert_problem
from tests.conftest import ADMIN, CHECKOUT, Start

CART = {"lines": [{"sku": "A", "qty": 1, "unit_price": 20000}]}


def coupon(promotion_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": promotion_id,
        "trigger": "coupon",
        "benefit": {"type": "amount_off", "amount": 1000},
    }
    body.update(changes)
    return body


async def test_claim_gives_a_code_within_the_limits_and_the_wallet_lists_it(
    start: Start,
) -> None:
    client = (await start()).client
    limits = {"max_claims": 3, "max_claims_per_customer": 2}
    body = coupon("c1", ends_at="2099-01-01T00:00:00+08:00", limits=limits)
    assert (await client.post("/v1/admin/promotions", json=body, headers=ADMIN)).status_code == 201

    first = await client.post(
        "/v1/coupons/claim", json={"customer_id": "u-1", "promotion_id": "c1"}, headers=CHECKOUT
    )
    assert first.status_code == 201, first.text
    claimed = first.json()
    assert claimed["promotion_id"] == "c1"
    assert claimed["customer_id"] == "u-1"
    assert claimed["expires_at"] == "2099-01-01T00:00:00+08:00"
    assert len(claimed["code"]) == 12

    again = {"customer_id": "u-1", "promotion_id": "c1", "claim_id": "mine-1"}
    second = await client.post("/v1/coupons/claim", json=again, headers=CHECKOUT)
    assert second.status_code == 201
    replay = await client.post("/v1/coupons/claim", json=again, headers=CHECKOUT)
    assert replay.status_code == 200
    assert replay.json()["code"] == second.json()["code"]
    third = await client.post(
        "/v1/coupons/claim", json={"customer_id": "u-1", "promotion_id": "c1"}, headers=CHECKOUT
    )
    assert_problem(third, 409, "limit_reached")
    other = await client.post(
        "/v1/coupons/claim", json={"customer_id": "u-2", "promotion_id": "c1"}, headers=CHECKOUT
    )
    assert other.status_code == 201
    fourth = await client.post(
        "/v1/coupons/claim", json={"customer_id": "u-3", "promotion_id": "c1"}, headers=CHECKOUT
    )
    assert_problem(fourth, 409, "limit_reached")
    taken = await client.post(
        "/v1/coupons/claim",
        json={"customer_id": "u-3", "promotion_id": "c1", "claim_id": "mine-1"},
        headers=CHECKOUT,
    )
    assert_problem(taken, 409, "conflict")

    wallet = (await client.get("/v1/customers/u-1/coupons", headers=CHECKOUT)).json()
    assert wallet["customer_id"] == "u-1"
    assert sorted(c["code"] for c in wallet["coupons"]) == sorted(
        [claimed["code"], second.json()["code"]]
    )
    assert {c["status"] for c in wallet["coupons"]} == {"available"}
    empty = (await client.get("/v1/customers/u-9/coupons", headers=CHECKOUT)).json()
    assert empty == {"customer_id": "u-9", "coupons": []}


async def test_claims_refused(start: Start) -> None:
    client = (await start()).client
    bodies = [
        coupon("auto", trigger="auto"),
        coupon("paused", status="paused"),
        coupon("later", starts_at="2099-01-01T00:00:00+08:00"),
        coupon("gone", ends_at="2020-01-01T00:00:00+08:00"),
        coupon("vip", conditions={"segments": ["vip"]}),
    ]
    for body in bodies:
        response = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text

    async def claim(promotion_id: str, **more: Any) -> Any:
        body = {"customer_id": "u-1", "promotion_id": promotion_id, **more}
        return await client.post("/v1/coupons/claim", json=body, headers=CHECKOUT)

    assert_problem(await claim("nope"), 404, "not_found")
    assert_problem(await claim("auto"), 409, "conflict")
    for promotion_id in ("paused", "later", "gone", "vip"):
        assert_problem(await claim(promotion_id), 409, "not_eligible")
    vip = await claim("vip", customer={"segments": ["vip"]})
    assert vip.status_code == 201
    assert_problem(await claim("vip", customer={"id": "u-2", "segments": ["vip"]}), 422,
                   "validation_error")  # fmt: skip


async def test_a_claimed_code_is_not_owner_for_others(start: Start) -> None:
    client = (await start()).client
    await client.post("/v1/admin/promotions", json=coupon("c2"), headers=ADMIN)
    claimed = await client.post(
        "/v1/coupons/claim", json={"customer_id": "u-1", "promotion_id": "c2"}, headers=CHECKOUT
    )
    code = claimed.json()["code"]
    mine = await client.post(
        "/v1/quote",
        json={**CART, "customer": {"id": "u-1"}, "coupon_codes": [code.lower()]},
        headers=CHECKOUT,
    )
    assert mine.json()["coupons"][0]["status"] == "applied"
    theirs = await client.post(
        "/v1/quote",
        json={**CART, "customer": {"id": "u-2"}, "coupon_codes": [code]},
        headers=CHECKOUT,
    )
    assert theirs.json()["coupons"][0]["reason"] == "not_owner"
    auto = await client.post(
        "/v1/quote", json={**CART, "customer": {"id": "u-1"}, "auto_coupons": True},
        headers=CHECKOUT,
    )  # fmt: skip
    assert auto.json()["applied"][0]["coupon_code"] == code


async def test_failed_code_attempts_are_limited_per_customer(start: Start) -> None:
    # a burst of 60 quotes on a busy machine can keep a Redis call waiting for the
    # event loop past the default 1 s deadline (the breaker would then open and the
    # counting fail open): this test is about counting, so the deadline is generous
    client = (await start(code_attempts_per_customer=20, redis_timeout_seconds=10.0)).client

    async def attempt(customer: str, n: int) -> Any:
        body = {**CART, "customer": {"id": customer}, "coupon_codes": [f"GUESS{n:04d}"]}
        return await client.post("/v1/quote", json=body, headers=CHECKOUT)

    burst = await asyncio.gather(*(attempt("guesser", n) for n in range(60)))
    answered = [r for r in burst if r.status_code == 200]
    limited = [r for r in burst if r.status_code == 429]
    assert len(answered) == 20
    assert len(limited) == 40
    for response in limited:
        assert_problem(response, 429, "rate_limited")
        assert 1 <= int(response.headers["retry-after"]) <= 60
    assert all(r.json()["coupons"][0]["reason"] == "unknown_code" for r in answered)
    later = await attempt("guesser", 99)
    assert_problem(later, 429, "rate_limited")
    # without codes the guesser still gets prices; other customers are unaffected
    plain = await client.post(
        "/v1/quote", json={**CART, "customer": {"id": "guesser"}}, headers=CHECKOUT
    )
    assert plain.status_code == 200
    others = await asyncio.gather(*(attempt(f"other-{n}", n) for n in range(10)))
    assert {r.status_code for r in others} == {200}
