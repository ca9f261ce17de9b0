"""What every SQL repository shares: sessions, and transactions under a deadline
and the database's circuit breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.errors import Unavailable
from app.resilience.breaker import CircuitBreaker
from app.storage.fair_gate import gate_for

_T = TypeVar("_T")

# what a database that cannot be reached raises through SQLAlchemy: Unavailable (503)
UNREACHABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    OSError,
)


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
        ``Unavailable``."""
        async with self._deadline(what, within, self._sessions.begin()) as session:
            yield session

    @asynccontextmanager
    async def _core(self, what: str, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """A connection for Core statements (no ORM session), within
        ``DB_TIMEOUT_SECONDS``: one transaction committed on leaving when ``write``,
        else autocommit (each statement on its own, no BEGIN / COMMIT round trips)."""
        if write:
            async with self._deadline(what, None, self._engine.begin()) as conn:
                yield conn
            return
        async with self._deadline(what, None, self._engine.connect()) as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def _deadline(
        self, what: str, within: float | None, opened: AbstractAsyncContextManager[_T]
    ) -> AsyncIterator[_T]:
        """Through the database's breaker when there is one (open: ``CircuitOpen`` at
        once, no connection taken), then under the deadline."""
        if self._breaker is None:
            async with self._bounded(what, within, opened) as resource:
                yield resource
            return
        with self._breaker.guard(what):
            async with self._bounded(what, within, opened) as resource:
                yield resource

    @asynccontextmanager
    async def _bounded(
        self, what: str, within: float | None, opened: AbstractAsyncContextManager[_T]
    ) -> AsyncIterator[_T]:
        seconds = within or self._timeout
        # callers take the pool's connections in the order they came (fair_gate.py):
        # the pool alone lets late callers overtake a waiter until its deadline passes
        gate = gate_for(self._engine)
        try:
            async with asyncio.timeout(seconds):
                if gate is None:
                    async with opened as resource:
                        yield resource
                else:
                    async with gate.held(), opened as resource:
                        yield resource
        except TimeoutError as exc:
            raise Unavailable(f"the database did not answer within {seconds:g}s ({what})") from exc
        except UNREACHABLE as exc:
            raise Unavailable(f"the database is unreachable ({what})") from exc
        except sa_exc.DBAPIError as exc:
            # a connection lost in the middle of a statement or its commit comes as the
            # driver's generic error (asyncpg's ConnectionDoesNotExistError), which
            # SQLAlchemy marks as a disconnect: unreachable, not a bug (503, retried)
            if exc.connection_invalidated:
                raise Unavailable(f"the database connection was lost ({what})") from exc
            raise
