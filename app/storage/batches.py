"""Group commit: concurrent calls written together, each told its own outcome.

``Batches`` serves the claims written to PostgreSQL (``app.storage.sql_claims``)
and the claim scripts sent to Redis (``app.coupons.redis_claims``). An item
added starts a batch of its own at once while fewer than ``in_flight`` batches
run (light load: no wait); otherwise it joins the next batch, which starts when
one ends, with every item queued meanwhile (at most ``most``): one round trip
carries them all. Items whose ``key`` is already in a batch wait for a later
one. ``write`` answers each item of a batch in order, a result or an exception
for that item alone; a ``write`` that raises fails every item of its batch. An
item whose caller went away before its batch started is left out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item
R = TypeVar("R")


@dataclass(slots=True)
class _Entry(Generic[I, R]):
    item: I
    done: asyncio.Future[R]


class Batches(Generic[I, R]):
    def __init__(
        self,
        write: Callable[[list[I]], Awaitable[Sequence[R | BaseException]]],
        *,
        most: int,
        in_flight: int,
        key: Callable[[I], Hashable] | None = None,
    ) -> None:
        self._write_items = write
        self._most = most
        self._in_flight = in_flight
        self._key = key
        self._queue: deque[_Entry[I, R]] = deque()
        self._running = 0

    async def add(self, item: I) -> R:
        """``item``'s outcome once its batch is written (or the exception for it)."""
        entry: _Entry[I, R] = _Entry(item, asyncio.get_running_loop().create_future())
        self._queue.append(entry)
        if self._running < self._in_flight:
            self._start()
        return await entry.done

    def _start(self) -> None:
        batch: list[_Entry[I, R]] = []
        seen: set[Hashable] = set()
        later: list[_Entry[I, R]] = []
        while self._queue and len(batch) < self._most:
            entry = self._queue.popleft()
            if entry.done.done():  # its caller went away: it is never written
                continue
            if self._key is not None:
                key = self._key(entry.item)
                if key in seen:
                    later.append(entry)
                    continue
                seen.add(key)
            batch.append(entry)
        self._queue.extendleft(reversed(later))
        if batch:
            self._running += 1
            asyncio.get_running_loop().create_task(self._write(batch))

    async def _write(self, batch: list[_Entry[I, R]]) -> None:
        try:
            results = await self._write_items([entry.item for entry in batch])
        except BaseException as exc:  # handed to every item of the batch
            for entry in batch:
                if not entry.done.done():
                    entry.done.set_exception(exc)
        else:
            for entry, result in zip(batch, results, strict=True):
                if entry.done.done():
                    continue
                if isinstance(result, BaseException):
                    entry.done.set_exception(result)
                else:
                    entry.done.set_result(result)
        finally:
            self._running -= 1
            if self._queue:
                self._start()
