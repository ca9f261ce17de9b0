"""Hot reads on PostgreSQL through a small asyncpg pool of their own.

SQLAlchemy is the storage layer's way to PostgreSQL, and it is right for
everything but a read that is asked at peak rate and costs more CPU in the
toolkit than on the wire: a connection out of SQLAlchemy's pool, a statement
executed and its rows processed cost ~330 µs of CPU where asyncpg alone
spends ~40 µs for the same round trip (docs/performance.md, "Reservations").
The losing reservation's read by ``order_id`` is such a read: every
reservation that loses (sold out, ``price_changed``) asks it.

``RawReads`` keeps the guarantees of ``SqlStore``: the database's circuit
breaker (open: ``CircuitOpen`` at once, nothing sent), ``DB_TIMEOUT_SECONDS``
per call, and a lost connection or a missed deadline is ``Unavailable``. Its
pool opens connections when first asked (at most ``size``), with the search
path the engine's connections have, and is closed by ``aclose``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import Unavailable
from app.resilience.breaker import CircuitBreaker
from app.storage.sql_store import UNREACHABLE

# SqlStore's (opening asks the engine for the search path), and asyncpg's own
_UNREACHABLE = (*UNREACHABLE, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


async def _unchanged(connection: asyncpg.Connection) -> None:  # noqa: ARG001
    return None


class RawReads:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        size: int,
        timeout: float,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._engine = engine
        self._size = size
        self._timeout = timeout
        self._breaker = breaker
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def fetch(self, what: str, query: str, *args: Any) -> Sequence[asyncpg.Record]:
        """``query``'s rows, within the deadline and through the breaker."""
        guard = self._breaker.guard(what) if self._breaker is not None else contextlib.nullcontext()
        with guard:
            try:
                # asyncpg's own deadlines, not a cancellation from outside: a query
                # cancelled from outside leaves a connection that its release then
                # waits on (found with a stalled database)
                pool = await self._opened()
                async with pool.acquire(timeout=self._timeout) as conn:
                    rows: list[asyncpg.Record] = await conn.fetch(query, *args)
                    return rows
            except TimeoutError as exc:
                raise Unavailable(
                    f"the database did not answer within {self._timeout:g}s ({what})"
                ) from exc
            except _UNREACHABLE as exc:
                raise Unavailable(f"the database is unreachable ({what})") from exc

    async def _opened(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                # the search path the engine's connections are given (DATABASE_SCHEMA)
                async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                    path = str((await conn.execute(text("SHOW search_path"))).scalar_one())
                url = self._engine.url.set(drivername="postgresql")
                self._pool = await asyncpg.create_pool(
                    url.render_as_string(hide_password=False),
                    min_size=0,
                    max_size=self._size,
                    timeout=self._timeout,  # connecting
                    command_timeout=self._timeout,  # each query
                    server_settings={"search_path": path},
                    # these reads change no session state: nothing to reset (asyncpg's
                    # default reset is a round trip on every release)
                    reset=_unchanged,
                )
            return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
