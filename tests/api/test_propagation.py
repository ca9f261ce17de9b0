"""A change made through one instance is live on another within 2 seconds.

Two apps in this process share the storage (the same SQLite file or
PostgreSQL schema). The first test leaves only Redis pub/sub to carry the
change (the database poll is set to a minute); the second cuts pub/sub (the
second app listens elsewhere) and leaves only the poll.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import fakeredis
import httpx

from tests.api.bodies import promotion
from tests.conftest import ADMIN, Backend, Running, Start


async def wait_for_counter(running: Running, counter: int, within: float) -> float:
    started = time.monotonic()
    while running.wiring.snapshot.counter < counter:
        if time.monotonic() - started > within:
            raise AssertionError(
                f"still at version {running.wiring.snapshot.counter}, wanted {counter}"
            )
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def pair(
    start: Start, backend: Backend, *, shared_channel: bool, poll: float
) -> tuple[Running, Running]:
    if backend.name == "sqlite":
        server = fakeredis.FakeServer()
        first = await start(redis=fakeredis.FakeAsyncRedis(server=server))
        other = server if shared_channel else fakeredis.FakeServer()
        second = await start(redis=fakeredis.FakeAsyncRedis(server=other), rules_poll_seconds=poll)
        return first, second
    first = await start()
    prefix = backend.options["redis_prefix"] if shared_channel else f"elsewhere:{uuid.uuid4().hex}:"
    second = await start(rules_poll_seconds=poll, redis_prefix=prefix)
    return first, second


async def change(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    assert response.status_code == 201, response.text


async def test_pub_sub_carries_a_change_within_2_seconds(start: Start, backend: Backend) -> None:
    first, second = await pair(start, backend, shared_channel=True, poll=60)
    await asyncio.sleep(0.1)  # let the second subscribe
    before = second.wiring.snapshot.counter
    await change(first.client)
    assert first.wiring.snapshot.counter == before + 1  # the writer reloaded before answering
    await wait_for_counter(second, before + 1, within=2.0)
    assert [p.id for p in second.wiring.snapshot.rules.promotions] == ["d11-300-50"]

    await second.client.delete("/v1/admin/promotions/d11-300-50", headers=ADMIN)
    await wait_for_counter(first, before + 2, within=2.0)
    assert first.wiring.snapshot.rules.promotions == ()


async def test_the_poll_catches_what_pub_sub_missed(start: Start, backend: Backend) -> None:
    first, second = await pair(start, backend, shared_channel=False, poll=0.2)
    await asyncio.sleep(0.1)  # let the second subscribe (elsewhere), so only the poll can help
    before = second.wiring.snapshot.counter
    await change(first.client)
    await wait_for_counter(second, before + 1, within=2.0)
    assert second.wiring.snapshot.rules.version == first.wiring.snapshot.rules.version


async def test_an_import_reaches_the_other_instance_within_2_seconds(
    start: Start, backend: Backend
) -> None:
    first, second = await pair(start, backend, shared_channel=True, poll=60)
    await asyncio.sleep(0.1)  # let the second subscribe
    bodies = [
        promotion(id=f"imp-{n:04d}", benefit={"type": "item_amount_off", "amount": 100},
                  scope={"skus": [f"SKU-{n}"]})
        for n in range(500)
    ]  # fmt: skip
    response = await first.client.post(
        "/v1/admin/promotions/import", json={"promotions": bodies}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    # a deadline to wait for, not a timing: loadtests/bench_rules.py measures that
    await wait_for_counter(second, first.wiring.snapshot.counter, within=10.0)
    assert second.wiring.snapshot.rules.version == response.json()["rules_version"]
    assert len(second.wiring.snapshot.rules) == 500

    # then single changes, applied one by one from the change log
    await change(first.client)
    await second.client.delete("/v1/admin/promotions/imp-0007", headers=ADMIN)
    await wait_for_counter(first, second.wiring.snapshot.counter, within=2.0)
    await wait_for_counter(second, first.wiring.snapshot.counter, within=2.0)
    for running in (first, second):
        ids = [p.id for p in running.wiring.snapshot.rules.promotions]
        assert len(ids) == 500
        assert "imp-0007" not in ids
        assert "d11-300-50" in ids
