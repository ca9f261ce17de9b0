"""A first-come, first-served gate in front of the database pool.

SQLAlchemy's asyncio pool (``AsyncAdaptedQueuePool``) hands out connections
through an ``asyncio.Queue``, which is not fair under contention: a returned
connection wakes the oldest waiter, but any task that asks for a connection
before that waiter runs takes it (``get_nowait`` on a non-empty queue), and
the waiter, finding the queue empty again, queues up *at the back*. With
more callers than connections (a flash-sale rush: 150 requests in flight on
30 connections) most checkouts take nothing while a few wait again and again
until their deadline: in the 2,000-reservation rush on two busy cores the
median checkout waited 0 ms and the slowest ones more than 10 s, failing
together (``Unavailable``) and opening the database's circuit breaker.

``FairGate`` admits at most as many callers as the pool has connections, in
the order they arrived: a permit given back goes straight to the oldest
waiter (nobody can take it in between), so no caller waits behind callers
that came after it, and the ones it admits never wait at the pool itself.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, QueuePool


class FairGate:
    """A FIFO semaphore with hand-off: ``async with gate.held(): ...``."""

    def __init__(self, permits: int) -> None:
        if permits < 1:
            raise ValueError("a gate needs at least one permit")
        self.permits = permits
        self._free = permits
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a permit just as it was cancelled: pass it on
            else:
                waiter.cancel()
                with suppress(ValueError):  # already taken off by release()
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the permit goes to it, not back to the pool
                return
        self._free += 1

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


_GATES: weakref.WeakKeyDictionary[Pool, FairGate] = weakref.WeakKeyDictionary()


def gate_for(engine: AsyncEngine) -> FairGate | None:
    """The gate of ``engine``'s pool (one per pool, shared by every repository on
    it), as wide as the pool can grow; None for a pool without a bound."""
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool) or pool._max_overflow < 0:
        return None
    gate = _GATES.get(pool)
    if gate is None:
        gate = _GATES[pool] = FairGate(pool.size() + pool._max_overflow)
    return gate
