"""Managing promotions safely (API.md): versions, ETag / If-Match, PATCH, history,
archiving, the paginated listing, named keys; over HTTP on both back ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.bodies import promotion
from tests.api.test_admin import assert_problem, has_loc
from tests.conftest import ADMIN, ADMIN_KEY, CHECKOUT, CHECKOUT_KEY, Start

URL = "/v1/admin/promotions"
READ_ONLY = {"version", "created_at", "updated_at", "updated_by", "effective"}
MERGE_PATCH = {**ADMIN, "Content-Type": "application/merge-patch+json"}
NAMED_KEYS = f"checkout:{CHECKOUT_KEY},admin:ops-anna:anna-key,admin:bare-key,admin:{ADMIN_KEY}"
ANNA = {"Authorization": "Bearer anna-key"}
BARE = {"Authorization": "Bearer bare-key"}


def body_of(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k not in READ_ONLY}


def now_plus(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def created(client: httpx.AsyncClient, headers: dict[str, str] = ADMIN, **changes: Any):  # type: ignore[no-untyped-def]
    response = await client.post(URL, json=promotion(**changes), headers=headers)
    assert response.status_code == 201, response.text
    return response


async def history(client: httpx.AsyncClient, promotion_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{URL}/{promotion_id}/history", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["promotion_id"] == promotion_id
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# ------------------------------------------------------- versions, ETag, If-Match


async def test_versions_times_authors_and_etags(start: Start) -> None:
    client = (await start(pricing_api_keys=NAMED_KEYS)).client
    first = await created(client, ANNA)
    stored = first.json()
    assert stored["version"] == 1
    assert stored["updated_by"] == "ops-anna"
    assert stored["created_at"] == stored["updated_at"]
    etag = first.headers["ETag"]

    got = await client.get(f"{URL}/d11-300-50", headers=BARE)
    assert got.json() == stored
    assert got.headers["ETag"] == etag

    # the body read goes back as it is (its read-only members are ignored)
    replaced = await client.put(
        f"{URL}/d11-300-50", json={**stored, "priority": 3, "version": 99}, headers=BARE
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == 2
    assert replaced.json()["updated_by"] == "admin"  # a key without a name: its role
    assert replaced.json()["created_at"] == stored["created_at"]
    assert replaced.json()["updated_at"] > stored["updated_at"]
    assert replaced.headers["ETag"] != etag


async def test_a_stale_if_match_is_412_and_changes_nothing(client: httpx.AsyncClient) -> None:
    old = (await created(client)).headers["ETag"]
    current = await client.patch(f"{URL}/d11-300-50", json={"priority": 1}, headers=MERGE_PATCH)
    assert current.status_code == 200, current.text
    before = (await client.get(f"{URL}/d11-300-50", headers=ADMIN)).json()
    entries = await history(client, "d11-300-50")

    stale = {**ADMIN, "If-Match": old}
    attempts = [
        client.put(f"{URL}/d11-300-50", json=promotion(priority=7), headers=stale),
        client.patch(f"{URL}/d11-300-50", json={"status": "paused"}, headers=stale),
        client.delete(f"{URL}/d11-300-50", headers=stale),
        client.patch(
            f"{URL}/d11-300-50", json={"status": "paused"}, headers={**ADMIN, "If-Match": "W/x"}
        ),
    ]
    for attempt in attempts:
        assert_problem(await attempt, 412, "precondition_failed")
    assert (await client.get(f"{URL}/d11-300-50", headers=ADMIN)).json() == before
    assert await history(client, "d11-300-50") == entries

    # the current tag (alone, in a list, or *) lets the change through
    fresh = {**ADMIN, "If-Match": f'"nope", {current.headers["ETag"]}'}
    paused = await client.patch(f"{URL}/d11-300-50", json={"status": "paused"}, headers=fresh)
    assert paused.status_code == 200, paused.text
    star = {**ADMIN, "If-Match": "*"}
    assert (await client.delete(f"{URL}/d11-300-50", headers=star)).status_code == 204


async def test_two_writers_with_the_same_if_match_one_wins(client: httpx.AsyncClient) -> None:
    etag = (await created(client)).headers["ETag"]
    same = {**MERGE_PATCH, "If-Match": etag}
    writers = [
        client.patch(f"{URL}/d11-300-50", json={"priority": n}, headers=same) for n in range(1, 7)
    ] + [client.put(f"{URL}/d11-300-50", json=promotion(priority=100), headers=same)]
    answers = await asyncio.gather(*writers)
    won = [a for a in answers if a.status_code == 200]
    assert len(won) == 1, [a.text for a in answers]
    for lost in answers:
        if lost.status_code != 200:
            assert_problem(lost, 412, "precondition_failed")
    stored = (await client.get(f"{URL}/d11-300-50", headers=ADMIN)).json()
    assert stored["version"] == 2
    assert stored["priority"] == won[0].json()["priority"]
    assert [e["version"] for e in await history(client, "d11-300-50")] == [2, 1]


async def test_writers_without_if_match_lose_no_update(client: httpx.AsyncClient) -> None:
    await created(client)
    patches = [
        {"priority": 5},
        {"name": "renamed"},
        {"limits": {"max_uses": 10}},
        {"limits": {"budget": 100000}},
        {"conditions": {"min_qty": 2}},
    ]
    answers = await asyncio.gather(
        *(client.patch(f"{URL}/d11-300-50", json=p, headers=MERGE_PATCH) for p in patches)
    )
    assert [a.status_code for a in answers] == [200] * len(patches), [a.text for a in answers]
    stored = (await client.get(f"{URL}/d11-300-50", headers=ADMIN)).json()
    assert stored["version"] == 1 + len(patches)
    assert (stored["priority"], stored["name"]) == (5, "renamed")
    assert (stored["limits"]["max_uses"], stored["limits"]["budget"]) == (10, 100000)
    assert stored["conditions"]["min_qty"] == 2


# ------------------------------------------------------------------------- PATCH


async def test_patch_is_a_merge_patch_checked_like_a_put(client: httpx.AsyncClient) -> None:
    await created(client, scope={"categories": ["tv"]})
    quote = {"at": now_plus(0), "lines": [{"sku": "A", "qty": 1, "unit_price": 40000}]}
    await client.patch(
        f"{URL}/d11-300-50", json={"starts_at": None, "ends_at": None}, headers=MERGE_PATCH
    )
    quote["lines"][0]["category"] = "tv"  # type: ignore[index]
    assert (await client.post("/v1/quote", json=quote, headers=CHECKOUT)).json()[
        "discount_total"
    ] == 5000

    paused = await client.patch(f"{URL}/d11-300-50", json={"status": "paused"}, headers=MERGE_PATCH)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["effective"] == "paused"
    assert paused.json()["scope"]["categories"] == ["tv"]  # the rest is kept
    assert (await client.post("/v1/quote", json=quote, headers=CHECKOUT)).json()[
        "discount_total"
    ] == 0

    # application/json is taken too; a null removes a member, objects merge
    plain = await client.patch(
        f"{URL}/d11-300-50",
        json={"status": "active", "scope": {"skus": ["A"], "categories": None}},
        headers=ADMIN,
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["scope"]["skus"] == ["A"]
    assert plain.json()["scope"]["categories"] == []

    version = plain.json()["version"]
    bad = await client.patch(
        f"{URL}/d11-300-50",
        json={"benefit": {"tiers": [{"min_amount": -1, "amount_off": 5000}]}, "priority": "x"},
        headers=MERGE_PATCH,
    )
    problem = assert_problem(bad, 422, "validation_error")
    assert has_loc(problem, "body", "priority")
    assert has_loc(problem, "tiers", 0, "min_amount")
    moved = await client.patch(f"{URL}/d11-300-50", json={"id": "other"}, headers=MERGE_PATCH)
    assert_problem(moved, 422, "validation_error")
    not_object = await client.patch(f"{URL}/d11-300-50", json=["x"], headers=MERGE_PATCH)
    assert_problem(not_object, 422, "validation_error")
    assert (await client.get(f"{URL}/d11-300-50", headers=ADMIN)).json()["version"] == version

    missing = await client.patch(f"{URL}/nope", json={"status": "paused"}, headers=MERGE_PATCH)
    assert_problem(missing, 404, "not_found")


async def test_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{URL}/x", json={}, headers=ADMIN)
    assert_problem(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "PUT", "PATCH", "DELETE"} <= allowed
    assert "POST" not in allowed
    quote = await client.get("/v1/quote", headers=CHECKOUT)
    assert_problem(quote, 405, "method_not_allowed")
    assert quote.headers["Allow"] == "POST"


# ----------------------------------------------------------------------- history


async def test_history_replays_to_the_current_body(start: Start) -> None:
    client = (await start(pricing_api_keys=NAMED_KEYS)).client
    first_tag = (await created(client, ANNA)).headers["ETag"]
    await client.put(f"{URL}/d11-300-50", json=promotion(priority=2), headers=BARE)
    await client.patch(
        f"{URL}/d11-300-50", json={"status": "paused"}, headers={**MERGE_PATCH, **ANNA}
    )
    imported = await client.post(
        f"{URL}/import",
        json={"promotions": [promotion(name="imported", priority=9)], "mode": "upsert"},
        headers=ANNA,
    )
    assert imported.status_code == 200, imported.text

    entries = await history(client, "d11-300-50")
    assert [(e["version"], e["action"], e["by"]) for e in entries] == [
        (4, "imported", "ops-anna"),
        (3, "patched", "ops-anna"),
        (2, "replaced", "admin"),
        (1, "created", "ops-anna"),
    ]
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    state: dict[str, Any] | None = None
    for entry in reversed(entries):
        assert entry["before"] == state
        state = entry["after"]
    current = (await client.get(f"{URL}/d11-300-50", headers=ADMIN)).json()
    assert state == body_of(current)
    assert current["version"] == entries[0]["version"]

    # removed: the history stays, with a deleted entry; stored again, versions go on
    assert (await client.delete(f"{URL}/d11-300-50", headers=ADMIN)).status_code == 204
    gone = await history(client, "d11-300-50")
    assert (gone[0]["version"], gone[0]["action"], gone[0]["after"]) == (5, "deleted", None)
    assert gone[0]["before"] == state
    again = await created(client)
    assert again.json()["version"] == 6
    assert again.headers["ETag"] != first_tag  # a tag names one body, ever
    stale = await client.delete(f"{URL}/d11-300-50", headers={**ADMIN, "If-Match": first_tag})
    assert_problem(stale, 412, "precondition_failed")
    assert_problem(await client.get(f"{URL}/nope/history", headers=ADMIN), 404, "not_found")


async def test_an_import_writes_one_imported_entry_per_promotion(client: httpx.AsyncClient) -> None:
    bodies = [promotion(id=f"i-{n}", name=f"item {n}") for n in range(50)]
    response = await client.post(f"{URL}/import", json={"promotions": bodies}, headers=ADMIN)
    assert response.status_code == 200, response.text
    for n in (0, 49):
        (entry,) = await history(client, f"i-{n}")
        assert (entry["version"], entry["action"], entry["before"]) == (1, "imported", None)
        assert entry["after"] == body_of((await client.get(f"{URL}/i-{n}", headers=ADMIN)).json())


# --------------------------------------------------------------------- archiving


async def test_delete_archives_what_reservations_reference(client: httpx.AsyncClient) -> None:
    for pid in ("kept", "dropped"):
        await created(
            client,
            id=pid,
            starts_at=None,
            ends_at=None,
            benefit={"type": "item_amount_off", "amount": 1000},
            scope={"skus": [pid]},
        )
    reserved = await client.post(
        "/v1/reservations",
        json={
            "order_id": "o-1",
            "customer": {"id": "u-1"},
            "lines": [{"sku": "kept", "qty": 1, "unit_price": 5000}],
        },
        headers=CHECKOUT,
    )
    assert reserved.status_code == 201, reserved.text
    assert reserved.json()["quote"]["discount_total"] == 1000

    assert (await client.delete(f"{URL}/kept", headers=ADMIN)).status_code == 204
    archived = await client.get(f"{URL}/kept", headers=ADMIN)
    assert archived.status_code == 200
    assert (archived.json()["status"], archived.json()["version"]) == ("archived", 2)
    quote = {"lines": [{"sku": "kept", "qty": 1, "unit_price": 5000}]}
    assert (await client.post("/v1/quote", json=quote, headers=CHECKOUT)).json()[
        "discount_total"
    ] == 0  # it prices nothing
    stats = await client.get(f"{URL}/kept/stats", headers=ADMIN)
    assert stats.status_code == 200
    assert stats.json()["reservations"] == 1
    (deleted, _) = await history(client, "kept")
    assert deleted["action"] == "deleted"
    assert deleted["after"]["status"] == "archived"
    # deleting it again changes nothing
    assert (await client.delete(f"{URL}/kept", headers=ADMIN)).status_code == 204
    assert (await client.get(f"{URL}/kept", headers=ADMIN)).json()["version"] == 2

    assert (await client.delete(f"{URL}/dropped", headers=ADMIN)).status_code == 204
    assert_problem(await client.get(f"{URL}/dropped", headers=ADMIN), 404, "not_found")
    assert (await history(client, "dropped"))[0]["after"] is None


# ----------------------------------------------------------------------- listing


async def ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get(URL, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [p["id"] for p in response.json()["items"]]


async def test_listing_filters(client: httpx.AsyncClient) -> None:
    fields: dict[str, dict[str, Any]] = {
        "running": {"starts_at": now_plus(-1), "ends_at": now_plus(1)},
        "open-ended": {"starts_at": None, "ends_at": None, "name": "Forever SALE"},
        "expired": {"starts_at": now_plus(-3), "ends_at": now_plus(-1)},
        "scheduled": {"starts_at": now_plus(1), "ends_at": now_plus(2)},
        "paused": {"status": "paused", "starts_at": None, "ends_at": None},
        "paused-over": {"status": "paused", "starts_at": now_plus(-3), "ends_at": now_plus(-1)},
        "ended": {"status": "ended"},
        "draft": {"status": "draft"},
        "coupon-x": {
            "trigger": "coupon",
            "starts_at": None,
            "ends_at": None,
            "benefit": {"type": "amount_off", "amount": 100},
        },
    }
    for pid, more in fields.items():
        await created(client, id=pid, name=more.pop("name", pid), **more)

    assert await ids(client, effective="running") == ["coupon-x", "open-ended", "running"]
    assert await ids(client, effective="ended") == ["ended", "expired", "paused-over"]
    assert await ids(client, effective="scheduled") == ["scheduled"]
    assert await ids(client, effective="paused") == ["paused"]
    assert await ids(client, status="active") == [
        "coupon-x", "expired", "open-ended", "running", "scheduled",
    ]  # fmt: skip
    assert await ids(client, type="amount_off") == ["coupon-x"]
    assert await ids(client, trigger="coupon") == ["coupon-x"]
    assert await ids(client, q="sale") == ["open-ended"]  # the name, any case
    assert await ids(client, q="PAUSED") == ["paused", "paused-over"]  # the id
    assert await ids(client, q="%") == []
    assert await ids(client, effective="running", trigger="auto") == ["open-ended", "running"]
    listed = (await client.get(URL, params={"q": "expired"}, headers=ADMIN)).json()["items"]
    assert (listed[0]["status"], listed[0]["effective"]) == ("active", "ended")

    for params, loc in [
        ({"colour": "red"}, ("query", "colour")),
        ({"limit": 1001}, ("query", "limit")),
        ({"limit": 0}, ("query", "limit")),
        ({"effective": "active"}, ("query", "effective")),
        ({"type": "percent"}, ("query", "type")),
        ({"cursor": "not-a-cursor"}, ("query", "cursor")),
    ]:
        problem = assert_problem(
            await client.get(URL, params=params, headers=ADMIN), 422, "validation_error"
        )
        assert has_loc(problem, *loc), problem


async def test_a_paginated_walk_sees_each_promotion_once(client: httpx.AsyncClient) -> None:
    bodies = [
        promotion(id=f"p-{n:05d}", name=f"item {n}", starts_at=None, ends_at=None)
        for n in range(1, 20_000, 2)
    ]
    response = await client.post(
        f"{URL}/import", json={"promotions": bodies}, headers=ADMIN, timeout=120
    )
    assert response.status_code == 200, response.text

    first = (await client.get(URL, headers=ADMIN)).json()
    assert len(first["items"]) == 100  # the default limit
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await client.get(URL, params=params, headers=ADMIN)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if pages == 3:  # inserted meanwhile, before and after the position reached
            for pid in ("p-00000", "p-20000"):
                await created(client, id=pid, starts_at=None, ends_at=None)
        if cursor is None:
            break
    expected = sorted([b["id"] for b in bodies] + ["p-20000"])
    assert seen == expected  # each exactly once, in id order; the later insert seen too
    assert pages == 11
