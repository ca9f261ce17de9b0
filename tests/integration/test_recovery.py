"""Redis comes back empty: the counters are rebuilt from the PostgreSQL ledger.

Against a redis-server of the test's own (on a spare loopback port, so that
FLUSHALL touches nobody else's keys): reserve and confirm, flush Redis, then
rebuild with ``python -m app.cli.recover rebuild`` or by restarting the
service, and check that nothing can be sold twice, that the ledger's orders
are intact and that ``reconcile`` agrees (exit 0), or reports a counter that
was tampered with (exit 1). The rebuild script's own rules are checked on the
adapter, against real Redis and fakeredis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest
from redis.asyncio import Redis

from app.inventory.recovery import Recovery
from app.inventory.redis_stock import RedisStock
from app.inventory.stock import (
    ConfirmCode,
    FlashTake,
    HeldTake,
    LedgerCounts,
    PromotionTake,
    TakeCode,
)
from app.inventory.sweeper import Sweeper
from app.rules.model import FlashItem, FlashSale, Promotion
from app.rules.ruleset import RuleSet
from tests.api.test_admin import assert_problem
from tests.api.test_reservations import with_stale_counters
from tests.conftest import ADMIN, CHECKOUT, PG_URL, Backend, Start
from tests.integration.processes import ROOT, free_port
from tests.integration.redis_servers import REDIS_URL, T0, delete_prefix, unique_prefix

pytestmark = pytest.mark.slow

FLASH = {
    "id": "rec-flash",
    "benefit": {
        "type": "flash_sale",
        "items": [{"sku": "R", "price": 1000, "stock": 10, "per_customer_limit": 5}],
    },
}
CAPPED = {
    "id": "rec-capped",
    "limits": {"max_uses": 10, "budget": 100_000},
    "benefit": {"type": "amount_off", "amount": 100},
}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own; its URL."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    log = (tmp_path / "redis.log").open("wb")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
            ).stdout.strip()
            != "PONG"
        ):
            assert process.poll() is None, "redis-server died"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def flushall(url: str) -> None:
    client = Redis.from_url(url)
    try:
        await client.flushall()
    finally:
        await client.aclose()


async def recover(backend: Backend, redis_url: str, command: str) -> tuple[int, str]:
    options = backend.options
    env = {
        **os.environ,
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": options["database_schema"],
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": options["redis_prefix"],
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli.recover", command, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def level(client: httpx.AsyncClient) -> tuple[int, int, int, int]:
    response = await client.get("/v1/flash-sales/rec-flash", headers=CHECKOUT)
    assert response.status_code == 200, response.text
    item = response.json()["items"][0]
    return item["initial"], item["available"], item["reserved"], item["sold"]


async def reserve(client: httpx.AsyncClient, order_id: str, customer: str, qty: int) -> Any:
    made = await client.post(
        "/v1/reservations",
        json={
            "order_id": order_id,
            "customer": {"id": customer},
            "lines": [{"sku": "R", "qty": qty, "unit_price": 3000}],
        },
        headers=CHECKOUT,
    )
    assert made.status_code == 201, made.text
    return made.json()


async def verb(client: httpx.AsyncClient, reservation: Any, action: str) -> Any:
    done = await client.post(
        f"/v1/reservations/{reservation['reservation_id']}/{action}", headers=CHECKOUT
    )
    assert done.status_code == 200, done.text
    return done.json()


def flash_units(reservation: Any) -> int:
    return sum(
        a["units"]
        for line in reservation["quote"]["lines"]
        for a in line["adjustments"]
        if a["promotion_id"] == "rec-flash"
    )


async def sell_some(client: httpx.AsyncClient) -> Any:
    """Two confirmed (3 units), one cancelled, one open (3 units); returns the open one."""
    for promotion in (FLASH, CAPPED):
        created = await client.post("/v1/admin/promotions", json=promotion, headers=ADMIN)
        assert created.status_code == 201, created.text
    await verb(client, await reserve(client, "o-1", "u-1", 2), "confirm")
    await verb(client, await reserve(client, "o-2", "u-2", 1), "confirm")
    await verb(client, await reserve(client, "o-3", "u-3", 4), "cancel")
    held = await reserve(client, "o-4", "u-4", 3)
    assert await level(client) == (10, 4, 3, 3)
    return held


async def counters(client: httpx.AsyncClient) -> tuple[int, int]:
    stats = (await client.get("/v1/admin/promotions/rec-capped/stats", headers=ADMIN)).json()
    return stats["confirmed"], stats["budget_spent"]


async def test_rebuild_by_command_after_flushall_sells_nothing_twice(
    start_postgres: Start, postgres_backend: Backend, own_redis: str
) -> None:
    running = await start_postgres(redis_url=own_redis, sweep_interval_seconds=60)
    client = running.client
    held = await sell_some(client)
    assert await recover(postgres_backend, own_redis, "reconcile") == (
        0,
        "2 promotions checked, 0 differences\n",
    )

    await flushall(own_redis)
    response = await client.get("/v1/flash-sales/rec-flash", headers=CHECKOUT)
    assert response.status_code == 503  # not loaded: nothing is sold from an empty Redis
    refused = await client.post(
        "/v1/reservations",
        json={"order_id": "o-x", "customer": {"id": "u-x"}, "expected_total": 1000,
              "lines": [{"sku": "R", "qty": 1, "unit_price": 3000}]},
        headers=CHECKOUT,
    )  # fmt: skip
    assert refused.status_code in (409, 503), refused.text  # no flash price to be had
    code, out = await recover(postgres_backend, own_redis, "rebuild")
    assert code == 0, out
    assert "rec-flash: rebuilt: R rebuilt initial 10 available 4" in out

    assert await level(client) == (10, 4, 3, 3)
    assert await recover(postgres_backend, own_redis, "reconcile") == (
        0,
        "2 promotions checked, 0 differences\n",
    )
    # a quote that still believed the configured stock cannot take more than is left
    live = running.wiring.reservations
    with_stale_counters(running)
    stale = await client.post(
        "/v1/reservations",
        json={"order_id": "o-stale", "customer": {"id": "u-s"},
              "lines": [{"sku": "R", "qty": 5, "unit_price": 3000}]},
        headers=CHECKOUT,
    )  # fmt: skip
    assert_problem(stale, 409, "sold_out")
    running.wiring.reservations = live
    assert await level(client) == (10, 4, 3, 3)
    # the open reservation survived the flush: it can be confirmed
    await verb(client, held, "confirm")
    assert await level(client) == (10, 4, 0, 6)
    # more than remains: the flash price goes to what is left, no unit twice
    greedy = await reserve(client, "o-5", "u-5", 5)
    assert flash_units(greedy) == 4
    assert await level(client) == (10, 0, 4, 6)
    late = await reserve(client, "o-6", "u-6", 1)
    assert flash_units(late) == 0
    assert await level(client) == (10, 0, 4, 6)
    # the ledger's orders are all there, and uses / budget came back with them
    assert await counters(client) == (3, 500)
    flash_stats = (await client.get("/v1/admin/promotions/rec-flash/stats", headers=ADMIN)).json()
    assert flash_stats["confirmed"] == 3
    assert flash_stats["gmv"] == 2 * 1000 - 100 + 1000 - 100 + 3 * 1000 - 100

    tamper = Redis.from_url(own_redis)
    try:
        key = running.wiring.stock.keys.promotion("rec-flash").stock("R")
        await tamper.hincrby(key, "available", 2)
    finally:
        await tamper.aclose()
    code, out = await recover(postgres_backend, own_redis, "reconcile")
    assert code == 1
    assert "rec-flash available+reserved+sold!=initial sku R: redis 12, ledger 10" in out


async def test_a_restart_on_an_empty_redis_rebuilds_and_so_does_the_sweeper(
    start_postgres: Start, postgres_backend: Backend, own_redis: str
) -> None:
    first = await start_postgres(redis_url=own_redis, sweep_interval_seconds=60)
    held = await sell_some(first.client)

    await flushall(own_redis)
    second = await start_postgres(redis_url=own_redis, sweep_interval_seconds=0.2)
    assert await level(second.client) == (10, 4, 3, 3)  # rebuilt at start-up
    assert await counters(second.client) == (2, 300)

    await flushall(own_redis)  # again, while the service runs
    deadline = time.monotonic() + 5
    while (
        await second.client.get("/v1/flash-sales/rec-flash", headers=CHECKOUT)
    ).status_code != 200:
        assert time.monotonic() < deadline, "the sweeper did not rebuild"
        await asyncio.sleep(0.1)
    assert await level(second.client) == (10, 4, 3, 3)
    await verb(second.client, held, "cancel")
    assert await level(second.client) == (10, 7, 0, 3)
    assert await counters(second.client) == (2, 200)
    code, out = await recover(postgres_backend, own_redis, "reconcile")
    assert code == 0, out


# ------------------------------------------------------- the rebuild script itself


class FixedLedger:
    def __init__(self, counts: LedgerCounts) -> None:
        self.counts = counts

    async def ledger_counts(self, promotion_id: str) -> LedgerCounts:
        return self.counts


@pytest.fixture(params=["redis", "fakeredis"])
async def stock(request: pytest.FixtureRequest) -> AsyncIterator[RedisStock]:
    client: Redis
    if request.param == "redis":
        client = Redis.from_url(REDIS_URL)
    else:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    prefix = unique_prefix()
    yield RedisStock(client, prefix=prefix, timeout=5)
    await delete_prefix(client, prefix)
    await client.aclose()


PROMOTION = Promotion(
    id="p", name="p", benefit=FlashSale((FlashItem("A", 100, 10, 3), FlashItem("B", 100, 5)))
)


def held(rid: str, customer: str, units: dict[str, int], *, use: bool = False) -> HeldTake:
    return HeldTake(rid, customer, T0 + timedelta(minutes=15), units, use=use, budget_amount=7)


async def test_rebuild_counts_the_ledger_and_trusts_final_records(stock: RedisStock) -> None:
    """A forced rebuild over live counters: confirmed and open reservations from the
    ledger; an open one whose record here says confirmed counts as sold, one that
    says released counts nothing; the open ones can be confirmed and released."""
    await stock.load_stock("p", PROMOTION.benefit.items, now=T0)  # type: ignore[union-attr]
    take = PromotionTake("p", flash=(FlashTake("A", 1, 3),), use=True, budget_amount=7)
    for rid in ("r-confirmed-late", "r-released-late"):
        answer = await stock.take(
            rid, customer_id="c9", takes=[take], now=T0, expires_at=T0 + timedelta(minutes=15)
        )
        assert answer.code is TakeCode.OK
    assert (await stock.confirm("r-confirmed-late", promotion_ids=["p"], now=T0)).ok
    await stock.release("r-released-late", promotion_ids=["p"], now=T0)

    counts = LedgerCounts(
        "p",
        confirmed=(held("r-1", "c1", {"A": 2}, use=True),),
        open=(
            held("r-2", "c2", {"A": 1, "B": 2}, use=True),
            held("r-confirmed-late", "c9", {"A": 1}, use=True),
            held("r-released-late", "c9", {"A": 1}, use=True),
        ),
    )
    recovery = Recovery(stock, FixedLedger(counts))
    changes = await recovery.rebuild(PROMOTION, now=T0)
    assert {(c.sku, c.initial, c.available) for c in changes} == {("A", 10, 6), ("B", 5, 3)}
    state = await stock.inspect("p")
    assert state.loaded
    assert {sku: (x.reserved, x.sold) for sku, x in state.stock.items()} == {
        "A": (1, 3),
        "B": (2, 0),
    }
    assert state.holdings == {"A": {"c1": 2, "c2": 1, "c9": 1}, "B": {"c2": 2}}
    assert (state.uses, state.budget_spent) == (3, 21)
    assert state.customer_uses == {"c1": 1, "c2": 1, "c9": 1}
    assert state.open == {"r-2"}

    assert (await stock.confirm("r-2", promotion_ids=["p"], now=T0)).code is ConfirmCode.CONFIRMED
    assert {sku: x.sold for sku, x in (await stock.read("p")).items()} == {"A": 4, "B": 2}
    # a promotion that is loaded is not rebuilt over by ensure
    assert await recovery.ensure(PROMOTION, now=T0) == "adjusted"


async def test_ensure_rebuilds_only_what_lost_its_marker(stock: RedisStock) -> None:
    counts = LedgerCounts("p", confirmed=(held("r-1", "c1", {"A": 4}),))
    recovery = Recovery(stock, FixedLedger(counts))
    assert await recovery.ensure(PROMOTION, now=T0) == "rebuilt"
    assert {s: (x.available, x.sold) for s, x in (await stock.read("p")).items()} == {
        "A": (6, 4),
        "B": (5, 0),
    }
    assert await recovery.keep([PROMOTION], now=T0) == 0  # loaded and unchanged
    await stock.redis.delete(stock.keys.promotion("p").promotion)
    assert await recovery.keep([PROMOTION], now=T0) == 1
    assert (await stock.read("p"))["A"].sold == 4


async def test_claim_counters_rebuilt_and_reconciled_by_command(
    start_postgres: Start, postgres_backend: Backend, own_redis: str
) -> None:
    running = await start_postgres(redis_url=own_redis, sweep_interval_seconds=60)
    client = running.client
    body = {
        "id": "rec-claims",
        "trigger": "coupon",
        "benefit": {"type": "amount_off", "amount": 100},
        "limits": {"max_claims": 3, "max_claims_per_customer": 1},
    }
    assert (await client.post("/v1/admin/promotions", json=body, headers=ADMIN)).status_code == 201
    for customer in ("u-1", "u-2"):
        claim = {"customer_id": customer, "promotion_id": "rec-claims"}
        response = await client.post("/v1/coupons/claim", json=claim, headers=CHECKOUT)
        assert response.status_code == 201, response.text
    assert await recover(postgres_backend, own_redis, "reconcile") == (
        0,
        "1 promotions checked, 0 differences\n",
    )
    await flushall(own_redis)
    code, out = await recover(postgres_backend, own_redis, "reconcile")
    assert (code, out) == (1, "rec-claims claims not_loaded\n1 promotions checked, 1 differences\n")
    code, out = await recover(postgres_backend, own_redis, "rebuild")
    assert (code, out) == (0, "rec-claims: claims rebuilt: 2\n")
    assert await recover(postgres_backend, own_redis, "reconcile") == (
        0,
        "1 promotions checked, 0 differences\n",
    )
    # the rebuilt counts hold: one more claim, then the limit
    again = {"customer_id": "u-1", "promotion_id": "rec-claims"}
    assert (await client.post("/v1/coupons/claim", json=again, headers=CHECKOUT)).status_code == 409
    third = {"customer_id": "u-3", "promotion_id": "rec-claims"}
    assert (await client.post("/v1/coupons/claim", json=third, headers=CHECKOUT)).status_code == 201
    fourth = {"customer_id": "u-4", "promotion_id": "rec-claims"}
    assert (
        await client.post("/v1/coupons/claim", json=fourth, headers=CHECKOUT)
    ).status_code == 409


class _NoLedger:
    """The sweeper's ledger with nothing in it (this test is about Redis)."""

    async def sweep_expired(self, **_: Any) -> int:
        return 0

    async def states(self, _ids: Any) -> dict[str, Any]:
        return {}


class _Rules:
    def __init__(self, promotions: list[Promotion]) -> None:
        self.rules = RuleSet(promotions, "v1")


async def test_the_sweeper_asks_redis_about_a_moving_window_and_what_requests_found_missing(
    stock: RedisStock,
) -> None:
    """With ``scan`` 2 and five promotions, a sweep looks at two of them (and at
    those a read found missing); all five are looked at within three sweeps."""
    promotions = [dataclasses.replace(PROMOTION, id=f"p{n}") for n in range(5)]
    recovery = Recovery(stock, FixedLedger(LedgerCounts("p")))
    sweeper = Sweeper(
        rules=_Rules(promotions),
        recovery=recovery,
        reservations=None,  # type: ignore[arg-type]  # nothing expires here
        ledger=_NoLedger(),  # type: ignore[arg-type]
        inventory=stock,
        interval=1,
        batch=10,
        scan=2,
        deadline=5,
        grace=timedelta(seconds=30),
        abandon=timedelta(seconds=60),
        clock=lambda: T0,
    )
    ids = [p.id for p in promotions]
    assert await recovery.keep(promotions, now=T0) == 5  # start-up: every one, once
    assert await stock.loaded(ids) == frozenset(ids)
    for promotion_id in ids:  # Redis loses them all
        await stock.unload(promotion_id)

    await sweeper.run_once()
    assert await stock.loaded(ids) == {"p0", "p1"}
    await stock.available_for(customer_id="c1", promotions=["p4"])  # a quote finds p4 missing
    await sweeper.run_once()
    assert await stock.loaded(ids) == {"p0", "p1", "p2", "p3", "p4"}
    for promotion_id in ids:
        await stock.unload(promotion_id)
    await sweeper.run_once()  # the window goes on where it was, round the end
    assert await stock.loaded(ids) == {"p4", "p0"}
    await sweeper.run_once()
    await sweeper.run_once()
    assert await stock.loaded(ids) == frozenset(ids)
