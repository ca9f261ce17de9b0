"""What every SQL repository shares: sessions, and transactions under a deadline
and the database's circuit breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.errors import Unavailable
from app.resilience.breaker import CircuitBreaker


class SqlStore:
    """What every SQL repository shares: sessions, and transactions under a deadline."""

    def __init__(
        self, engine: AsyncEngine, *, timeout: float, breaker: CircuitBreaker | None = None
    ) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._timeout = timeout
        self._breaker = breaker

    @property
    def is_postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def _transaction(
        self, what: str, *, within: float | None = None
    ) -> AsyncIterator[AsyncSession]:
        """One transaction, committed on leaving, within ``within`` seconds (default
        ``DB_TIMEOUT_SECONDS``); a missed deadline or a lost connection is
        ``Unavailable``. Through the database's breaker when there is one: open,
        ``CircuitOpen`` at once and no connection is taken."""
        if self._breaker is None:
            async with self._deadline(what, within) as session:
                yield session
            return
        with self._breaker.guard(what):
            async with self._deadline(what, within) as session:
                yield session

    @asynccontextmanager
    async def _deadline(self, what: str, within: float | None) -> AsyncIterator[AsyncSession]:
        seconds = within or self._timeout
        try:
            async with asyncio.timeout(seconds), self._sessions.begin() as session:
                yield session
        except TimeoutError as exc:
            raise Unavailable(f"the database did not answer within {seconds:g}s ({what})") from exc
        except (
            sa_exc.OperationalError,
            sa_exc.InterfaceError,
            sa_exc.TimeoutError,
            sa_exc.DisconnectionError,
            OSError,
        ) as exc:
            raise Unavailable(f"the database is unreachable ({what})") from exc
