"""Scale-out: two real ``python -m app`` processes against one PostgreSQL and a
3-node Redis Cluster on loopback (``REDIS_URL=redis+cluster://...``).

* A promotion created through one instance is live on the other through the
  cluster's pub/sub (the database poll is set too slow to be what carries it).
* A flash sale and a coupon claim burst, hundreds of concurrent requests split
  over both instances: exactly the stock and the claim quotas are given, no
  customer holds more than the per-customer limits, and every reservation that
  is not confirmed expires and gives its unit back exactly once (a short TTL;
  both instances' sweepers run).
* A SIGTERM to one instance during a burst of reservations loses nothing: every
  request either completed (its reservation is in the ledger and its unit is
  reserved in Redis) or was never taken.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from tests.conftest import ADMIN, CHECKOUT
from tests.integration.processes import services
from tests.integration.redis_servers import LocalCluster, local_cluster, race_customers

pytestmark = pytest.mark.slow

# this suite's loopback ports: the cluster's nodes (bus ports + 10000) and the services
CLUSTER_PORTS = (18701, 18702, 18703)
SERVICE_PORTS = (18711, 18712)
LIST_PRICE = 5000
TTL = 15  # seconds: long enough for the burst, short enough to watch the expiry
IN_FLIGHT = 40  # over both instances
RETRIES = 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not LocalCluster.available():
        pytest.skip("redis-server / redis-cli not installed: no local cluster")
    with local_cluster(tmp_path_factory.mktemp("scale-out-cluster"), CLUSTER_PORTS) as running:
        yield running


def environment(cluster: LocalCluster, **more: str) -> dict[str, str]:
    return {
        "REDIS_URL": f"redis+cluster://127.0.0.1:{cluster.ports[0]}/0",
        "WORKERS": "1",
        # pub/sub over the cluster must carry a change; the poll is only a backstop
        "RULES_POLL_SECONDS": "30",
        # two processes on a shared 2-core machine: the deadlines of a loaded service
        "REDIS_TIMEOUT_SECONDS": "5",
        "DB_TIMEOUT_SECONDS": "10",
        "MAX_IN_FLIGHT_REQUESTS": "500",
        "REDIS_MAX_CONNECTIONS": "600",  # per node; the cluster client does not queue
        "DB_POOL_SIZE": "5",  # PostgreSQL's 100 connections are shared on this machine
        "DB_MAX_OVERFLOW": "5",
        "SWEEP_INTERVAL_SECONDS": "0.5",
        "SWEEP_GRACE_SECONDS": "1",
        **more,
    }


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    """A 503 takes nothing: retry the same body (same order_id / claim_id), as a
    checkout does, until it is decided. A connection lost before the answer (a
    kept-alive connection the server closed as the request went out: seen once in
    a full run) leaves the outcome unknown: the same body again answers it, since
    the id makes the retry take nothing twice."""
    for attempt in range(RETRIES):
        try:
            response = await client.post(path, json=body, headers=CHECKOUT, timeout=30)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            if attempt == RETRIES - 1:
                raise
            await asyncio.sleep(0.2)
            continue
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.2)
    return response


def reservation(order_id: str, customer: str, sku: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer": {"id": customer},
        "lines": [{"sku": sku, "qty": 1, "unit_price": LIST_PRICE}],
        "expected_total": 1000,  # the flash price, or 409 price_changed: only a unit sells
    }


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text


async def level(client: httpx.AsyncClient, promotion_id: str) -> dict[str, int]:
    response = await client.get(f"/v1/flash-sales/{promotion_id}", headers=CHECKOUT)
    assert response.status_code == 200, response.text
    item: dict[str, int] = response.json()["items"][0]
    return item


async def rules_version(client: httpx.AsyncClient) -> str:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    version: str = response.json()["rules_version"]
    return version


async def same_rules(writer: httpx.AsyncClient, other: httpx.AsyncClient, within: float) -> None:
    """Wait until ``other`` prices with the rules ``writer`` has after its write."""
    since, wanted = time.monotonic(), await rules_version(writer)
    while await rules_version(other) != wanted:
        assert time.monotonic() - since < within, f"the change is not live after {within}s"
        await asyncio.sleep(0.05)


def flash_sale(promotion_id: str, sku: str, stock: int, limit: int | None) -> dict[str, Any]:
    item: dict[str, Any] = {"sku": sku, "price": 1000, "stock": stock}
    if limit is not None:
        item["per_customer_limit"] = limit
    return {"id": promotion_id, "benefit": {"type": "flash_sale", "items": [item]}}


async def test_flash_sale_and_claims_across_two_instances_on_a_cluster(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    tag = uuid.uuid4().hex[:6]
    env = environment(cluster, RESERVATION_TTL_SECONDS=str(TTL))
    async with services(tmp_path, **env) as start:
        (a, _), (b, _) = await start("a", SERVICE_PORTS[0]), await start("b", SERVICE_PORTS[1])
        instances = (a, b)

        # ---- a flash sale of 40 units, limit 1 per customer: 300 takes from 220 customers
        flash_id, sku, stock = f"flash-{tag}", "D11-TV", 40
        await create(a, flash_sale(flash_id, sku, stock, 1))
        await same_rules(a, b, within=2.0)

        customers = race_customers(300, 220, seed=18)
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def take(n: int, customer: str) -> tuple[str, httpx.Response]:
            async with gate:
                body = reservation(f"o-{tag}-{n}", customer, sku)
                return customer, await post(instances[n % 2], "/v1/reservations", body)

        began = time.monotonic()
        taken = await asyncio.gather(*(take(n, c) for n, c in enumerate(customers)))
        burst = time.monotonic() - began
        assert burst < TTL, f"the burst took {burst:.1f}s, past the TTL: nothing can be judged"
        codes = Counter(
            "created" if r.status_code in (200, 201) else r.json()["code"] for _, r in taken
        )
        assert codes["created"] == stock, codes
        assert set(codes) <= {"created", "sold_out", "limit_reached", "price_changed"}, codes
        winners = [(c, r.json()) for c, r in taken if r.status_code in (200, 201)]
        assert max(Counter(c for c, _ in winners).values()) == 1  # the per-customer limit
        both = [await level(i, flash_id) for i in instances]
        assert both[0] == both[1]
        assert (both[0]["available"], both[0]["reserved"], both[0]["sold"]) == (0, stock, 0)

        # ---- half the winners confirm (on the other instance); the rest expire by TTL
        # (while the claim burst runs)
        async def confirm(n: int, made: dict[str, Any]) -> None:
            path = f"/v1/reservations/{made['reservation_id']}/confirm"
            done = await instances[(n + 1) % 2].post(path, headers=CHECKOUT)
            assert done.status_code == 200, done.text

        await asyncio.gather(*(confirm(n, r) for n, (_, r) in enumerate(winners) if n % 2 == 0))
        left = [r["reservation_id"] for n, (_, r) in enumerate(winners) if n % 2 == 1]
        # ---- a claim burst: 300 claims from 100 customers, 50 codes, 2 per customer
        coupon_id = f"coupon-{tag}"
        await create(
            b,
            {
                "id": coupon_id,
                "trigger": "coupon",
                "limits": {"max_claims": 50, "max_claims_per_customer": 2},
                "benefit": {"type": "amount_off", "amount": 1000},
            },
        )
        await same_rules(b, a, within=2.0)
        claimers = [f"u-{n % 100}" for n in range(300)]

        async def claim(n: int, customer: str) -> tuple[str, httpx.Response]:
            async with gate:
                body = {"customer_id": customer, "promotion_id": coupon_id, "claim_id": f"k{n}"}
                return customer, await post(instances[n % 2], "/v1/coupons/claim", body)

        claimed = await asyncio.gather(*(claim(n, c) for n, c in enumerate(claimers)))
        granted = [(c, r.json()) for c, r in claimed if r.status_code == 201]
        refused = Counter(r.json()["code"] for _, r in claimed if r.status_code != 201)
        assert len(granted) == 50
        assert refused == {"limit_reached": 250}
        assert max(Counter(c for c, _ in granted).values()) <= 2
        assert len({g["code"] for _, g in granted}) == 50
        stats = (await a.get(f"/v1/admin/promotions/{coupon_id}/stats", headers=ADMIN)).json()
        assert stats["claims"] == 50

        # a code claimed by another customer, presented on each instance: refused, and
        # counted as a failed attempt (one key per subject, in the cluster)
        for n, instance in enumerate(instances):
            guess = {
                "customer": {"id": f"guesser-{n}"},
                "lines": [{"sku": "X", "qty": 1, "unit_price": LIST_PRICE}],
                "coupon_codes": [granted[0][1]["code"]],
            }
            quoted = await instance.post("/v1/quote", json=guess, headers=CHECKOUT)
            assert quoted.status_code == 200, quoted.text
            assert quoted.json()["discount_total"] == 0

        deadline = time.monotonic() + TTL + 20
        while (await level(a, flash_id))["reserved"] > 0:
            assert time.monotonic() < deadline, await level(a, flash_id)
            await asyncio.sleep(0.5)
        await asyncio.sleep(2 * 0.5)  # two more sweeps on each instance: nothing more comes back
        sold = stock // 2
        for instance in instances:
            assert await level(instance, flash_id) == {
                "sku": sku, "price": 1000, "initial": stock, "available": stock - sold,
                "reserved": 0, "sold": sold, "per_customer_limit": 1,
            }  # fmt: skip
        for reservation_id in left:
            got = await b.get(f"/v1/reservations/{reservation_id}", headers=CHECKOUT)
            assert got.json()["status"] == "expired", got.text

        # in the promotion's slot: every record settled, the expired ones by expiry
        redis = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        try:
            records = [
                key async for key in redis.scan_iter(match=f"*{{p:{flash_id}}}:res:*", count=1000)
            ]
            states = Counter()
            for key in records:
                record = await redis.hgetall(key)
                states[(record[b"state"], record.get(b"reason"))] += 1
            assert states == {(b"confirmed", None): sold, (b"released", b"expired"): stock - sold}
            attempts = [key async for key in redis.scan_iter(match="*attempts:*", count=1000)]
            assert len(attempts) >= 2  # a customer each (and the API key)
        finally:
            await redis.aclose()
        # the cluster client learned the slots at start-up: the rules channel subscribed
        # at once (it used to fail once with the KeyError of its slot, then retry)
        for name in ("a", "b"):
            assert "rules channel lost" not in (tmp_path / f"{name}.log").read_text()


async def test_a_sigterm_during_a_burst_of_reservations_loses_nothing(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    tag = uuid.uuid4().hex[:6]
    async with services(tmp_path, **environment(cluster)) as start:
        (a, _), (b, b_process) = (
            await start("a", SERVICE_PORTS[0]),
            # two workers, as the image runs: uvicorn's supervisor passes the signal on
            await start("b", SERVICE_PORTS[1], WORKERS="2"),
        )
        flash_id, sku, stock = f"term-{tag}", "D11-PHONE", 1000
        await create(a, flash_sale(flash_id, sku, stock, None))
        await same_rules(a, b, within=2.0)

        answered = asyncio.Event()
        outcomes: list[tuple[str, int | str]] = []

        async def reserve(n: int) -> None:
            order_id = f"t-{tag}-{n}"
            try:
                response = await b.post(
                    "/v1/reservations",
                    json=reservation(order_id, f"c-{n}", sku),
                    headers=CHECKOUT,
                )
            except httpx.TransportError as exc:
                outcomes.append((order_id, type(exc).__name__))
                return
            outcomes.append((order_id, response.status_code))
            if len(outcomes) >= 30:
                answered.set()

        gate = asyncio.Semaphore(40)

        async def gated(n: int) -> None:
            async with gate:
                await reserve(n)

        burst = [asyncio.create_task(gated(n)) for n in range(400)]
        await asyncio.wait_for(answered.wait(), timeout=30)
        b_process.send_signal(signal.SIGTERM)
        await asyncio.gather(*burst)
        # uvicorn finishes what is in flight, runs the lifespan's shutdown, then re-raises
        # the signal: the exit status says SIGTERM, the log says it shut down cleanly
        assert await asyncio.wait_for(b_process.wait(), timeout=20) in (0, -signal.SIGTERM)
        log = (tmp_path / "b.log").read_text()
        assert log.count("Application shutdown complete.") == 2  # each worker's lifespan

        made = [order for order, status in outcomes if status == 201]
        others = Counter(status for _, status in outcomes if status != 201)
        assert len(made) >= 30
        assert len(outcomes) == 400
        assert others, "SIGTERM came after the burst: nothing was cut"
        # what answered 201 is in the ledger and its unit is reserved; nothing else is taken
        after = await level(a, flash_id)
        assert after["reserved"] == len(made), (after, others)
        assert after["available"] == stock - len(made)
        counted = (await a.get(f"/v1/admin/promotions/{flash_id}/stats", headers=ADMIN)).json()
        assert counted["reservations"] == len(made)
