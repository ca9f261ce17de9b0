"""Flash-sale stock, usage counts and budgets in Redis: the Lua scripts under
concurrency, against the real Redis on 127.0.0.1:6379 (``TEST_REDIS_URL``).

The behaviour tests also run against fakeredis (the embedded default). Every
test uses its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ResponseError

from app.errors import Unavailable
from app.inventory.counter_reader import InventoryCounterReader
from app.inventory.keys import KeySpace
from app.inventory.redis_stock import SCRIPTS, RedisStock, lua_source
from app.inventory.stock import (
    ConfirmCode,
    FlashTake,
    LoadStatus,
    PromotionTake,
    ReleaseCode,
    StockLevel,
    TakeCode,
    TakeResult,
)
from app.rules.model import AmountOff, FlashItem, FlashSale, Limits, Line, Promotion
from app.rules.ruleset import RuleSet
from tests.integration.redis_servers import (
    REDIS_URL,
    T0,
    ReplyDroppingProxy,
    delete_prefix,
    free_cluster_ports,
    require_redis,
    run_race,
    unique_prefix,
)

TTL = timedelta(minutes=15)


@pytest.fixture(scope="module", autouse=True)
def _redis_is_up() -> None:
    require_redis()


@pytest.fixture
async def real() -> AsyncIterator[tuple[Redis, str]]:
    """The shared Redis and a prefix of this test's own."""
    client = Redis.from_url(REDIS_URL)
    prefix = unique_prefix()
    yield client, prefix
    await delete_prefix(client, prefix)
    await client.aclose()


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


async def take(
    stock: RedisStock,
    reservation_id: str,
    customer: str,
    *takes: PromotionTake,
    now: datetime = T0,
    ttl: timedelta = TTL,
) -> TakeResult:
    return await stock.take(
        reservation_id, customer_id=customer, takes=takes, now=now, expires_at=now + ttl
    )


def flash(promotion_id: str, *lines: tuple[str, int, int | None]) -> PromotionTake:
    return PromotionTake(promotion_id, flash=tuple(FlashTake(*line) for line in lines))


def level(initial: int, available: int, reserved: int, sold: int) -> tuple[int, ...]:
    return (initial, available, reserved, sold)


def levels(read: dict[str, StockLevel]) -> dict[str, tuple[int, ...]]:
    return {sku: (x.initial, x.available, x.reserved, x.sold) for sku, x in read.items()}


# ------------------------------------------------------------------------ scripts


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_documents_keys_argv_and_return_codes(name: str) -> None:
    source = lua_source(name)
    header = source[: source.index("]]")]
    assert "KEYS[1]" in header
    assert "ARGV[1]" in header
    assert "Returns" in header


async def test_malformed_arguments_are_refused_before_any_write(real: tuple[Redis, str]) -> None:
    client, prefix = real
    stock = RedisStock(client, prefix=prefix)
    keys = KeySpace(prefix).promotion("p")
    await stock.load_stock("p", [FlashItem("A", 100, 5)], now=T0)
    before = await client.hgetall(keys.stock("A"))
    script = client.register_script(lua_source("take"))
    with pytest.raises(ResponseError, match="take: units of A"):
        await script(
            keys=[keys.promotion, keys.customer_uses, keys.open, keys.reservation("r"),
                  keys.stock("A"), keys.held("A")],
            args=["r", "c", "1000", "2000", "", "", "0", "", "", "0", "", "1", "A", "-1", ""],
        )  # fmt: skip
    assert await client.hgetall(keys.stock("A")) == before
    assert not await client.exists(keys.reservation("r"))


# ------------------------------------------------------------------------- takes


async def test_take_is_all_or_nothing_across_skus(stock: RedisStock) -> None:
    await stock.load_stock("p", [FlashItem("A", 100, 5), FlashItem("B", 100, 1)], now=T0)

    result = await take(stock, "r1", "c1", flash("p", ("A", 2, None), ("B", 2, None)))

    assert result.code is TakeCode.SOLD_OUT
    assert (result.promotion_id, result.detail, result.value) == ("p", "B", 1)
    assert levels(await stock.read("p")) == {"A": level(5, 5, 0, 0), "B": level(1, 1, 0, 0)}
    ok = await take(stock, "r2", "c1", flash("p", ("A", 2, None), ("B", 1, None)))
    assert ok.ok
    assert not ok.replayed
    assert levels(await stock.read("p")) == {"A": level(5, 3, 2, 0), "B": level(1, 0, 1, 0)}


async def test_lines_of_one_sku_are_merged_and_checked_together(stock: RedisStock) -> None:
    await stock.load_stock("p", [FlashItem("A", 100, 5, 2)], now=T0)

    result = await take(stock, "r1", "c1", flash("p", ("A", 1, 2), ("A", 2, 2)))

    assert (result.code, result.detail, result.value) == (TakeCode.LIMIT_REACHED, "A", 2)


async def test_per_customer_limit_counts_reserved_and_sold(stock: RedisStock) -> None:
    await stock.load_stock("p", [FlashItem("A", 100, 10, 2)], now=T0)
    assert (await take(stock, "r1", "c1", flash("p", ("A", 1, 2)))).ok
    assert (await stock.confirm("r1", promotion_ids=["p"], now=T0)).ok

    over = await take(stock, "r2", "c1", flash("p", ("A", 2, 2)))
    assert (over.code, over.detail, over.value) == (TakeCode.LIMIT_REACHED, "A", 1)
    assert (await take(stock, "r3", "c1", flash("p", ("A", 1, 2)))).ok
    assert (await take(stock, "r4", "c1", flash("p", ("A", 1, 2)))).code is TakeCode.LIMIT_REACHED
    assert (await take(stock, "r5", "c2", flash("p", ("A", 2, 2)))).ok  # another customer

    await stock.release("r3", promotion_ids=["p"], now=T0)  # gives the holding back
    assert (await take(stock, "r6", "c1", flash("p", ("A", 1, 2)))).ok
    readings = await stock.available_for(customer_id="c1", flash=[("p", "A")])
    assert readings.flash_bought == {("p", "A"): 2}
    assert readings.flash_available == {("p", "A"): 6}


async def test_usage_limits_total_and_per_customer(stock: RedisStock) -> None:
    await stock.load_stock("u", [], now=T0)  # a promotion with limits only: no stock
    use = PromotionTake("u", use=True, max_uses=2, max_uses_per_customer=1)

    assert (await take(stock, "r1", "c1", use)).ok
    again = await take(stock, "r2", "c1", use)
    assert (again.code, again.detail) == (TakeCode.USAGE_LIMIT, "max_uses_per_customer")
    assert (await take(stock, "r3", "c2", use)).ok
    full = await take(stock, "r4", "c3", use)
    assert (full.code, full.detail) == (TakeCode.USAGE_LIMIT, "max_uses")

    await stock.release("r3", promotion_ids=["u"], now=T0, reason="cancelled")
    assert (await take(stock, "r5", "c3", use)).ok
    await stock.confirm("r1", promotion_ids=["u"], now=T0)  # a confirmed use stays counted
    readings = await stock.available_for(customer_id="c1", promotions=["u"])
    assert (readings.uses, readings.customer_uses) == ({"u": 2}, {"u": 1})
    assert readings.not_loaded == frozenset()


async def test_budget_is_spent_at_reservation_and_returned_on_release(stock: RedisStock) -> None:
    await stock.load_stock("b", [], now=T0)

    def spend(amount: int) -> PromotionTake:
        return PromotionTake("b", budget_amount=amount, budget=100)

    assert (await take(stock, "r1", "c1", spend(60))).ok
    short = await take(stock, "r2", "c2", spend(50))
    assert (short.code, short.value) == (TakeCode.BUDGET_EXHAUSTED, 40)
    assert (await take(stock, "r3", "c2", spend(40))).ok
    assert (await stock.available_for(customer_id=None, promotions=["b"])).budget_spent == {
        "b": 100
    }
    await stock.release("r1", promotion_ids=["b"], now=T0, reason="expired")
    assert (await take(stock, "r4", "c2", spend(50))).ok
    assert (await stock.available_for(customer_id=None, promotions=["b"])).budget_spent == {"b": 90}


async def test_window_and_unloaded_promotions_take_nothing(stock: RedisStock) -> None:
    await stock.load_stock("p", [FlashItem("A", 100, 5)], now=T0)
    window = dataclasses.replace(
        flash("p", ("A", 1, None)), starts_at=T0, ends_at=T0 + timedelta(hours=1)
    )

    early = await take(stock, "r1", "c1", window, now=T0 - timedelta(seconds=1))
    late = await take(stock, "r2", "c1", window, now=T0 + timedelta(hours=1))
    assert (early.code, early.detail) == (TakeCode.NOT_ACTIVE, "not_started")
    assert (late.code, late.detail) == (TakeCode.NOT_ACTIVE, "ended")
    assert (await take(stock, "r3", "c1", window, now=T0)).ok

    unknown_sku = await take(stock, "r4", "c1", flash("p", ("Z", 1, None)))
    assert (unknown_sku.code, unknown_sku.detail) == (TakeCode.NOT_LOADED, "Z")
    unknown = await take(stock, "r5", "c1", PromotionTake("nope", use=True, max_uses=5))
    assert (unknown.code, unknown.detail) == (TakeCode.NOT_LOADED, "")
    readings = await stock.available_for(
        customer_id="c1", flash=[("p", "A"), ("p", "Z")], promotions=["p", "nope"]
    )
    assert readings.missing_stock == {("p", "Z")}
    assert readings.not_loaded == {"nope"}
    # what this Redis does not have is unknown, not zero: the quote is degraded
    assert readings.as_readings().flash_available is None
    assert readings.as_readings().check_limits is False
    loaded = await stock.available_for(customer_id="c1", flash=[("p", "A")], promotions=["p"])
    assert loaded.as_readings().flash_available == {("p", "A"): 4}
    assert loaded.as_readings().check_limits is True
    assert levels(await stock.read("p")) == {"A": level(5, 4, 1, 0)}


async def test_for_promotion_builds_the_take_from_the_rules(stock: RedisStock) -> None:
    promotion = Promotion(
        id="fs",
        name="flash",
        benefit=FlashSale(items=(FlashItem("A", 100, 3, 1), FlashItem("B", 50, 3))),
        starts_at=T0,
        ends_at=T0 + timedelta(days=1),
        limits=Limits(max_uses=10, budget=500),
    )
    assert isinstance(promotion.benefit, FlashSale)
    await stock.load_stock("fs", promotion.benefit.items, now=T0)
    step = PromotionTake.for_promotion(promotion, units={"A": 1, "B": 0}, discount=200)

    assert step.flash == (FlashTake("A", 1, 1),)
    assert (step.use, step.budget_amount, step.budget) == (True, 200, 500)
    assert (await take(stock, "r1", "c1", step)).ok
    assert (await take(stock, "r2", "c1", step)).code is TakeCode.LIMIT_REACHED


async def test_quote_readings_for_a_cart(stock: RedisStock) -> None:
    items = (FlashItem("A", 100, 5, 2), FlashItem("Z", 100, 5))
    sale = Promotion(id="fs", name="flash", benefit=FlashSale(items=items))
    capped = Promotion(
        id="cap", name="threshold", benefit=AmountOff(amount=10), limits=Limits(budget=100)
    )
    coupon = Promotion(
        id="cpn", name="coupon", benefit=AmountOff(10), trigger="coupon", limits=Limits(max_uses=3)
    )
    rules = RuleSet([sale, capped, coupon], version="v1")
    await stock.load_stock("fs", items, now=T0)
    await stock.load_stock("cap", [], now=T0)
    await stock.load_stock("cpn", [], now=T0)
    assert (await take(stock, "r1", "c1", flash("fs", ("A", 1, 2)))).ok
    assert (await take(stock, "r2", "c2", PromotionTake("cap", budget_amount=30, budget=100))).ok
    lines = (Line("l1", "A", 2, 1000), Line("l2", "B", 1, 500))

    readings = await InventoryCounterReader(stock).read(
        rules=rules, lines=lines, customer_id="c1", coupon_promotions=["cpn"]
    )

    assert readings.flash_available == {("fs", "A"): 4}  # Z is not in the cart
    assert readings.flash_bought == {("fs", "A"): 1}
    assert readings.budget_spent == {"cap": 30, "cpn": 0}
    assert readings.uses == {"cap": 0, "cpn": 0}
    assert readings.check_limits

    # a coupon nobody presented is not read: the reads follow the cart and its codes
    without = await InventoryCounterReader(stock).read(rules=rules, lines=lines, customer_id="c1")
    assert without.uses == {"cap": 0}


async def test_quote_readings_degrade_when_redis_is_down() -> None:
    port = free_cluster_ports(1)[0]
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.1)
    sale = Promotion(id="fs", name="flash", benefit=FlashSale(items=(FlashItem("A", 1, 5),)))
    try:
        counters = InventoryCounterReader(RedisStock(client, prefix=unique_prefix(), timeout=0.2))
        readings = await counters.read(
            rules=RuleSet([sale], version="v1"), lines=(Line("l1", "A", 1, 9),), customer_id=None
        )
    finally:
        await client.aclose()
    assert readings.flash_available is None
    assert not readings.check_limits


# ----------------------------------------------------------- confirm and release


async def test_confirm_is_idempotent_and_then_release_is_refused(stock: RedisStock) -> None:
    await stock.load_stock("p", [FlashItem("A", 100, 5)], now=T0)
    await stock.load_stock("u", [], now=T0)
    both = (flash("p", ("A", 2, None)), PromotionTake("u", use=True, budget_amount=7))
    assert (await take(stock, "r1", "c1", *both)).ok

    first = await stock.confirm("r1", promotion_ids=["p", "u"], now=T0)
    second = await stock.confirm("r1", promotion_ids=["p", "u"], now=T0)
    refused = await stock.release("r1", promotion_ids=["p", "u"], now=T0)

    assert first.code is ConfirmCode.CONFIRMED
    assert [a.detail for a in first.slots] == ["confirmed", "confirmed"]
    assert second.code is ConfirmCode.CONFIRMED
    assert [a.detail for a in second.slots] == ["replay", "replay"]
    assert refused.code is ReleaseCode.CONFIRMED
    assert levels(await stock.read("p")) == {"A": level(5, 3, 0, 2)}
    replay = await take(stock, "r1", "c1", *both)
    assert replay.ok
    assert replay.replayed
    readings = await stock.available_for(customer_id="c1", promotions=["u"])
    assert (readings.uses, readings.budget_spent) == ({"u": 1}, {"u": 7})


async def test_release_is_idempotent_and_final(stock: RedisStock) -> None:
    await stock.load_stock("p", [FlashItem("A", 100, 5, 3)], now=T0)
    assert (await take(stock, "r1", "c1", flash("p", ("A", 3, 3)))).ok

    first = await stock.release("r1", promotion_ids=["p"], now=T0)
    second = await stock.release("r1", promotion_ids=["p"], now=T0)
    confirm = await stock.confirm("r1", promotion_ids=["p"], now=T0)
    retake = await take(stock, "r1", "c1", flash("p", ("A", 3, 3)))

    assert (first.code, first.slots[0].detail) == (ReleaseCode.RELEASED, "released")
    assert (second.code, second.slots[0].detail) == (ReleaseCode.RELEASED, "replay")
    assert (confirm.code, confirm.slots[0].detail) == (ConfirmCode.RELEASED, "cancelled")
    assert (retake.code, retake.detail) == (TakeCode.RELEASED, "cancelled")
    assert levels(await stock.read("p")) == {"A": level(5, 5, 0, 0)}
    assert (await stock.available_for(customer_id="c1", flash=[("p", "A")])).flash_bought == {
        ("p", "A"): 0
    }


async def test_release_before_take_leaves_a_tombstone(stock: RedisStock) -> None:
    """A compensation that overtakes its own (delayed) take: the take finds the
    tombstone and takes nothing."""
    await stock.load_stock("p", [FlashItem("A", 100, 5)], now=T0)

    gone = await stock.release("r1", promotion_ids=["p"], now=T0, reason="compensated")
    late = await take(stock, "r1", "c1", flash("p", ("A", 1, None)))

    assert (gone.code, gone.slots[0].detail) == (ReleaseCode.RELEASED, "absent")
    assert (late.code, late.detail) == (TakeCode.RELEASED, "compensated")
    assert levels(await stock.read("p")) == {"A": level(5, 5, 0, 0)}
    assert (await stock.confirm("nobody", promotion_ids=["p"], now=T0)).code is (
        ConfirmCode.NOT_FOUND
    )


async def test_expired_reservations_are_not_confirmed_and_are_swept(stock: RedisStock) -> None:
    await stock.load_stock("p", [FlashItem("A", 100, 5)], now=T0)
    assert (await take(stock, "short", "c1", flash("p", ("A", 1, None)), ttl=TTL)).ok
    assert (await take(stock, "long", "c2", flash("p", ("A", 1, None)), ttl=3 * TTL)).ok
    after = T0 + TTL

    expired = await stock.confirm("short", promotion_ids=["p"], now=after)
    assert expired.code is ConfirmCode.EXPIRED
    assert await stock.sweep("p", now=after) == 0  # within the grace
    assert await stock.sweep("p", now=after + timedelta(seconds=30)) == 1
    assert await stock.sweep("p", now=after + timedelta(seconds=30)) == 0
    gone = await stock.confirm("short", promotion_ids=["p"], now=after)
    assert (gone.code, gone.slots[0].detail) == (ConfirmCode.RELEASED, "expired")
    assert (await stock.confirm("long", promotion_ids=["p"], now=after)).ok
    assert levels(await stock.read("p")) == {"A": level(5, 4, 0, 1)}


# -------------------------------------------------------------------- load_stock


async def test_load_stock_adjusts_but_never_below_taken_and_never_resets(
    stock: RedisStock,
) -> None:
    created = await stock.load_stock("p", [FlashItem("A", 100, 10, 2)], now=T0)
    assert [c.status for c in created] == [LoadStatus.CREATED]
    for n in range(3):
        assert (await take(stock, f"r{n}", f"c{n}", flash("p", ("A", 2, 2)))).ok
    await stock.confirm("r0", promotion_ids=["p"], now=T0)
    assert levels(await stock.read("p")) == {"A": level(10, 4, 4, 2)}

    # a restart of the service (a new adapter) reloads the same promotion: nothing moves
    restarted = RedisStock(stock.redis, prefix=stock.keys.prefix)
    same = await restarted.load_stock("p", [FlashItem("A", 100, 10, 2)], now=T0 + TTL)
    assert [c.status for c in same] == [LoadStatus.UNCHANGED]
    assert levels(await stock.read("p")) == {"A": level(10, 4, 4, 2)}

    more = await stock.load_stock("p", [FlashItem("A", 100, 15, 3)], now=T0)
    assert [(c.status, c.initial, c.available) for c in more] == [(LoadStatus.ADJUSTED, 15, 9)]
    fewer = await stock.load_stock("p", [FlashItem("A", 100, 7, 3)], now=T0)
    assert [(c.status, c.initial, c.available) for c in fewer] == [(LoadStatus.ADJUSTED, 7, 1)]
    clamped = await stock.load_stock("p", [FlashItem("A", 100, 2, 3)], now=T0)
    assert [(c.status, c.requested, c.initial, c.available) for c in clamped] == [
        (LoadStatus.CLAMPED, 2, 6, 0)
    ]
    assert (await stock.read("p"))["A"] == StockLevel("A", 6, 0, 4, 2, per_customer_limit=3)

    await stock.release("r1", promotion_ids=["p"], now=T0)  # given back, stays sellable
    assert levels(await stock.read("p")) == {"A": level(6, 2, 2, 2)}
    back = await stock.load_stock("p", [FlashItem("A", 100, 10, 3)], now=T0)
    assert [(c.initial, c.available) for c in back] == [(10, 6)]
    assert levels(await stock.read("p")) == {"A": level(10, 6, 2, 2)}


async def test_load_stock_rejects_bad_items(stock: RedisStock) -> None:
    with pytest.raises(ValueError, match="twice"):
        await stock.load_stock("p", [FlashItem("A", 1, 1), FlashItem("A", 1, 2)], now=T0)
    with pytest.raises(ValueError, match="negative stock"):
        await stock.load_stock("p", [FlashItem("A", 1, -1)], now=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await stock.load_stock("p", [], now=datetime(2026, 1, 1))  # noqa: DTZ001
    assert await stock.read("p") == {}


# ------------------------------------------------------- several promotions (slots)


async def test_multi_promotion_take_compensates_the_earlier_promotions(stock: RedisStock) -> None:
    await stock.load_stock("fa", [FlashItem("A", 100, 5)], now=T0)
    await stock.load_stock("fb", [FlashItem("B", 100, 5)], now=T0)
    await stock.load_stock("u", [], now=T0)
    used_up = PromotionTake("u", use=True, max_uses=1)
    assert (await take(stock, "first", "c0", used_up)).ok

    result = await take(
        stock, "r1", "c1", used_up, flash("fb", ("B", 2, None)), flash("fa", ("A", 1, None))
    )

    assert (result.code, result.promotion_id) == (TakeCode.USAGE_LIMIT, "u")
    assert [a.promotion_id for a in result.slots] == ["fa", "fb", "u"]  # flash sales first
    assert result.uncompensated == ()
    assert levels(await stock.read("fa")) == {"A": level(5, 5, 0, 0)}
    assert levels(await stock.read("fb")) == {"B": level(5, 5, 0, 0)}
    again = await take(stock, "r1", "c1", flash("fa", ("A", 1, None)))
    assert (again.code, again.detail) == (TakeCode.RELEASED, "compensated")


class LosesTheSecondReply(RedisStock):
    """A fake of our own: the second promotion's script runs, then its answer is
    lost (a timeout after the server did the work)."""

    calls = 0

    async def _take_slot(self, *args: Any, **kwargs: Any) -> Any:
        answer = await super()._take_slot(*args, **kwargs)
        self.calls += 1
        if self.calls == 2:
            raise Unavailable("redis did not answer (take): simulated")
        return answer


async def test_unknown_outcome_compensates_every_promotion_so_far(stock: RedisStock) -> None:
    lossy = LosesTheSecondReply(stock.redis, prefix=stock.keys.prefix)
    await lossy.load_stock("fa", [FlashItem("A", 100, 5)], now=T0)
    await lossy.load_stock("fb", [FlashItem("B", 100, 5)], now=T0)
    await lossy.load_stock("fc", [FlashItem("C", 100, 5)], now=T0)

    with pytest.raises(Unavailable):
        await take(
            lossy,
            "r1",
            "c1",
            flash("fa", ("A", 1, None)),
            flash("fb", ("B", 1, None)),
            flash("fc", ("C", 1, None)),
        )

    for promotion_id, sku in (("fa", "A"), ("fb", "B"), ("fc", "C")):
        assert levels(await lossy.read(promotion_id)) == {sku: level(5, 5, 0, 0)}
    late = await take(lossy, "r1", "c1", flash("fc", ("C", 1, None)))  # the never-sent third
    assert late.ok  # nothing was written there: a new take of that slot alone is possible


# ------------------------------------------------------------------- idempotency


async def test_one_reservation_taken_50_times_at_once_takes_once(real: tuple[Redis, str]) -> None:
    client, prefix = real
    stock = RedisStock(client, prefix=prefix, timeout=5)
    await stock.load_stock("p", [FlashItem("A", 100, 100, 5)], now=T0)
    await stock.load_stock("u", [], now=T0)
    both = (flash("p", ("A", 3, 5)), PromotionTake("u", use=True, budget_amount=10, budget=1000))

    results = await asyncio.gather(*(take(stock, "same", "c1", *both) for _ in range(50)))

    assert all(r.ok for r in results)
    assert sum(not r.replayed for r in results) == 1
    assert levels(await stock.read("p")) == {"A": level(100, 97, 3, 0)}
    readings = await stock.available_for(customer_id="c1", flash=[("p", "A")], promotions=["u"])
    assert readings.flash_bought == {("p", "A"): 3}
    assert (readings.uses, readings.budget_spent) == ({"u": 1}, {"u": 10})


async def test_a_script_rerun_after_a_lost_reply_takes_once(real: tuple[Redis, str]) -> None:
    """redis-py re-sends EVALSHA after the connection drops: the script runs twice."""
    _, prefix = real
    async with ReplyDroppingProxy("127.0.0.1", 6379) as proxy:
        client = Redis(host="127.0.0.1", port=proxy.port)  # redis-py's default Retry
        try:
            stock = RedisStock(client, prefix=prefix, timeout=5)
            await stock.load_scripts()  # so the dropped reply is the script's, not NOSCRIPT
            await stock.load_stock("p", [FlashItem("A", 100, 10, 5)], now=T0)
            assert (await take(stock, "warm-up", "c0", flash("p", ("A", 1, 5)))).ok

            proxy.armed = True
            result = await take(stock, "r1", "c1", flash("p", ("A", 2, 5)))

            assert proxy.dropped == 1
            assert result.ok
            assert result.replayed  # the retry found the first run's record
            assert levels(await stock.read("p")) == {"A": level(10, 7, 3, 0)}

            proxy.armed = True
            confirmed = await stock.confirm("r1", promotion_ids=["p"], now=T0)
            assert (confirmed.code, confirmed.slots[0].detail) == (ConfirmCode.CONFIRMED, "replay")
            proxy.armed = True
            gone = await stock.release("warm-up", promotion_ids=["p"], now=T0)
            assert (gone.code, gone.slots[0].detail) == (ReleaseCode.RELEASED, "replay")
            assert proxy.dropped == 3
            assert levels(await stock.read("p")) == {"A": level(10, 8, 0, 2)}
        finally:
            await client.aclose()


async def test_redis_unreachable_is_unavailable_and_takes_nothing() -> None:
    port = free_cluster_ports(1)[0]
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.1)
    stock = RedisStock(client, prefix=unique_prefix(), timeout=0.3)
    try:
        with pytest.raises(Unavailable):
            await take(stock, "r1", "c1", flash("p", ("A", 1, None)))
        with pytest.raises(Unavailable):
            await stock.available_for(customer_id="c1", flash=[("p", "A")])
    finally:
        await client.aclose()


# -------------------------------------------------------------------------- race


async def test_race_2000_takes_for_100_units_limit_1(real: tuple[Redis, str]) -> None:
    sampler, prefix = real  # the sampler reads on a connection of its own
    pool = BlockingConnectionPool.from_url(REDIS_URL, max_connections=64, timeout=20)
    client = Redis.from_pool(pool)
    try:
        stock = RedisStock(client, prefix=prefix, timeout=20)
        outcome = await run_race(stock, sampler=sampler, promotion_id="race")
        held = await client.hgetall(stock.keys.promotion("race").held("RACE-1"))
        after = await stock.read("race")
    finally:
        await client.aclose()

    assert outcome.codes[TakeCode.OK] == 100
    assert (
        outcome.codes[TakeCode.OK]
        + outcome.codes[TakeCode.SOLD_OUT]
        + outcome.codes[TakeCode.LIMIT_REACHED]
        == 2000
    )
    winners = Counter(outcome.winners)
    assert max(winners.values()) == 1  # nobody over the limit of 1
    assert outcome.violations == []
    assert outcome.samples >= 20
    assert outcome.settled == {"confirmed": 50, "released": 50}
    assert levels(after) == {"RACE-1": level(100, 50, 0, 50)}
    assert sorted(int(v) for v in held.values()) == [1] * 50  # the 50 buyers, 1 each


# ---------------------------------------------------------------- state machine

CUSTOMERS = ("c1", "c2", "c3")
SKU_LIMITS: dict[str, int | None] = {"A": 2, "B": None}
MAX_USES, MAX_CUSTOMER_USES, BUDGET = 4, 2, 30


@dataclasses.dataclass
class Held:
    customer: str
    units: dict[str, int]
    amount: int
    at: datetime  # when it was taken: a retake is the same command again
    expires_at: datetime
    state: str = "none"  # none (nothing written) | taken | confirmed | released
    reason: str = ""


class StockMachine(RuleBasedStateMachine):
    """take / retake / confirm / release / sweep / adjust against a model, on the real Redis."""

    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.client = Redis.from_url(REDIS_URL)
        self.prefix = unique_prefix()
        self.stock = RedisStock(self.client, prefix=self.prefix, timeout=5)
        self.now = T0
        self.initial: dict[str, int] = {}
        self.held: dict[str, Held] = {}
        self.serial = 0

    def teardown(self) -> None:
        async def close() -> None:
            await delete_prefix(self.client, self.prefix)
            await self.client.aclose()

        self.runner.run(close())
        self.runner.close()

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    # ---- the model

    def taken(self, state: tuple[str, ...] = ("taken", "confirmed")) -> list[Held]:
        return [h for h in self.held.values() if h.state in state]

    def reserved(self, sku: str) -> int:
        return sum(h.units.get(sku, 0) for h in self.taken(("taken",)))

    def sold(self, sku: str) -> int:
        return sum(h.units.get(sku, 0) for h in self.taken(("confirmed",)))

    def holding(self, customer: str, sku: str) -> int:
        return sum(h.units.get(sku, 0) for h in self.taken() if h.customer == customer)

    def expected_take(self, h: Held) -> tuple[str, str]:
        if h.state in ("taken", "confirmed"):
            return "OK", "replay"
        if h.state == "released":
            return "RELEASED", h.reason
        for sku, units in h.units.items():
            available = self.initial[sku] - self.reserved(sku) - self.sold(sku)
            if available < units:
                return "SOLD_OUT", sku
            limit = SKU_LIMITS[sku]
            if limit is not None and self.holding(h.customer, sku) + units > limit:
                return "LIMIT_REACHED", sku
        if len(self.taken()) + 1 > MAX_USES:
            return "USAGE_LIMIT", "max_uses"
        if sum(x.customer == h.customer for x in self.taken()) + 1 > MAX_CUSTOMER_USES:
            return "USAGE_LIMIT", "max_uses_per_customer"
        spent = sum(x.amount for x in self.taken())
        if h.amount > 0 and spent + h.amount > BUDGET:
            return "BUDGET_EXHAUSTED", ""
        return "OK", "taken"

    def do_take(self, rid: str) -> None:
        h = self.held[rid]
        want = self.expected_take(h)
        step = PromotionTake(
            "p",
            flash=tuple(FlashTake(s, u, SKU_LIMITS[s]) for s, u in h.units.items()),
            use=True,
            max_uses=MAX_USES,
            max_uses_per_customer=MAX_CUSTOMER_USES,
            budget_amount=h.amount,
            budget=BUDGET,
        )
        result = self.run(
            self.stock.take(
                rid, customer_id=h.customer, takes=[step], now=h.at, expires_at=h.expires_at
            )
        )
        got = result.slots[-1]
        event(f"take {got.code} {got.detail}")
        assert (got.code, got.detail) == want
        if want == ("OK", "taken"):
            h.state = "taken"

    # ---- rules

    @initialize(a=st.integers(0, 6), b=st.integers(0, 6))
    def load(self, a: int, b: int) -> None:
        self.initial = {"A": a, "B": b}
        items = [FlashItem(sku, 100, n, SKU_LIMITS[sku]) for sku, n in self.initial.items()]
        self.run(self.stock.load_stock("p", items, now=self.now))

    @rule(
        target=reservations,
        customer=st.sampled_from(CUSTOMERS),
        a=st.integers(0, 3),
        b=st.integers(0, 3),
        amount=st.integers(0, 12),
        ttl_minutes=st.sampled_from([5, 60]),
    )
    def take(self, customer: str, a: int, b: int, amount: int, ttl_minutes: int) -> str:
        self.serial += 1
        rid = f"r{self.serial}"
        units = {sku: n for sku, n in (("A", a), ("B", b)) if n}
        expires_at = self.now + timedelta(minutes=ttl_minutes)
        self.held[rid] = Held(customer, units, amount, self.now, expires_at)
        self.do_take(rid)
        return rid

    @rule(rid=reservations)
    def retake(self, rid: str) -> None:
        self.do_take(rid)

    @rule(rid=reservations)
    def confirm(self, rid: str) -> None:
        h = self.held[rid]
        result = self.run(self.stock.confirm(rid, promotion_ids=["p"], now=self.now))
        event(f"confirm {result.code}")
        if h.state == "none":
            assert result.code is ConfirmCode.NOT_FOUND
        elif h.state == "released":
            assert result.code is ConfirmCode.RELEASED
        elif h.state == "confirmed":
            assert (result.code, result.slots[0].detail) == (ConfirmCode.CONFIRMED, "replay")
        elif self.now >= h.expires_at:
            assert result.code is ConfirmCode.EXPIRED
        else:
            assert (result.code, result.slots[0].detail) == (ConfirmCode.CONFIRMED, "confirmed")
            h.state = "confirmed"

    @rule(rid=reservations)
    def release(self, rid: str) -> None:
        h = self.held[rid]
        result = self.run(self.stock.release(rid, promotion_ids=["p"], now=self.now))
        if h.state == "confirmed":
            assert result.code is ReleaseCode.CONFIRMED
        else:
            assert result.code is ReleaseCode.RELEASED
            if h.state != "released":
                h.state, h.reason = "released", "cancelled"

    @rule(minutes=st.integers(1, 30))
    def tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def sweep(self) -> None:
        cutoff = self.now - timedelta(seconds=30)
        due = [h for h in self.taken(("taken",)) if h.expires_at <= cutoff]
        released = self.run(self.stock.sweep("p", now=self.now))
        assert released == len(due)
        for h in due:
            h.state, h.reason = "released", "expired"

    @rule(sku=st.sampled_from(sorted(SKU_LIMITS)), stock=st.integers(0, 8))
    def adjust(self, sku: str, stock: int) -> None:
        taken = self.reserved(sku) + self.sold(sku)
        item = FlashItem(sku, 100, stock, SKU_LIMITS[sku])
        (change,) = self.run(self.stock.load_stock("p", [item], now=self.now))
        assert change.initial == max(stock, taken)
        if stock < taken:
            assert change.status is LoadStatus.CLAMPED
        self.initial[sku] = change.initial

    # ---- invariants

    @invariant()
    def counters_match_the_model(self) -> None:
        if not self.initial:
            return
        read = self.run(self.stock.read("p"))
        for sku, x in read.items():
            assert x.available + x.reserved + x.sold == x.initial
            assert x.available >= 0
            assert (x.initial, x.reserved, x.sold) == (
                self.initial[sku],
                self.reserved(sku),
                self.sold(sku),
            )
        readings = self.run(
            self.stock.available_for(customer_id=None, promotions=["p"])  # totals
        )
        assert readings.uses == {"p": len(self.taken())}
        assert readings.budget_spent == {"p": sum(h.amount for h in self.taken())}
        for customer in CUSTOMERS:
            mine = self.run(
                self.stock.available_for(
                    customer_id=customer, flash=[("p", "A"), ("p", "B")], promotions=["p"]
                )
            )
            for sku in SKU_LIMITS:
                assert mine.flash_bought[("p", sku)] == self.holding(customer, sku)
            assert mine.customer_uses["p"] == sum(h.customer == customer for h in self.taken())


TestStockMachine = StockMachine.TestCase
TestStockMachine.settings = settings(
    max_examples=int(os.environ.get("STOCK_MACHINE_EXAMPLES", "25")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_keys_of_one_promotion_share_a_slot_and_promotions_spread() -> None:
    from redis.crc import key_slot

    space = KeySpace("pricing:")
    keys = space.promotion("d11-flash")
    names = [
        keys.promotion,
        keys.customer_uses,
        keys.skus,
        keys.open,
        keys.stock("SKU-1"),
        keys.held("SKU}{-2"),
        keys.reservation("r-1"),
    ]
    assert len({key_slot(name.encode()) for name in names}) == 1
    spread = {key_slot(space.promotion(f"p{n}").promotion.encode()) for n in range(50)}
    assert len(spread) > 40
    with pytest.raises(ValueError, match="braces"):
        KeySpace("bad{prefix}:")
    assert re.fullmatch(r"pricing:\{p:d11-flash\}:stock:SKU-1", keys.stock("SKU-1"))
