"""Admin promotions over HTTP, on both storage back ends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.bodies import coupon, promotion
from tests.conftest import ADMIN, Start

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail"} <= body.keys()
    return body


def locs(problem: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(e["loc"]) for e in problem["errors"]]


def has_loc(problem: dict[str, Any], *parts: Any) -> bool:
    """Some error's loc contains ``parts`` in order, contiguously."""
    n = len(parts)
    return any(loc[i : i + n] == parts for loc in locs(problem) for i in range(len(loc) - n + 1))


async def rules_counter(client: httpx.AsyncClient) -> int:
    version = (await client.get("/readyz")).json()["rules_version"]
    return int(version.rsplit("#", 1)[1])


# --------------------------------------------------------------------------- CRUD


async def test_create_read_list_replace_delete(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert stored["id"] == "d11-300-50"
    assert stored["benefit"] == {
        "type": "threshold",
        "tiers": [{"min_amount": 30000, "min_qty": None, "amount_off": 5000, "percent": None}],
        "repeat": False,
        "max_discount": None,
    }
    assert stored["scope"]["skus"] == []

    got = await client.get("/v1/admin/promotions/d11-300-50", headers=ADMIN)
    assert got.status_code == 200
    assert got.json() == stored

    await client.post(
        "/v1/admin/promotions",
        json=promotion(id="paused-1", status="paused"),
        headers=ADMIN,
    )
    everything = (await client.get("/v1/admin/promotions", headers=ADMIN)).json()["items"]
    assert [p["id"] for p in everything] == ["d11-300-50", "paused-1"]
    active = await client.get("/v1/admin/promotions", params={"status": "active"}, headers=ADMIN)
    assert [p["id"] for p in active.json()["items"]] == ["d11-300-50"]
    paused = await client.get("/v1/admin/promotions", params={"status": "paused"}, headers=ADMIN)
    assert [p["id"] for p in paused.json()["items"]] == ["paused-1"]

    replaced = await client.put(
        "/v1/admin/promotions/d11-300-50",
        json=promotion(id=None, name="renamed", status="paused", priority=5),
        headers=ADMIN,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "renamed"
    again = (await client.get("/v1/admin/promotions/d11-300-50", headers=ADMIN)).json()
    assert (again["name"], again["status"], again["priority"], again["id"]) == (
        "renamed",
        "paused",
        5,
        "d11-300-50",
    )

    deleted = await client.delete("/v1/admin/promotions/d11-300-50", headers=ADMIN)
    assert deleted.status_code == 204
    assert_problem(
        await client.get("/v1/admin/promotions/d11-300-50", headers=ADMIN), 404, "not_found"
    )


async def test_id_is_generated_when_absent_and_name_defaults_to_it(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/v1/admin/promotions", json=promotion(id=None, name=None), headers=ADMIN
    )
    assert created.status_code == 201, created.text
    promotion_id = created.json()["id"]
    assert promotion_id.startswith("p-")
    assert len(promotion_id) > 8
    assert created.json()["name"] == promotion_id
    got = await client.get(f"/v1/admin/promotions/{promotion_id}", headers=ADMIN)
    assert got.status_code == 200


async def test_existing_id_is_a_conflict(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)).is_success
    again = await client.post("/v1/admin/promotions", json=promotion(name="other"), headers=ADMIN)
    assert_problem(again, 409, "conflict")
    kept = (await client.get("/v1/admin/promotions/d11-300-50", headers=ADMIN)).json()
    assert kept["name"] == "Double 11 spend 300 save 50"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/admin/promotions/nope", None),
        ("PUT", "/v1/admin/promotions/nope", promotion(id=None)),
        ("DELETE", "/v1/admin/promotions/nope", None),
        ("POST", "/v1/admin/promotions/nope/codes", {"code": "X1"}),
        ("GET", "/v1/admin/promotions/nope/stats", None),
    ],
)
async def test_unknown_ids_are_404(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await client.request(method, path, json=body, headers=ADMIN)
    assert_problem(response, 404, "not_found")


async def test_put_with_another_id_in_the_body_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    response = await client.put(
        "/v1/admin/promotions/d11-300-50", json=promotion(id="other"), headers=ADMIN
    )
    problem = assert_problem(response, 422, "validation_error")
    assert has_loc(problem, "body", "id")


async def test_every_write_moves_the_rules_version_before_answering(
    client: httpx.AsyncClient,
) -> None:
    start = await rules_counter(client)
    await client.post("/v1/admin/promotions", json=coupon("c-1"), headers=ADMIN)
    assert await rules_counter(client) == start + 1
    await client.put("/v1/admin/promotions/c-1", json=coupon("c-1", priority=2), headers=ADMIN)
    assert await rules_counter(client) == start + 2
    await client.post("/v1/admin/promotions/c-1/codes", json={"code": "S1"}, headers=ADMIN)
    assert await rules_counter(client) == start + 3
    await client.delete("/v1/admin/promotions/c-1", headers=ADMIN)
    assert await rules_counter(client) == start + 4


# ---------------------------------------------------------------------- validation

ONE_PROBLEM: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = [
    ("percent zero", {"benefit": {"type": "item_percent_off", "percent": 0}}, ("percent",)),
    ("percent over 100", {"benefit": {"type": "percent_off", "percent": 100.5}}, ("percent",)),
    (
        "percent 3 decimals",
        {"benefit": {"type": "item_percent_off", "percent": 8.555}},
        ("percent",),
    ),
    (
        "tiers equal",
        {
            "benefit": {
                "type": "threshold",
                "tiers": [
                    {"min_amount": 30000, "amount_off": 5000},
                    {"min_amount": 30000, "amount_off": 6000},
                ],
            }
        },
        ("tiers", 1, "min_amount"),
    ),
    (
        "tiers descending by qty",
        {
            "benefit": {
                "type": "threshold",
                "tiers": [{"min_qty": 3, "percent": 10}, {"min_qty": 2, "percent": 5}],
            }
        },
        ("tiers", 1, "min_qty"),
    ),
    (
        "gift tiers descending",
        {
            "benefit": {
                "type": "gift",
                "tiers": [
                    {"min_amount": 20000, "gifts": [{"sku": "G", "qty": 1}]},
                    {"min_amount": 10000, "gifts": [{"sku": "H", "qty": 1}]},
                ],
            }
        },
        ("tiers", 1, "min_amount"),
    ),
    (
        "tier with two rewards",
        {
            "benefit": {
                "type": "threshold",
                "tiers": [{"min_amount": 100, "amount_off": 5, "percent": 5}],
            }
        },
        ("tiers", 0),
    ),
    ("negative amount", {"benefit": {"type": "amount_off", "amount": -1}}, ("amount",)),
    (
        "negative stock",
        {"benefit": {"type": "flash_sale", "items": [{"sku": "A", "price": 1, "stock": -1}]}},
        ("items", 0, "stock"),
    ),
    ("flash sale without items", {"benefit": {"type": "flash_sale", "items": []}}, ("items",)),
    ("flash sale items missing", {"benefit": {"type": "flash_sale"}}, ("items",)),
    ("unknown benefit type", {"benefit": {"type": "bogus", "amount": 1}}, ("benefit",)),
    ("benefit without type", {"benefit": {"amount": 1}}, ("benefit",)),
    ("float money", {"benefit": {"type": "amount_off", "amount": 10.5}}, ("amount",)),
    ("ends before starts", {"ends_at": "2026-11-10T00:00:00+08:00"}, ("ends_at",)),
    ("ends at starts", {"ends_at": "2026-11-11T00:00:00+08:00"}, ("ends_at",)),
    ("naive starts_at", {"starts_at": "2026-11-11T00:00:00"}, ("starts_at",)),
    ("numeric ends_at", {"ends_at": 1893456000}, ("ends_at",)),
    ("hours not HH:MM", {"hours": [{"from": "9:00", "to": "12:00"}]}, ("hours", 0, "from")),
    ("hours 25:00", {"hours": [{"from": "10:00", "to": "25:00"}]}, ("hours", 0, "to")),
    ("hours equal", {"hours": [{"from": "10:00", "to": "10:00"}]}, ("hours", 0)),
    ("weekday 0", {"weekdays": [0]}, ("weekdays", 0)),
    ("weekday 8", {"weekdays": [1, 8]}, ("weekdays", 1)),
    ("unknown timezone", {"timezone": "Mars/Olympus"}, ("timezone",)),
    ("unknown status", {"status": "sleeping"}, ("status",)),
    ("unknown trigger", {"trigger": "manual"}, ("trigger",)),
    ("unknown field", {"percnet": 5}, ("percnet",)),
    ("bad id", {"id": "has space"}, ("id",)),
    ("member price empty", {"benefit": {"type": "member_price"}}, ("benefit", "member_price")),
    (
        "bundle duplicate sku",
        {
            "benefit": {
                "type": "bundle",
                "items": [{"sku": "A", "qty": 1}, {"sku": "A", "qty": 2}],
                "price": 100,
            }
        },
        ("items", 1, "sku"),
    ),
    ("negative min_amount", {"conditions": {"min_amount": -5}}, ("conditions", "min_amount")),
    ("negative budget", {"limits": {"budget": -5}}, ("limits", "budget")),
]


@pytest.mark.parametrize(
    ("changes", "loc"), [pytest.param(c, loc, id=name) for name, c, loc in ONE_PROBLEM]
)
async def test_each_invalid_body_is_422_naming_the_field(
    start_sqlite: Start, changes: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    client = (await start_sqlite()).client
    response = await client.post("/v1/admin/promotions", json=promotion(**changes), headers=ADMIN)
    problem = assert_problem(response, 422, "validation_error")
    assert has_loc(problem, *loc), problem
    assert all(e["loc"][0] == "body" for e in problem["errors"]), problem
    assert all(isinstance(e["msg"], str) and e["msg"] for e in problem["errors"])
    # nothing was stored
    listed = await client.get("/v1/admin/promotions", headers=ADMIN)
    assert listed.json()["items"] == []


async def test_every_problem_is_listed_at_once(client: httpx.AsyncClient) -> None:
    body = promotion(
        ends_at="2026-11-10T00:00:00+08:00",
        hours=[{"from": "9:00", "to": "12:00"}, {"from": "22:00", "to": "22:00"}],
        weekdays=[0, 3, 9],
        timezone="Nowhere/Land",
        priority="high",
        benefit={
            "type": "threshold",
            "max_discount": -1,
            "tiers": [
                {"min_amount": 50000, "amount_off": -100},
                {"min_amount": 30000, "amount_off": 5000},
                {"min_amount": 30000, "percent": 150},
            ],
        },
    )
    response = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
    problem = assert_problem(response, 422, "validation_error")
    expected = [
        ("ends_at",),
        ("hours", 0, "from"),
        ("hours", 1),
        ("weekdays", 0),
        ("weekdays", 2),
        ("timezone",),
        ("priority",),
        ("max_discount",),
        ("tiers", 0, "amount_off"),
        ("tiers", 1, "min_amount"),  # not above 50000
        ("tiers", 2, "min_amount"),  # not above 30000
        ("tiers", 2, "percent"),
    ]
    missing = [loc for loc in expected if not has_loc(problem, *loc)]
    assert not missing, (missing, locs(problem))
    assert len(problem["errors"]) >= len(expected)


async def test_percent_with_two_decimals_round_trips_as_a_number(
    client: httpx.AsyncClient,
) -> None:
    body = promotion(benefit={"type": "item_percent_off", "percent": 8.5})
    created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["benefit"] == {"type": "item_percent_off", "percent": 8.5}
    body = promotion(id="p2", benefit={"type": "percent_off", "percent": "33.33"})
    created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
    assert created.json()["benefit"]["percent"] == 33.33


async def test_hours_weekdays_and_timezone_are_kept(client: httpx.AsyncClient) -> None:
    body = promotion(
        hours=[{"from": "22:00", "to": "02:00"}],
        weekdays=[3, 6],
        timezone="Europe/Berlin",
    )
    created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    got = created.json()
    assert got["hours"] == [{"from": "22:00", "to": "02:00"}]
    assert got["weekdays"] == [3, 6]
    assert got["timezone"] == "Europe/Berlin"


# --------------------------------------------------------------------------- codes


async def test_shared_code_is_stored_upper_case_and_unique(client: httpx.AsyncClient) -> None:
    await client.post("/v1/admin/promotions", json=coupon("c-10"), headers=ADMIN)
    made = await client.post(
        "/v1/admin/promotions/c-10/codes", json={"code": " save10 "}, headers=ADMIN
    )
    assert made.status_code == 201, made.text
    assert made.json() == {"promotion_id": "c-10", "kind": "shared", "codes": ["SAVE10"]}
    again = await client.post(
        "/v1/admin/promotions/c-10/codes", json={"code": "Save10"}, headers=ADMIN
    )
    assert_problem(again, 409, "conflict")


async def test_unique_codes_are_random_distinct_and_prefixed(client: httpx.AsyncClient) -> None:
    await client.post("/v1/admin/promotions", json=coupon("c-u"), headers=ADMIN)
    made = await client.post(
        "/v1/admin/promotions/c-u/codes", json={"count": 50, "prefix": "d11-"}, headers=ADMIN
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["kind"] == "unique"
    codes = body["codes"]
    assert len(codes) == len(set(codes)) == 50
    assert all(c.startswith("D11-") and len(c) == len("D11-") + 12 for c in codes)
    more = await client.post(
        "/v1/admin/promotions/c-u/codes", json={"count": 50, "prefix": "d11-"}, headers=ADMIN
    )
    assert not set(more.json()["codes"]) & set(codes)
    stats = await client.get("/v1/admin/promotions/c-u/stats", headers=ADMIN)
    assert stats.json()["codes"] == 100


async def test_codes_only_for_coupon_promotions(client: httpx.AsyncClient) -> None:
    await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    response = await client.post(
        "/v1/admin/promotions/d11-300-50/codes", json={"code": "AUTO1"}, headers=ADMIN
    )
    assert_problem(response, 409, "conflict")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "A1", "count": 3},
        {"count": 0},
        {"count": 10_001},
        {"code": "has space"},
        {"code": ""},
        {"count": 2, "prefix": "bad prefix"},
        {"code": "A1", "prefix": "P-"},
    ],
)
async def test_bad_code_requests_are_422(start_sqlite: Start, body: dict[str, Any]) -> None:
    client = (await start_sqlite()).client
    await client.post("/v1/admin/promotions", json=coupon("c-1"), headers=ADMIN)
    response = await client.post("/v1/admin/promotions/c-1/codes", json=body, headers=ADMIN)
    assert_problem(response, 422, "validation_error")


async def test_stats_are_zero_until_reservations_exist(client: httpx.AsyncClient) -> None:
    await client.post("/v1/admin/promotions", json=coupon("c-s"), headers=ADMIN)
    await client.post("/v1/admin/promotions/c-s/codes", json={"count": 3}, headers=ADMIN)
    stats = await client.get("/v1/admin/promotions/c-s/stats", headers=ADMIN)
    assert stats.status_code == 200
    assert stats.json() == {
        "reservations": 0,
        "confirmed": 0,
        "cancelled": 0,
        "expired": 0,
        "discount_given": 0,
        "gmv": 0,
        "claims": 0,
        "redemptions": 0,
        "budget_spent": 0,
        "codes": 3,
        "budget_left": None,
    }


async def test_deleting_a_promotion_deletes_its_codes(client: httpx.AsyncClient) -> None:
    await client.post("/v1/admin/promotions", json=coupon("c-d"), headers=ADMIN)
    await client.post("/v1/admin/promotions/c-d/codes", json={"code": "GONE"}, headers=ADMIN)
    await client.delete("/v1/admin/promotions/c-d", headers=ADMIN)
    await client.post("/v1/admin/promotions", json=coupon("c-e"), headers=ADMIN)
    reused = await client.post(
        "/v1/admin/promotions/c-e/codes", json={"code": "GONE"}, headers=ADMIN
    )
    assert reused.status_code == 201, reused.text
