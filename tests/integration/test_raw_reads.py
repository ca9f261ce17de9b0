"""``RawReads`` (asyncpg alone, for the losing reservation's read by order_id)
through a PostgreSQL proxy the test controls: the engine's search path, the
deadline, a cut connection replaced, a refused one ``Unavailable``, the breaker open as
``CircuitOpen`` with nothing sent, and a pool that recovers by itself."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from app.errors import CircuitOpen, Unavailable
from app.resilience.breaker import BreakerConfig, CircuitBreaker, State
from app.settings import Settings
from app.storage.db import make_engine
from app.storage.raw_reads import RawReads
from tests.conftest import PG_URL
from tests.integration.pg_proxy import PgProxy

pytestmark = pytest.mark.slow


async def test_raw_reads_keep_the_deadline_the_breaker_and_the_search_path() -> None:
    async with PgProxy() as proxy:
        settings = Settings(
            database_url=proxy.url, database_schema="raw_reads_path", db_timeout_seconds=1.0
        )
        engine = make_engine(settings)
        breaker = CircuitBreaker(
            "database", BreakerConfig(window_calls=4, minimum_calls=4, open_seconds=60)
        )
        reads = RawReads(engine, size=2, timeout=1.0, breaker=breaker)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE SCHEMA IF NOT EXISTS raw_reads_path"))
            # the engine's search path (DATABASE_SCHEMA), not the server's default
            rows = await reads.fetch("path", "SELECT current_schema() AS schema")
            assert rows[0]["schema"] == "raw_reads_path"
            rows = await reads.fetch("echo", "SELECT x FROM unnest($1::text[]) AS x", ["a", "b"])
            assert [r["x"] for r in rows] == ["a", "b"]

            accepted = proxy.accepted
            await proxy.cut()  # the pool's connection is gone: the pool opens another
            assert (await reads.fetch("after a cut", "SELECT 1 AS one"))[0]["one"] == 1
            assert proxy.accepted > accepted

            proxy.set("stall")  # no answers: the deadline, not a hang
            started = time.monotonic()
            with pytest.raises(Unavailable, match="within 1s"):
                await reads.fetch("stalled", "SELECT 1 AS one")
            assert time.monotonic() - started < 3
            await proxy.cut()
            proxy.set("refuse")
            for _ in range(3):
                with pytest.raises(Unavailable):
                    await reads.fetch("refused", "SELECT 1 AS one")
            assert breaker.state is State.OPEN
            accepted = proxy.accepted
            with pytest.raises(CircuitOpen):
                await reads.fetch("open", "SELECT 1 AS one")
            assert proxy.accepted == accepted  # nothing sent
        finally:
            await reads.aclose()
            await engine.dispose()
            direct = make_engine(Settings(database_url=PG_URL))
            async with direct.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS raw_reads_path"))
            await direct.dispose()
