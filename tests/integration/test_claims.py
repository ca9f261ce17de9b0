"""领券 under a rush, on PostgreSQL + Redis through the app (lifespan running),
and on the 3-node Redis Cluster at the counters' level.

- 1,000 concurrent claims (at most 150 in flight) from 300 customers for
  ``max_claims`` 100 and ``max_claims_per_customer`` 1: exactly 100 codes,
  nobody holds two, the database and Redis agree.
- The same with Redis emptied (the service's keys deleted) mid-burst: no
  limit exceeded, every code answered 201 is stored, and a rebuild makes
  Redis and the database agree again.
- 200 concurrent reservations presenting one claimed single-use code: exactly
  one; cancelled, the code is usable again; confirmed, it is ``used``.
- ``auto_coupons`` against a brute-force oracle over every subset of a
  10-coupon wallet spread over several exclusion groups.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import func, select

from app.coupons.claims import ClaimCode, ClaimLimits, StoredClaim
from app.coupons.redis_claims import RedisClaims
from app.inventory.keys import KeySpace
from app.rules.engine import price
from app.rules.model import Customer, Line, PresentedCoupon, QuoteRequest, Readings
from app.storage.tables import CouponClaimRow, CouponCodeRow
from tests.conftest import ADMIN, CHECKOUT, Running, Start
from tests.integration.redis_servers import (
    T0,
    LocalCluster,
    delete_prefix,
    local_cluster,
    race_customers,
    unique_prefix,
)
from tests.integration.test_faults import OwnRedis
from tests.integration.test_faults import own_redis as own_redis  # a fixture

pytestmark = pytest.mark.slow

CLAIMS = 1000
CUSTOMERS = 300
LIMIT = 100
IN_FLIGHT = 150
# deadlines of a loaded service; the in-flight bound (load shedding) raised above the
# bursts these tests keep in flight: they are about exact quotas, not about shedding
SHARED_LOOP = {
    "redis_timeout_seconds": 5.0,
    "db_timeout_seconds": 10.0,
    "max_in_flight_requests": 2000,
}


def hot_coupon(promotion_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": promotion_id,
        "trigger": "coupon",
        "benefit": {"type": "amount_off", "amount": 1000},
        "limits": {"max_claims": LIMIT, "max_claims_per_customer": 1},
        **changes,
    }


async def claim_burst(
    client: httpx.AsyncClient, promotion_id: str, customers: list[str], *, midway: Any = None
) -> list[tuple[str, httpx.Response]]:
    gate = asyncio.Semaphore(IN_FLIGHT)
    done = [0]

    async def one(customer: str) -> tuple[str, httpx.Response]:
        async with gate:
            body = {"customer_id": customer, "promotion_id": promotion_id}
            response = await client.post("/v1/coupons/claim", json=body, headers=CHECKOUT)
            done[0] += 1
            if midway is not None and done[0] == CLAIMS // 4:
                await midway()
            return customer, response

    return await asyncio.gather(*(one(c) for c in customers))


async def stored_claims(running: Running, promotion_id: str) -> list[tuple[str, str]]:
    async with running.wiring.engine.connect() as conn:
        rows = await conn.execute(
            select(CouponClaimRow.customer_id, CouponClaimRow.code).where(
                CouponClaimRow.promotion_id == promotion_id
            )
        )
        codes = await conn.scalar(
            select(func.count())
            .select_from(CouponCodeRow)
            .where(CouponCodeRow.promotion_id == promotion_id)
        )
    claims = [(r.customer_id, r.code) for r in rows]
    assert codes == len(claims)
    return claims


async def test_a_thousand_claims_give_exactly_the_limit(start_postgres: Start) -> None:
    running = await start_postgres(**SHARED_LOOP)
    client = running.client
    await client.post("/v1/admin/promotions", json=hot_coupon("hot"), headers=ADMIN)
    customers = race_customers(CLAIMS, CUSTOMERS, seed=15)

    results = await claim_burst(client, "hot", customers)

    statuses = Counter(r.status_code for _, r in results)
    assert statuses == {201: LIMIT, 409: CLAIMS - LIMIT}, statuses
    assert {r.json()["code"] for _, r in results if r.status_code == 409} == {"limit_reached"}
    winners = [(c, r.json()["code"]) for c, r in results if r.status_code == 201]
    assert max(Counter(c for c, _ in winners).values()) == 1
    stored = await stored_claims(running, "hot")
    assert sorted(stored) == sorted(winners)
    assert await stored_slots(running, "hot") == list(range(1, LIMIT + 1))
    promotion = running.wiring.snapshot.rules.get("hot")
    assert await running.wiring.claims.reconcile(promotion) == []


async def stored_slots(running: Running, promotion_id: str) -> list[int]:
    async with running.wiring.engine.connect() as conn:
        rows = await conn.scalars(
            select(CouponClaimRow.slot).where(CouponClaimRow.promotion_id == promotion_id)
        )
        return sorted(rows)


@pytest.mark.parametrize("limit", [10, 12])
async def test_counters_behind_the_database_are_rebuilt_and_the_limit_holds(
    start_postgres: Start, limit: int
) -> None:
    """Redis loses its last three claims (an AOF that lost its last second): the
    next claim gets a slot a stored claim holds, the database refuses it, the
    counters are rebuilt from the database (503, retry), and the limit holds."""
    running = await start_postgres(**SHARED_LOOP)
    client = running.client
    coupon = hot_coupon("lossy", limits={"max_claims": limit, "max_claims_per_customer": 1})
    await client.post("/v1/admin/promotions", json=coupon, headers=ADMIN)
    for n in range(10):
        body = {"customer_id": f"u-{n}", "promotion_id": "lossy"}
        assert (await client.post("/v1/coupons/claim", json=body, headers=CHECKOUT)).is_success
    redis = running.wiring.redis
    keys = KeySpace(running.wiring.settings.redis_prefix).promotion("lossy")
    records = {k.decode(): v.decode() for k, v in (await redis.hgetall(keys.claim_ids)).items()}
    lost = sorted(records, key=lambda k: int(records[k].rsplit(" ", 1)[1]))[-3:]
    for claim_id in lost:
        customer = records[claim_id].split(" ")[1]
        await redis.hdel(keys.claim_ids, claim_id)
        await redis.hdel(keys.claimers, customer)
    await redis.hincrby(keys.claims, "next_slot", -3)

    body = {"customer_id": "late", "promotion_id": "lossy"}
    clash = await client.post("/v1/coupons/claim", json=body, headers=CHECKOUT)
    assert clash.status_code == 503, clash.text
    assert clash.json()["code"] == "unavailable"
    retry = await client.post("/v1/coupons/claim", json=body, headers=CHECKOUT)
    if limit == 10:
        assert retry.status_code == 409, retry.text
        assert retry.json()["code"] == "limit_reached"
    else:
        assert retry.status_code == 201, retry.text
    assert await stored_slots(running, "lossy") == list(range(1, min(limit, 11) + 1))
    promotion = running.wiring.snapshot.rules.get("lossy")
    assert await running.wiring.claims.reconcile(promotion) == []


async def test_slots_taken_back_are_given_again_and_rebuilt_as_free(
    start_postgres: Start,
) -> None:
    """A claim taken back (the database did not store it) frees its slot for the
    next claim; a rebuild from stored claims with a hole hands the hole out first."""
    running = await start_postgres(**SHARED_LOOP)
    counters = RedisClaims(running.wiring.redis, prefix=unique_prefix(), timeout=5)
    limits = ClaimLimits(max_claims=5)

    async def claim(n: int, customer: str = "u 1") -> Any:  # a customer id with a space
        return await counters.claim(
            "p", claim_id=f"c{n}", customer_id=customer, code=f"CODE{n}", limits=limits, now=T0
        )

    assert await counters.rebuild("p", [], now=T0)
    assert [(await claim(n)).slot for n in range(3)] == [1, 2, 3]
    assert (await claim(1)).slot == 2  # a replay: its own slot
    assert await counters.unclaim("p", "c1")
    assert (await claim(9)).slot == 2
    assert (await claim(10)).slot == 4

    stored = [StoredClaim(f"s{slot}", "p", "u-2", f"S{slot}", T0, slot) for slot in (1, 2, 5)]
    await counters.unload("p")
    assert await counters.rebuild("p", stored, now=T0)
    slots = sorted([(await claim(20 + n, f"n{n}")).slot for n in range(2)])
    assert slots == [3, 4]
    assert (await claim(30, "n9")).code is ClaimCode.LIMIT_REACHED


async def test_redis_emptied_mid_burst(start_postgres: Start) -> None:
    running = await start_postgres(**SHARED_LOOP)
    client = running.client
    prefix = running.wiring.settings.redis_prefix
    await client.post("/v1/admin/promotions", json=hot_coupon("hot"), headers=ADMIN)
    customers = race_customers(CLAIMS, CUSTOMERS, seed=16)
    emptied = [0]

    async def empty_redis() -> None:
        emptied[0] += 1
        await delete_prefix(running.wiring.redis, prefix)

    results = await claim_burst(client, "hot", customers, midway=empty_redis)

    assert emptied[0] == 1
    statuses = Counter(r.status_code for _, r in results)
    assert set(statuses) <= {201, 409, 503}, statuses
    winners = [(c, r.json()["code"]) for c, r in results if r.status_code == 201]
    stored = await stored_claims(running, "hot")
    assert len(stored) <= LIMIT  # no limit exceeded
    assert max(Counter(c for c, _ in stored).values()) == 1  # nobody holds two
    assert set(winners) <= set(stored)  # no code answered 201 is lost
    assert len(winners) == len(stored)
    promotion = running.wiring.snapshot.rules.get("hot")
    await running.wiring.claims.rebuild(promotion)
    assert await running.wiring.claims.reconcile(promotion) == []
    # what is left of the limit can still be claimed, and no more
    more = await claim_burst(client, "hot", [f"late-{n}" for n in range(LIMIT)])
    assert sum(r.status_code == 201 for _, r in more) == LIMIT - len(stored)
    assert len(await stored_claims(running, "hot")) == LIMIT


async def test_two_hundred_reservations_of_one_claimed_code(start_postgres: Start) -> None:
    running = await start_postgres(**SHARED_LOOP)
    client = running.client
    await client.post("/v1/admin/promotions", json=hot_coupon("one"), headers=ADMIN)
    claimed = await client.post(
        "/v1/coupons/claim", json={"customer_id": "u-1", "promotion_id": "one"}, headers=CHECKOUT
    )
    code = claimed.json()["code"]

    def body(order_id: str) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "customer": {"id": "u-1"},
            "lines": [{"sku": "A", "qty": 1, "unit_price": 5000}],
            "coupon_codes": [code],
            "expected_total": 4000,
        }

    async def reserve(order_id: str) -> httpx.Response:
        return await client.post("/v1/reservations", json=body(order_id), headers=CHECKOUT)

    results = await asyncio.gather(*(reserve(f"o-{n}") for n in range(200)))
    made = [r for r in results if r.status_code == 201]
    assert len(made) == 1, Counter(r.status_code for r in results)
    assert {r.json()["code"] for r in results if r.status_code != 201} <= {
        "conflict",
        "price_changed",
    }

    async def status() -> str:
        wallet = (await client.get("/v1/customers/u-1/coupons", headers=CHECKOUT)).json()
        (coupon,) = wallet["coupons"]
        return str(coupon["status"])

    assert await status() == "reserved"
    first = made[0].json()["reservation_id"]
    cancelled = await client.post(f"/v1/reservations/{first}/cancel", headers=CHECKOUT)
    assert cancelled.status_code == 200
    assert await status() == "available"
    again = await reserve("o-again")
    assert again.status_code == 201, again.text
    second = again.json()["reservation_id"]
    confirmed = await client.post(f"/v1/reservations/{second}/confirm", headers=CHECKOUT)
    assert confirmed.status_code == 200
    assert await status() == "used"
    used = await reserve("o-after")
    assert used.status_code == 409


GROUPS = ["coupon", "coupon", "coupon", "shop:m1", "shop:m1", "shop:m2", "shop:m2", "ship", "x"]


def wallet_coupons(seed: int) -> list[dict[str, Any]]:
    """Ten coupons over several exclusion groups: platform coupons (default group
    ``coupon``), shop coupons per merchant, percent and threshold ones."""
    rng = random.Random(seed)
    bodies = []
    for n in range(10):
        group = GROUPS[n % len(GROUPS)]
        merchant = group.split(":")[1] if group.startswith("shop:") else None
        benefit = rng.choice(
            [
                {"type": "amount_off", "amount": rng.randrange(500, 5000, 100)},
                {"type": "percent_off", "percent": rng.choice([5, 10, 15])},
                {
                    "type": "threshold",
                    "tiers": [{"min_amount": rng.randrange(5000, 30000, 1000), "amount_off": 2000}],
                },
            ]
        )
        bodies.append(
            {
                "id": f"w{n}",
                "trigger": "coupon",
                "exclusion_group": None if group == "coupon" else group,
                "scope": {"merchants": [merchant]} if merchant else {},
                "benefit": benefit,
            }
        )
    return bodies


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_auto_coupons_pick_the_best_of_the_wallet(start_postgres: Start, seed: int) -> None:
    running = await start_postgres(**SHARED_LOOP)
    client = running.client
    for body in wallet_coupons(seed):
        response = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        claim = {"customer_id": "u-1", "promotion_id": body["id"]}
        assert (await client.post("/v1/coupons/claim", json=claim, headers=CHECKOUT)).is_success
    lines = [
        {"sku": "A", "qty": 2, "unit_price": 9900, "merchant": "m1"},
        {"sku": "B", "qty": 1, "unit_price": 15900, "merchant": "m2"},
        {"sku": "C", "qty": 3, "unit_price": 2900, "merchant": "m3"},
    ]
    cart = {"customer": {"id": "u-1"}, "lines": lines, "auto_coupons": True}
    quoted = (await client.post("/v1/quote", json=cart, headers=CHECKOUT)).json()

    # the oracle: price every subset of the wallet presented by hand, take the lowest
    wallet = (await client.get("/v1/customers/u-1/coupons", headers=CHECKOUT)).json()
    codes = [(c["code"], c["promotion_id"]) for c in wallet["coupons"]]
    assert len(codes) == 10
    rules = running.wiring.snapshot.rules
    request = QuoteRequest(
        lines=tuple(
            Line(str(i), x["sku"], x["qty"], x["unit_price"], merchant=x["merchant"])
            for i, x in enumerate(lines, start=1)
        ),
        at=T0,
        customer=Customer(id="u-1"),
        readings=Readings(),
    )
    best = min(
        price(
            rules,
            QuoteRequest(
                lines=request.lines,
                at=T0,
                customer=request.customer,
                coupons=tuple(PresentedCoupon(c, p, owner="u-1") for c, p in subset),
            ),
        ).total
        for size in range(len(codes) + 1)
        for subset in itertools.combinations(codes, size)
    )
    assert quoted["optimal"] is True
    assert quoted["total"] == best


# ------------------------------------------------------------------ the cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not LocalCluster.available():
        pytest.skip("redis-server / redis-cli not installed: no local cluster")
    with local_cluster(tmp_path_factory.mktemp("redis-cluster-claims")) as running:
        yield running


@pytest.fixture
async def cluster_client(cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    redis = RedisCluster(host="127.0.0.1", port=cluster.ports[0], max_connections=100)
    await redis.initialize()
    yield redis
    await redis.aclose()


async def test_claims_on_the_cluster(cluster_client: RedisCluster) -> None:
    counters = RedisClaims(cluster_client, prefix=unique_prefix(), timeout=20)
    limits = ClaimLimits(max_claims=LIMIT, max_claims_per_customer=1)
    promotion_ids = [f"hot-{n}" for n in range(3)]  # three slots, likely on three nodes
    for promotion_id in promotion_ids:
        assert await counters.rebuild(promotion_id, [], now=T0)
    customers = race_customers(CLAIMS, CUSTOMERS, seed=17)
    gate = asyncio.Semaphore(80)  # the cluster client raises on an exhausted pool

    async def one(promotion_id: str, n: int, customer: str) -> tuple[str, Any]:
        async with gate:
            answer = await counters.claim(
                promotion_id, claim_id=f"{promotion_id}-{n}", customer_id=customer,
                code=f"CODE{promotion_id}{n}", limits=limits, now=T0,
            )  # fmt: skip
        return customer, answer

    for promotion_id in promotion_ids:
        results = await asyncio.gather(*(one(promotion_id, n, c) for n, c in enumerate(customers)))
        winners = [c for c, a in results if a.code is ClaimCode.OK]
        assert len(winners) == LIMIT
        assert sorted(a.slot for _, a in results if a.code is ClaimCode.OK) == list(
            range(1, LIMIT + 1)
        )
        assert max(Counter(winners).values()) == 1
        assert {a.code for _, a in results} == {ClaimCode.OK, ClaimCode.LIMIT_REACHED}
        state = await counters.inspect(promotion_id)
        assert state is not None
        assert state.total == LIMIT
        assert sum(state.by_customer.values()) == LIMIT
        # a replayed claim (redis-py re-sending it) gives the same code, claims nothing
        replay = await counters.claim(
            promotion_id, claim_id=f"{promotion_id}-0", customer_id=customers[0],
            code="OTHER", limits=limits, now=T0,
        )  # fmt: skip
        assert replay.code in (ClaimCode.OK, ClaimCode.LIMIT_REACHED)
        if replay.code is ClaimCode.OK:
            assert (replay.detail, replay.value) == ("replay", f"CODE{promotion_id}0")


async def test_concurrent_claims_share_pipelines_and_survive_a_flushed_script_cache(
    own_redis: OwnRedis,
) -> None:
    """On a single Redis, claims in flight together go in one pipeline (one round
    trip for many ``EVALSHA``); each still gets its own answer, and when Redis has
    forgotten the script (``SCRIPT FLUSH``, a restart) each is run again alone."""
    client = Redis.from_url(own_redis.url)
    pipelines = 0
    opened = client.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return opened(*args, **kwargs)

    client.pipeline = counting  # type: ignore[method-assign]
    try:
        counters = RedisClaims(client, prefix=unique_prefix(), timeout=5)
        limits = ClaimLimits(max_claims=150, max_claims_per_customer=1)
        assert await counters.rebuild("p", [], now=T0)
        for flushed in (False, True):
            if flushed:
                await client.script_flush()
            pipelines = 0
            first = 0 if not flushed else 100
            answers = await asyncio.gather(
                *(
                    counters.claim("p", claim_id=f"c{n}", customer_id=f"u{n}",
                                   code=f"CODE{n}", limits=limits, now=T0)
                    for n in range(first, first + 100)
                )
            )  # fmt: skip
            assert 1 <= pipelines < 20, pipelines
            oks = [a for a in answers if a.code is ClaimCode.OK]
            if not flushed:
                assert len(oks) == 100
                assert sorted(a.slot for a in oks) == list(range(1, 101))
            else:  # 50 left of 150, whatever the script cache did
                assert len(oks) == 50
                assert {a.code for a in answers} == {ClaimCode.OK, ClaimCode.LIMIT_REACHED}
        state = await counters.inspect("p")
        assert state is not None
        assert state.total == 150
    finally:
        await client.aclose()
