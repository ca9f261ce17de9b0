"""The inventory on a real Redis Cluster: three primaries started for this
session on free loopback ports (``redis-server --cluster-enabled yes``), and
stopped afterwards. Runs the stock race and a reservation across promotions in
different slots on different nodes, with its compensation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from app.inventory.redis_stock import RedisStock
from app.inventory.stock import ConfirmCode, FlashTake, PromotionTake, ReleaseCode, TakeCode
from app.rules.model import FlashItem
from tests.integration.redis_servers import (
    T0,
    LocalCluster,
    local_cluster,
    run_race,
    unique_prefix,
)

TTL = timedelta(minutes=15)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not LocalCluster.available():
        pytest.skip("redis-server / redis-cli not installed: no local cluster")
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as running:
        yield running


@pytest.fixture
async def client(cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    redis = RedisCluster(host="127.0.0.1", port=cluster.ports[0], max_connections=100)
    await redis.initialize()
    yield redis
    await redis.aclose()


def promotions_on_distinct_nodes(client: RedisCluster, prefix: str, count: int) -> list[str]:
    """Promotion ids whose slots live on ``count`` different primaries."""
    chosen: dict[str, str] = {}
    for n in range(1000):
        promotion_id = f"promo-{n}"
        slot = key_slot(f"{prefix}{{p:{promotion_id}}}".encode())
        node = client.nodes_manager.get_node_from_slot(slot).name
        if node not in chosen:
            chosen[node] = promotion_id
        if len(chosen) == count:
            return sorted(chosen.values())
    raise AssertionError("no promotion ids found on distinct nodes")


async def test_race_on_the_cluster(client: RedisCluster) -> None:
    stock = RedisStock(client, prefix=unique_prefix(), timeout=20)

    # the cluster client raises on an exhausted pool instead of queueing: bound the
    # requests in flight below its 100 connections per node
    outcome = await run_race(stock, sampler=client, promotion_id="race", concurrency=80)

    assert outcome.codes[TakeCode.OK] == 100
    assert sum(outcome.codes.values()) == 2000
    assert set(outcome.codes) <= {"OK", "SOLD_OUT", "LIMIT_REACHED"}
    assert max(Counter(outcome.winners).values()) == 1
    assert outcome.violations == []
    assert outcome.samples >= 20
    assert outcome.settled == {"confirmed": 50, "released": 50}
    after = (await stock.read("race"))["RACE-1"]
    assert (after.initial, after.available, after.reserved, after.sold) == (100, 50, 0, 50)


async def test_reservation_across_slots_on_three_nodes(client: RedisCluster) -> None:
    prefix = unique_prefix()
    stock = RedisStock(client, prefix=prefix, timeout=5)
    await stock.load_scripts()
    fa, fb, limited = promotions_on_distinct_nodes(client, prefix, 3)
    await stock.load_stock(fa, [FlashItem("A", 100, 3, 2)], now=T0)
    await stock.load_stock(fb, [FlashItem("B", 100, 5)], now=T0)
    await stock.load_stock(limited, [], now=T0)
    use = PromotionTake(limited, use=True, max_uses=1, budget_amount=50, budget=80)

    def order(a: int, b: int) -> list[PromotionTake]:
        return [
            use,
            PromotionTake(fb, flash=(FlashTake("B", b),)),
            PromotionTake(fa, flash=(FlashTake("A", a, 2),)),
        ]

    # all three slots, all or nothing, idempotent across slots
    first = await stock.take("r1", customer_id="c1", takes=order(2, 1), now=T0, expires_at=T0 + TTL)
    again = await stock.take("r1", customer_id="c1", takes=order(2, 1), now=T0, expires_at=T0 + TTL)
    assert first.ok
    assert again.replayed
    assert [a.promotion_id for a in first.slots] == [*sorted([fa, fb]), limited]

    # fails in the last slot (usage limit): the two flash slots are given back
    failed = await stock.take(
        "r2", customer_id="c2", takes=order(1, 4), now=T0, expires_at=T0 + TTL
    )
    assert (failed.code, failed.promotion_id) == (TakeCode.USAGE_LIMIT, limited)
    assert failed.uncompensated == ()
    a_level, b_level = (await stock.read(fa))["A"], (await stock.read(fb))["B"]
    assert (a_level.available, a_level.reserved) == (1, 2)
    assert (b_level.available, b_level.reserved) == (4, 1)
    dead = await stock.take(
        "r2",
        customer_id="c2",
        takes=[PromotionTake(fa, flash=(FlashTake("A", 1, 2),))],
        now=T0,
        expires_at=T0 + TTL,
    )
    assert (dead.code, dead.detail) == (TakeCode.RELEASED, "compensated")

    # confirm across slots; then a cancel is refused everywhere
    confirmed = await stock.confirm("r1", promotion_ids=[fa, fb, limited], now=T0)
    assert confirmed.code is ConfirmCode.CONFIRMED
    assert len(confirmed.slots) == 3
    refused = await stock.release("r1", promotion_ids=[fa, fb, limited], now=T0)
    assert refused.code is ReleaseCode.CONFIRMED
    readings = await stock.available_for(
        customer_id="c1", flash=[(fa, "A"), (fb, "B")], promotions=[limited]
    )
    assert readings.flash_available == {(fa, "A"): 1, (fb, "B"): 4}
    assert readings.flash_bought == {(fa, "A"): 2, (fb, "B"): 1}
    assert (readings.uses, readings.budget_spent) == ({limited: 1}, {limited: 50})
