"""The deep-discount publish guard and the preview over HTTP, on both back ends."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_admin import assert_problem, has_loc
from tests.conftest import ADMIN, CHECKOUT, Start

TV_CART: dict[str, Any] = {
    "at": "2026-11-11T10:00:00+08:00",
    "lines": [{"sku": "TV-1", "qty": 1, "unit_price": 499900, "category": "tv"}],
}


def nine_zhe(promotion_id: str = "tv-9zhe", percent: int = 90, **changes: Any) -> dict[str, Any]:
    """9折 (pay 90%) typed wrong: `percent` is the share OFF, so 90 takes 90% off."""
    body: dict[str, Any] = {
        "id": promotion_id,
        "name": "Double 11 TVs 9折",
        "scope": {"categories": ["tv"]},
        "benefit": {"type": "item_percent_off", "percent": percent},
    }
    body.update(changes)
    return body


async def quote(client: httpx.AsyncClient, cart: dict[str, Any]) -> dict[str, Any]:
    answered = await client.post("/v1/quote", json=cart, headers=CHECKOUT)
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


# --------------------------------------------------------------------- guard


async def test_the_guard_refuses_percent_90_and_accepts_it_confirmed(start: Start) -> None:
    client = (await start()).client
    refused = await client.post("/v1/admin/promotions", json=nine_zhe(), headers=ADMIN)
    problem = assert_problem(refused, 422, "deep_discount")
    assert has_loc(problem, "body", "benefit", "percent")
    assert "item_percent_off" in problem["detail"]
    assert "90%" in problem["detail"]
    assert "confirm_deep_discount" in problem["detail"]
    # nothing stored, nothing priced
    missing = await client.get("/v1/admin/promotions/tv-9zhe", headers=ADMIN)
    assert_problem(missing, 404, "not_found")
    assert (await quote(client, TV_CART))["total"] == 499900

    confirmed = await client.post(
        "/v1/admin/promotions", json=nine_zhe(confirm_deep_discount=True), headers=ADMIN
    )
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["confirm_deep_discount"] is True
    assert (await quote(client, TV_CART))["total"] == 49990

    # a PUT is a new publish: it says it again, or it is refused and changes nothing
    url = "/v1/admin/promotions/tv-9zhe"
    again = await client.put(url, json=nine_zhe(percent=95), headers=ADMIN)
    assert_problem(again, 422, "deep_discount")
    assert (await client.get(url, headers=ADMIN)).json()["benefit"]["percent"] == 90
    # taking it out of service is never refused; putting it back is checked again
    paused = await client.put(url, json=nine_zhe(percent=95, status="paused"), headers=ADMIN)
    assert paused.status_code == 200, paused.text
    assert (await quote(client, TV_CART))["total"] == 499900
    back = await client.put(url, json=nine_zhe(percent=95, status="active"), headers=ADMIN)
    assert_problem(back, 422, "deep_discount")
    draft = await client.put(url, json=nine_zhe(percent=95, status="draft"), headers=ADMIN)
    assert_problem(draft, 422, "deep_discount")
    fixed = await client.put(url, json=nine_zhe(percent=10), headers=ADMIN)
    assert fixed.status_code == 200, fixed.text
    assert (await quote(client, TV_CART))["total"] == 449910


async def test_the_guard_judges_threshold_tiers_and_imports(start: Start) -> None:
    client = (await start()).client
    tiers = [{"min_amount": 30000, "amount_off": 5000}, {"min_amount": 100000, "amount_off": 90000}]
    deep = {"id": "deep-tier", "benefit": {"type": "threshold", "tiers": tiers}}
    refused = await client.post("/v1/admin/promotions", json=deep, headers=ADMIN)
    problem = assert_problem(refused, 422, "deep_discount")
    assert has_loc(problem, "body", "benefit", "tiers", 1, "amount_off")
    assert "threshold" in problem["detail"]

    # legitimate deep-looking promotions pass: a 1-fen flash sale, second item free,
    # a gift, a tier just at the limit
    flash = {
        "id": "flash-1fen",
        "benefit": {"type": "flash_sale", "items": [{"sku": "A", "price": 1, "stock": 5}]},
    }
    second_free = {"id": "bogo", "benefit": {"type": "nth_item", "every": 2, "percent": 100}}
    at_limit = {
        "id": "at-limit",
        "benefit": {"type": "threshold", "tiers": [{"min_amount": 10000, "amount_off": 8000}]},
    }
    imported = await client.post(
        "/v1/admin/promotions/import",
        json={"promotions": [flash, second_free, at_limit]},
        headers=ADMIN,
    )
    assert imported.status_code == 200, imported.text

    # an import with a deep one stores nothing and names it by its index
    batch = [{"id": "fine-1", "benefit": {"type": "amount_off", "amount": 100}}, nine_zhe()]
    refused_import = await client.post(
        "/v1/admin/promotions/import", json={"promotions": batch}, headers=ADMIN
    )
    problem = assert_problem(refused_import, 422, "deep_discount")
    assert has_loc(problem, "body", "promotions", 1, "benefit", "percent")
    assert_problem(await client.get("/v1/admin/promotions/fine-1", headers=ADMIN), 404, "not_found")
    batch[1] = nine_zhe(confirm_deep_discount=True)
    accepted = await client.post(
        "/v1/admin/promotions/import", json={"promotions": batch}, headers=ADMIN
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["created"] == 2


async def test_max_discount_percent_is_a_setting(start: Start) -> None:
    client = (await start(max_discount_percent=95)).client
    made = await client.post("/v1/admin/promotions", json=nine_zhe(), headers=ADMIN)
    assert made.status_code == 201, made.text
    refused = await client.post(
        "/v1/admin/promotions", json=nine_zhe("tv-96", percent=96), headers=ADMIN
    )
    assert_problem(refused, 422, "deep_discount")


# ------------------------------------------------------------------- preview


async def test_a_preview_prices_drafts_and_changes_no_live_quote(start: Start) -> None:
    client = (await start()).client
    live = {
        "id": "d11-300-50",
        "benefit": {"type": "threshold", "tiers": [{"min_amount": 30000, "amount_off": 5000}]},
    }
    assert (await client.post("/v1/admin/promotions", json=live, headers=ADMIN)).status_code == 201
    cart = {
        "at": "2026-11-11T10:00:00+08:00",
        "lines": [
            {"sku": "TV-1", "qty": 1, "unit_price": 499900, "category": "tv"},
            {"sku": "A", "qty": 2, "unit_price": 20000, "category": "shoes"},
        ],
    }
    before = await client.post("/v1/quote", json=cart, headers=CHECKOUT)
    listed_before = (await client.get("/v1/admin/promotions", headers=ADMIN)).json()

    replacing = {
        **live,
        "benefit": {"type": "threshold", "tiers": [{"min_amount": 30000, "amount_off": 8000}]},
    }
    previewed = await client.post(
        "/v1/admin/preview",
        json={"promotions": [nine_zhe(), replacing], "carts": [cart, TV_CART]},
        headers=ADMIN,
    )
    assert previewed.status_code == 200, previewed.text
    body = previewed.json()
    first, second = body["quotes"]
    applied = {a["promotion_id"]: a["amount"] for a in first["applied"]}
    assert applied["tv-9zhe"] == 449910  # the draft, live in the preview
    assert applied["d11-300-50"] == 8000  # the draft replacing the live one
    assert second["total"] == 499900 - 449910 - 8000  # both drafts apply
    assert first["rules_version"] != before.json()["rules_version"]
    # the guard's warning for the draft, and the cart lines it takes too much off
    benefit_warnings = [w for w in body["warnings"] if w["cart"] is None]
    assert [(w["code"], w["promotion_id"], w["loc"]) for w in benefit_warnings] == [
        ("deep_discount", "tv-9zhe", ["benefit", "percent"])
    ]
    line_warnings = {(w["cart"], w["line_id"]) for w in body["warnings"] if w["cart"] is not None}
    assert line_warnings == {(0, "1"), (1, "1")}

    # nothing stored: every live answer is the same as before
    after = await client.post("/v1/quote", json=cart, headers=CHECKOUT)
    assert after.json() == before.json()
    assert (await client.get("/v1/admin/promotions", headers=ADMIN)).json() == listed_before
    assert_problem(
        await client.get("/v1/admin/promotions/tv-9zhe", headers=ADMIN), 404, "not_found"
    )


async def test_a_preview_gives_fresh_counters_to_drafts_and_is_admin_only(start: Start) -> None:
    client = (await start()).client
    flash = {
        "id": "flash-tv",
        "benefit": {
            "type": "flash_sale",
            "items": [{"sku": "TV-1", "price": 99900, "stock": 1}],
        },
    }
    previewed = await client.post(
        "/v1/admin/preview", json={"promotions": [flash], "carts": [TV_CART]}, headers=ADMIN
    )
    assert previewed.status_code == 200, previewed.text
    assert previewed.json()["quotes"][0]["total"] == 99900
    # the guard cannot judge a flash price (no list price) but the preview's cart can:
    # 400,000 off 499,900 is 80.02% off
    (warning,) = previewed.json()["warnings"]
    assert (warning["promotion_id"], warning["cart"], warning["line_id"]) == ("flash-tv", 0, "1")
    assert "80.02%" in warning["message"]
    assert_problem(
        await client.post(
            "/v1/admin/preview", json={"promotions": [flash], "carts": [TV_CART]}, headers=CHECKOUT
        ),
        403,
        "forbidden",
    )
    invalid = await client.post(
        "/v1/admin/preview",
        json={
            "promotions": [{"benefit": {"type": "item_percent_off", "percent": 120}}],
            "carts": [TV_CART],
        },
        headers=ADMIN,
    )
    assert has_loc(assert_problem(invalid, 422, "validation_error"), "body", "promotions", 0)
