"""Reservations over HTTP (try / confirm / cancel / read), flash-sale reads and
stats, on both storage back ends; expiry by the sweeper; Redis unreachable.

Promotions here have no time window (reservations price at the server's
clock). The race, the restart and the recovery tests are under
tests/integration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.errors import Unavailable
from app.inventory.reservation_service import ReservationService, order_of
from app.inventory.stock import FlashTake, PromotionTake
from app.promotions.repository import StoredCode
from app.quoting.quote_service import QuoteService
from app.rules.engine import price
from app.rules.model import Line, Readings
from app.rules.ruleset import RuleSet
from tests.api.test_admin import assert_problem
from tests.conftest import ADMIN, CHECKOUT, Running, Start
from tests.integration.processes import free_port

LIST = 9000
COUPON = {"id": "cp", "trigger": "coupon", "benefit": {"type": "amount_off", "amount": 1000}}


def flash(promotion_id: str = "fs", *, stock: int = 10, limit: int | None = 2) -> dict[str, Any]:
    return {
        "id": promotion_id,
        "benefit": {
            "type": "flash_sale",
            "items": [{"sku": "HOT", "price": 5000, "stock": stock, "per_customer_limit": limit}],
        },
    }


def body(order_id: str, customer: str = "u-1", qty: int = 1, **more: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer": {"id": customer},
        "lines": [{"sku": "HOT", "qty": qty, "unit_price": LIST}],
        **more,
    }


async def create(client: httpx.AsyncClient, promotion: dict[str, Any]) -> None:
    response = await client.post("/v1/admin/promotions", json=promotion, headers=ADMIN)
    assert response.status_code == 201, response.text


async def reserve(client: httpx.AsyncClient, payload: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/reservations", json=payload, headers=CHECKOUT)


async def level(client: httpx.AsyncClient, promotion_id: str = "fs") -> tuple[int, ...]:
    response = await client.get(f"/v1/flash-sales/{promotion_id}", headers=CHECKOUT)
    assert response.status_code == 200, response.text
    item = response.json()["items"][0]
    return item["initial"], item["available"], item["reserved"], item["sold"]


async def post(client: httpx.AsyncClient, reservation_id: str, verb: str) -> httpx.Response:
    return await client.post(f"/v1/reservations/{reservation_id}/{verb}", headers=CHECKOUT)


# ----------------------------------------------------------------- the happy path


async def test_reserve_read_confirm(client: httpx.AsyncClient) -> None:
    await create(client, flash())
    made = await reserve(client, body("o-1", qty=3))
    assert made.status_code == 201, made.text
    reservation = made.json()
    assert {"reservation_id", "order_id", "status", "expires_at", "quote"} <= reservation.keys()
    assert reservation["status"] == "reserved"
    assert reservation["order_id"] == "o-1"
    assert reservation["expires_at"].endswith("Z")
    quote = reservation["quote"]
    assert quote["total"] == 2 * 5000 + LIST  # the limit is 2: the third unit at list price
    assert quote["lines"][0]["adjustments"] == [{"promotion_id": "fs", "amount": 8000, "units": 2}]
    assert await level(client) == (10, 8, 2, 0)

    rid = reservation["reservation_id"]
    read = await client.get(f"/v1/reservations/{rid}", headers=CHECKOUT)
    assert read.status_code == 200
    assert read.json()["status"] == "reserved"
    assert read.json()["quote"] == quote

    confirmed = await post(client, rid, "confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert await level(client) == (10, 8, 0, 2)
    again = await post(client, rid, "confirm")
    assert again.status_code == 200
    assert again.json() == confirmed.json()
    assert await level(client) == (10, 8, 0, 2)

    cancel = await post(client, rid, "cancel")
    assert_problem(cancel, 409, "conflict")
    assert await level(client) == (10, 8, 0, 2)

    stats = (await client.get("/v1/admin/promotions/fs/stats", headers=ADMIN)).json()
    assert stats["reservations"] == 1
    assert stats["confirmed"] == 1
    assert stats["cancelled"] == 0
    assert stats["discount_given"] == 8000
    assert stats["gmv"] == quote["total"]


async def test_the_same_order_id_gets_the_same_reservation_whatever_the_body(
    client: httpx.AsyncClient,
) -> None:
    await create(client, flash())
    first = await reserve(client, body("o-1"))
    assert first.status_code == 201
    for other in (body("o-1", qty=2), body("o-1", customer="u-2", expected_total=1)):
        same = await reserve(client, other)
        assert same.status_code == 200, same.text
        assert same.json() == first.json()
    assert await level(client) == (10, 9, 1, 0)


async def test_cancel_gives_back_and_is_idempotent(client: httpx.AsyncClient) -> None:
    await create(client, flash())
    rid = (await reserve(client, body("o-1", qty=2))).json()["reservation_id"]
    assert await level(client) == (10, 8, 2, 0)

    cancelled = await post(client, rid, "cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await level(client) == (10, 10, 0, 0)
    again = await post(client, rid, "cancel")
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"
    assert await level(client) == (10, 10, 0, 0)

    late = await post(client, rid, "confirm")
    assert_problem(late, 409, "reservation_expired")
    assert await level(client) == (10, 10, 0, 0)
    # the customer's holding went back too: the limit of 2 is free again
    assert (await reserve(client, body("o-2", qty=2))).json()["quote"]["total"] == 10000
    stats = (await client.get("/v1/admin/promotions/fs/stats", headers=ADMIN)).json()
    assert (stats["reservations"], stats["confirmed"], stats["cancelled"]) == (2, 0, 1)


async def test_unknown_reservations_are_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/reservations/r-nope", headers=CHECKOUT), 404, "not_found")
    for verb in ("confirm", "cancel"):
        assert_problem(await post(client, "r-nope", verb), 404, "not_found")


async def test_a_reservation_needs_a_customer_id_and_an_order_id(
    sqlite_client: httpx.AsyncClient,
) -> None:
    payload = body("o-1")
    del payload["customer"]
    problem = assert_problem(await reserve(sqlite_client, payload), 422, "validation_error")
    assert ["body", "customer", "id"] in [e["loc"] for e in problem["errors"]]
    payload = body("o-1")
    del payload["order_id"]
    problem = assert_problem(await reserve(sqlite_client, payload), 422, "validation_error")
    assert ["body", "order_id"] in [e["loc"] for e in problem["errors"]]


async def test_roles(sqlite_client: httpx.AsyncClient) -> None:
    await create(sqlite_client, flash())
    no_key = await sqlite_client.post("/v1/reservations", json=body("o-1"))
    assert_problem(no_key, 401, "unauthorized")
    assert_problem(await sqlite_client.get("/v1/flash-sales/fs"), 401, "unauthorized")
    as_admin = await sqlite_client.post("/v1/reservations", json=body("o-1"), headers=ADMIN)
    assert as_admin.status_code == 201
    assert (await sqlite_client.get("/v1/flash-sales/fs", headers=ADMIN)).status_code == 200


# ------------------------------------------------------------------------ refusals


async def test_a_changed_price_is_409_with_the_fresh_quote_and_nothing_taken(
    client: httpx.AsyncClient,
) -> None:
    await create(client, flash())
    refused = await reserve(client, body("o-1", qty=1, expected_total=LIST))
    problem = assert_problem(refused, 409, "price_changed")
    assert problem["quote"]["total"] == 5000
    assert await level(client) == (10, 10, 0, 0)
    # nothing was written either: the order may try again with the right total
    again = await reserve(client, body("o-1", qty=1, expected_total=5000))
    assert again.status_code == 201, again.text


class StaleCounters:
    """A reader that has not seen any take: every flash item looks fully stocked and
    no limit used (what a quote sees just before others take the last units)."""

    async def read(
        self,
        *,
        rules: RuleSet,
        lines: Sequence[Line],
        customer_id: str | None,
        coupon_promotions: Sequence[str] = (),
        fresh: frozenset[str] = frozenset(),
    ) -> Readings:
        return Readings()


def rewire(
    running: Running, *, counters: Any = None, repository: Any = None, ledger: Any = None
) -> None:
    """Give the running app a reservation service with other readers (the fakes here)."""
    wiring = running.wiring
    quotes = QuoteService(
        rules=wiring.snapshot,
        repository=repository or wiring.repository,
        counters=counters or wiring.counters,
        price=price,
    )
    wiring.reservations = ReservationService(
        quotes=quotes,
        ledger=ledger or wiring.ledger,
        inventory=wiring.stock,
        record_quote=wiring.record_quote,
        ttl=timedelta(minutes=15),
        wait_seconds=1.0,
    )


def with_stale_counters(running: Running) -> None:
    rewire(running, counters=StaleCounters())


async def test_stock_gone_between_quote_and_take_is_409_sold_out(start: Start) -> None:
    running = await start()
    client = running.client
    await create(client, flash(stock=1, limit=None))
    assert (await reserve(client, body("o-1", customer="u-1"))).status_code == 201
    with_stale_counters(running)

    refused = await reserve(client, body("o-2", customer="u-2"))
    problem = assert_problem(refused, 409, "sold_out")
    assert "quote" in problem
    assert await level(client) == (1, 0, 1, 0)
    # the failed attempt left no row: the same order_id may try again
    assert_problem(await reserve(client, body("o-2", customer="u-2")), 409, "sold_out")


async def test_a_customer_over_the_limit_is_409_limit_reached(start: Start) -> None:
    running = await start()
    client = running.client
    await create(client, flash(limit=1))
    assert (await reserve(client, body("o-1"))).status_code == 201
    # with live readings the second order simply gets no flash price ...
    second = await reserve(client, body("o-2"))
    assert second.status_code == 201
    assert second.json()["quote"]["total"] == LIST
    assert await level(client) == (10, 9, 1, 0)
    # ... and when the quote did not see the first take, the take refuses
    with_stale_counters(running)
    assert_problem(await reserve(client, body("o-3")), 409, "limit_reached")
    assert await level(client) == (10, 9, 1, 0)


@pytest.mark.parametrize("limit", ["max_uses", "budget"])
async def test_usage_limits_and_budgets_are_held_and_given_back(
    client: httpx.AsyncClient, limit: str
) -> None:
    limits = {"max_uses": 1} if limit == "max_uses" else {"budget": 1500}
    await create(
        client,
        {"id": "off", "limits": limits, "benefit": {"type": "amount_off", "amount": 1000}},
    )
    first = await reserve(client, body("o-1"))
    assert first.json()["quote"]["discount_total"] == 1000
    second = await reserve(client, body("o-2", customer="u-2"))
    # max_uses 1: used up; budget 1500: only 500 left to give
    assert second.json()["quote"]["discount_total"] == (0 if limit == "max_uses" else 500)
    stats = (await client.get("/v1/admin/promotions/off/stats", headers=ADMIN)).json()
    assert stats["budget_spent"] == (0 if limit == "max_uses" else 1500)

    await post(client, first.json()["reservation_id"], "cancel")
    third = await reserve(client, body("o-3", customer="u-3"))
    assert third.json()["quote"]["discount_total"] == 1000
    stats = (await client.get("/v1/admin/promotions/off/stats", headers=ADMIN)).json()
    assert stats["budget_spent"] == (0 if limit == "max_uses" else 1500)


async def test_a_single_use_code_is_held_then_used_or_given_back(start: Start) -> None:
    running = await start()
    client = running.client
    await create(client, COUPON)
    made = await client.post("/v1/admin/promotions/cp/codes", json={"count": 1}, headers=ADMIN)
    (code,) = made.json()["codes"]

    async def status() -> str:
        return (await running.wiring.repository.resolve_codes([code]))[code].status

    first = await reserve(client, body("o-1", coupon_codes=[code]))
    assert first.json()["quote"]["discount_total"] == 1000
    assert await status() == "reserved"
    other = await reserve(client, body("o-2", customer="u-2", coupon_codes=[code]))
    assert other.json()["quote"]["coupons"][0]["reason"] == "already_used"

    await post(client, first.json()["reservation_id"], "cancel")
    assert await status() == "available"
    again = await reserve(client, body("o-3", coupon_codes=[code]))
    assert again.json()["quote"]["discount_total"] == 1000
    await post(client, again.json()["reservation_id"], "confirm")
    assert await status() == "used"
    stats = (await client.get("/v1/admin/promotions/cp/stats", headers=ADMIN)).json()
    assert stats["redemptions"] == 1
    assert stats["confirmed"] == 1


class StaleCodes:
    """Resolves codes as if nobody held them yet (the moment before a race is lost)."""

    def __init__(self, repository: Any) -> None:
        self._repository = repository

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)

    async def resolve_codes(self, codes: Sequence[str]) -> dict[str, StoredCode]:
        found = await self._repository.resolve_codes(codes)
        return {
            code: StoredCode(c.code, c.promotion_id, c.kind, c.customer_id, "available")
            for code, c in found.items()
        }


async def test_a_code_taken_by_another_order_in_between_is_409_conflict(start: Start) -> None:
    running = await start()
    client = running.client
    await create(client, flash())
    await create(client, COUPON)
    code = (
        await client.post("/v1/admin/promotions/cp/codes", json={"count": 1}, headers=ADMIN)
    ).json()["codes"][0]
    assert (await reserve(client, body("o-1", coupon_codes=[code]))).status_code == 201
    assert await level(client) == (10, 9, 1, 0)
    rewire(running, repository=StaleCodes(running.wiring.repository))
    lost = await reserve(client, body("o-2", customer="u-2", coupon_codes=[code]))
    assert_problem(lost, 409, "conflict")
    assert await level(client) == (10, 9, 1, 0)  # its flash unit was given back


class LedgerDownMidway:
    """The database answers the pending row, then stops answering (the marking and
    the clean-up of that row both fail)."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    async def mark_reserved(self, *args: Any, **kwargs: Any) -> Any:
        raise Unavailable("the database did not answer in time")

    async def forget(self, reservation_id: str) -> bool:
        raise Unavailable("the database did not answer in time")


async def test_a_failed_attempt_does_not_wait_for_its_own_pending_row(start: Start) -> None:
    """The attempt's pending row could not be removed: the answer is the failure at
    once (not a wait for that row to settle, which it never will), and the row is
    left for the sweeper with what it took (the failed marking may have turned it
    reserved: giving the units back now could sell them twice)."""
    running = await start()
    client = running.client
    await create(client, flash())
    rewire(running, ledger=LedgerDownMidway(running.wiring.ledger))
    failed = await reserve(client, body("o-1"))
    problem = assert_problem(failed, 503, "unavailable")
    assert "still being made" not in problem["detail"], problem
    assert await level(client) == (10, 9, 1, 0)


class MarkedButAnsweredLate:
    """The database turns the row reserved, but its answer comes too late (the
    deadline passed, or the connection was lost, after the statement went out)."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    async def mark_reserved(self, *args: Any, **kwargs: Any) -> Any:
        await self._ledger.mark_reserved(*args, **kwargs)
        raise Unavailable("the database did not answer within 5s (reserve)")


async def test_a_marking_done_but_answered_late_keeps_its_units(start: Start) -> None:
    """The service cannot tell the marking was done; it finds its own row reserved
    and answers with it, and the units stay taken: the stock counts the reservation
    once. Giving the units back first (as before) sold them again while the
    reservation stood: 102 reservations for 100 units in the 2,000-reservation rush
    on busy cores."""
    running = await start()
    client = running.client
    await create(client, flash())
    real = running.wiring.ledger
    rewire(running, ledger=MarkedButAnsweredLate(real))
    made = await reserve(client, body("o-1"))
    assert made.status_code in (200, 201), made.text
    assert made.json()["status"] == "reserved"
    assert await level(client) == (10, 9, 1, 0)
    rewire(running, ledger=real)
    again = await reserve(client, body("o-1"))
    assert again.status_code == 200, again.text
    assert again.json()["reservation_id"] == made.json()["reservation_id"]
    assert await level(client) == (10, 9, 1, 0)


# ------------------------------------------------------------------- flash sales


async def test_flash_sale_reads(client: httpx.AsyncClient) -> None:
    await create(client, flash())
    read = await client.get("/v1/flash-sales/fs", headers=CHECKOUT)
    assert read.json() == {
        "promotion_id": "fs",
        "items": [
            {"sku": "HOT", "price": 5000, "initial": 10, "available": 10, "reserved": 0,
             "sold": 0, "per_customer_limit": 2},
        ],
    }  # fmt: skip
    assert_problem(await client.get("/v1/flash-sales/nope", headers=CHECKOUT), 404, "not_found")
    await create(client, {"id": "plain", "benefit": {"type": "amount_off", "amount": 100}})
    assert_problem(await client.get("/v1/flash-sales/plain", headers=CHECKOUT), 404, "not_found")


async def test_changing_the_stock_keeps_what_is_taken(client: httpx.AsyncClient) -> None:
    await create(client, flash())
    await reserve(client, body("o-1", qty=2))
    replaced = await client.put(
        "/v1/admin/promotions/fs", json={**flash(stock=30), "id": None}, headers=ADMIN
    )
    assert replaced.status_code == 200, replaced.text
    assert await level(client) == (30, 28, 2, 0)
    await client.put("/v1/admin/promotions/fs", json={**flash(stock=1), "id": None}, headers=ADMIN)
    assert await level(client) == (2, 0, 2, 0)  # never below what is taken


# ------------------------------------------------------------------------ expiry


async def wait_for(check: Any, seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.1)


async def test_an_unconfirmed_reservation_expires_and_gives_everything_back(start: Start) -> None:
    running = await start(reservation_ttl_seconds=1, sweep_interval_seconds=0.2)
    client = running.client
    await create(client, flash())
    made = (await reserve(client, body("o-1", qty=2))).json()
    assert await level(client) == (10, 8, 2, 0)

    async def expired() -> bool:
        read = await client.get(f"/v1/reservations/{made['reservation_id']}", headers=CHECKOUT)
        return bool(read.json()["status"] == "expired")

    await wait_for(expired)
    assert await level(client) == (10, 10, 0, 0)
    assert_problem(
        await post(client, made["reservation_id"], "confirm"), 409, "reservation_expired"
    )
    cancelled = await post(client, made["reservation_id"], "cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "expired"
    stats = (await client.get("/v1/admin/promotions/fs/stats", headers=ADMIN)).json()
    assert (stats["reservations"], stats["expired"]) == (1, 1)


async def test_a_confirmation_that_reached_redis_is_recorded_by_the_sweeper(
    start: Start,
) -> None:
    """Redis confirmed, the ledger write was lost: past the expiry the sweeper
    finds the confirmation in Redis and writes the order, instead of selling the
    units again."""
    running = await start(reservation_ttl_seconds=1, sweep_interval_seconds=0.2)
    client = running.client
    await create(client, flash())
    made = (await reserve(client, body("o-1", qty=2))).json()
    rid = made["reservation_id"]
    done = await running.wiring.stock.confirm(
        rid, promotion_ids=["fs"], now=(await running.wiring.ledger.get(rid)).created_at
    )
    assert done.ok

    async def confirmed() -> bool:
        read = await client.get(f"/v1/reservations/{rid}", headers=CHECKOUT)
        return bool(read.json()["status"] == "confirmed")

    await wait_for(confirmed)
    assert await level(client) == (10, 8, 0, 2)
    stats = (await client.get("/v1/admin/promotions/fs/stats", headers=ADMIN)).json()
    assert (stats["confirmed"], stats["gmv"]) == (1, made["quote"]["total"])


async def test_takes_left_in_redis_are_settled_as_the_ledger_says(start: Start) -> None:
    """Past expiry and grace, a take still held in Redis is released when the ledger
    has no open reservation for it, and confirmed when the ledger confirmed it
    (as after a rebuild that raced a confirmation): a sold unit never comes back."""
    running = await start(
        reservation_ttl_seconds=1, sweep_interval_seconds=0.2, sweep_grace_seconds=0.3
    )
    client = running.client
    wiring = running.wiring
    await create(client, flash())
    sold = (await reserve(client, body("o-1", qty=2))).json()["reservation_id"]
    found = await wiring.ledger.get(sold)
    assert await wiring.ledger.confirm(sold, order_of(found), now=found.created_at)  # PG only
    now = datetime.now(UTC)
    orphan = await wiring.stock.take(
        "r-orphan",
        customer_id="u-9",
        takes=[PromotionTake("fs", flash=(FlashTake("HOT", 2, 2),))],
        now=now,
        expires_at=now + timedelta(seconds=1),
    )
    assert orphan.ok  # a take whose reservation row never got written
    assert await level(client) == (10, 6, 4, 0)

    async def settled() -> bool:
        return await level(client) == (10, 8, 0, 2)

    await wait_for(settled)
    await asyncio.sleep(0.5)
    assert await level(client) == (10, 8, 0, 2)


async def test_confirming_past_the_expiry_is_409_reservation_expired(start: Start) -> None:
    running = await start(reservation_ttl_seconds=1, sweep_interval_seconds=60)
    client = running.client
    await create(client, flash())
    rid = (await reserve(client, body("o-1"))).json()["reservation_id"]
    await asyncio.sleep(1.1)  # the sweeper is asleep: confirm finds it expired itself
    assert_problem(await post(client, rid, "confirm"), 409, "reservation_expired")
    assert await level(client) == (10, 10, 0, 0)
    read = await client.get(f"/v1/reservations/{rid}", headers=CHECKOUT)
    assert read.json()["status"] == "expired"


# -------------------------------------------------------------- Redis unreachable


async def test_without_redis_quotes_degrade_and_reservations_are_503(start: Start) -> None:
    running = await start(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_seconds=0.3)
    client = running.client
    await create(client, flash())  # stored; its stock is loaded once Redis answers
    cart = {"customer": {"id": "u-1"}, "lines": [{"sku": "HOT", "qty": 1, "unit_price": LIST}]}
    quoted = await client.post("/v1/quote", json=cart, headers=CHECKOUT)
    assert quoted.status_code == 200
    assert quoted.json()["degraded"] is True
    assert quoted.json()["warnings"]
    assert quoted.json()["total"] == LIST  # no flash price without stock

    refused = await reserve(client, body("o-1"))
    assert_problem(refused, 503, "unavailable")
    assert refused.headers["retry-after"].isdigit()
    assert await running.wiring.ledger.by_order("o-1") is None
    assert_problem(await client.get("/v1/flash-sales/fs", headers=CHECKOUT), 503, "unavailable")


async def test_failed_codes_in_reservations_count_like_in_quotes(start: Start) -> None:
    """Guessing codes through reservations is limited as through quotes: each unknown
    code presented counts, past the limit 429 ``rate_limited``, nothing taken."""
    client = (await start(code_attempts_per_customer=3)).client
    await create(client, flash(stock=10, limit=None))
    for n in range(3):
        made = await reserve(client, body(f"o-{n}", coupon_codes=[f"GUESS{n}"]))
        assert made.status_code == 201, made.text
        assert made.json()["quote"]["coupons"][0]["reason"] == "unknown_code"
    limited = await reserve(client, body("o-9", coupon_codes=["GUESS9"]))
    problem = assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1, problem
    assert await level(client) == (10, 7, 3, 0)  # the refused one took nothing
    # without codes the customer still reserves
    assert (await reserve(client, body("o-10"))).status_code == 201
