"""The PostgreSQL pool (``app.storage.db.make_engine``) against a proxy that cuts
its connections: a connection idle past ``DB_PING_AFTER_IDLE_SECONDS`` is pinged
and replaced before use; one used within the window is not pinged (no round trip
per call at peak), so a cut fails one call, after which the pool has dropped
every connection it held and reconnects."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from app.storage.db import make_engine
from app.storage.sql_store import SqlStore
from tests.conftest import PG_URL
from tests.integration.pg_proxy import PgProxy


def engine_through(proxy: PgProxy, **overrides: Any) -> AsyncEngine:
    settings = Settings(database_url=proxy.url, db_timeout_seconds=2.0, **overrides)
    return make_engine(settings)


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def fill(engine: AsyncEngine, connections: int) -> set[int]:
    """Hold ``connections`` connections at once, so the pool keeps that many."""
    gate = asyncio.Event()

    async def hold() -> int:
        async with engine.connect() as conn:
            pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            await gate.wait()
            return pid

    tasks = [asyncio.create_task(hold()) for _ in range(connections)]
    await asyncio.sleep(0.3)
    gate.set()
    return set(await asyncio.gather(*tasks))


async def test_a_connection_idle_past_the_window_is_pinged_and_replaced() -> None:
    async with PgProxy() as proxy:
        engine = engine_through(proxy, db_ping_after_idle_seconds=0.2)
        try:
            before = await fill(engine, 3)
            assert len(before) == 3
            assert engine.sync_engine.pool.checkedin() == 3
            await proxy.cut()
            await asyncio.sleep(0.4)
            # every call succeeds: each dead connection fails its ping and is replaced
            after = {await backend_pid(engine) for _ in range(5)}
            assert not after & before
        finally:
            await engine.dispose()


async def test_a_connection_used_within_the_window_is_not_pinged_and_a_cut_fails_one_call() -> None:
    async with PgProxy() as proxy:
        engine = engine_through(proxy, db_ping_after_idle_seconds=60)
        try:
            before = await fill(engine, 3)
            accepted = proxy.accepted
            for _ in range(10):
                assert await backend_pid(engine) in before  # reused, no new connection
            assert proxy.accepted == accepted
            await proxy.cut()
            with pytest.raises(sa_exc.DBAPIError) as failed:
                await backend_pid(engine)  # not pinged: the call finds the cut
            assert failed.value.connection_invalidated
            # the failure dropped every connection the pool held, not only this one
            after = {await backend_pid(engine) for _ in range(5)}
            assert not after & before
        finally:
            await engine.dispose()


async def test_a_window_of_zero_pings_every_time() -> None:
    async with PgProxy() as proxy:
        engine = engine_through(proxy, db_ping_after_idle_seconds=0)
        try:
            before = await fill(engine, 2)
            await proxy.cut()
            assert await backend_pid(engine) not in before
        finally:
            await engine.dispose()


async def test_callers_get_a_connection_in_the_order_they_came() -> None:
    """Many more callers than connections, each asking again as soon as it is done
    (a rush): every caller gets its turn, as often as the others. The pool alone is
    not fair: a returned connection goes to whoever asks before the waiter it woke
    runs, and that waiter queues again at the back. Without the gate in
    ``SqlStore`` the busiest callers here made 2-4 times as many calls as the least
    served (the rush: checkouts of 0 ms at the median and over 10 s at the worst,
    failing together and opening the database breaker)."""
    settings = Settings(database_url=PG_URL, db_pool_size=2, db_timeout_seconds=2.0)
    engine = make_engine(settings)
    store = SqlStore(engine, timeout=2.0)
    calls: Counter[int] = Counter()
    until = time.monotonic() + 2.0

    async def caller(n: int) -> None:
        while time.monotonic() < until:
            await asyncio.sleep(0)  # the rest of its work: other callers run meanwhile
            async with store._core("probe", write=False) as conn:
                await conn.execute(text("SELECT 1"))
            calls[n] += 1

    try:
        await asyncio.gather(*(caller(n) for n in range(30)))
    finally:
        await engine.dispose()
    assert len(calls) == 30
    assert min(calls.values()) >= 0.8 * max(calls.values()), sorted(calls.values())
