"""What every Redis adapter shares (stock, claims, code attempts): the client type,
the errors that mean "Redis did not do it, or we cannot know", one guarded round
trip (through the Redis breaker, under a deadline), the argument encodings of the
Lua scripts and the scripts' shared helpers (``lua_script``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, TypeAlias, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import (
    ClusterError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.errors import Unavailable
from app.resilience.breaker import CircuitBreaker

RedisClient: TypeAlias = Redis | RedisCluster

# Errors that mean "Redis did not do it, or we cannot know": a 503 for the caller.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    TimeoutError,  # asyncio.timeout
    RedisConnectionError,  # also BusyLoadingError, MaxConnectionsError
    RedisTimeoutError,
    ClusterError,  # ClusterDownError, MasterDownError
    RedisClusterException,  # SlotNotCoveredError, ...
    TryAgainError,
    ReadOnlyError,
    OutOfMemoryError,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")


class RedisCalls:
    """Every round trip of one adapter: through ``breaker`` when there is one (open:
    ``CircuitOpen`` at once, nothing sent; None in tests of an adapter alone), under
    a deadline of ``timeout`` seconds; a missed deadline or a lost connection is
    ``Unavailable``."""

    def __init__(self, *, timeout: float, breaker: CircuitBreaker | None = None) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self._breaker = breaker

    async def __call__(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        if self._breaker is None:
            return await self._deadline(what, call)
        with self._breaker.guard(what):
            return await self._deadline(what, call)

    async def _deadline(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await call()
        except UNAVAILABLE as exc:
            raise Unavailable(f"redis did not answer ({what}): {exc!r}") from exc


def ms(at: datetime) -> int:
    """Milliseconds since the epoch (a script's clock argument)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return (at - _EPOCH) // timedelta(milliseconds=1)


def opt(value: int | None) -> str:
    """An optional limit as a script argument: empty for none."""
    return "" if value is None else str(value)


def text(value: Any) -> str:
    """A reply as text (bytes from a real server, str from some clients)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


@cache
def _prelude() -> str:
    return resources.files("app.storage.lua").joinpath("prelude.lua").read_text("utf-8")


def lua_script(package: str, name: str) -> str:
    """The text of the script ``<package>/<name>.lua`` as Redis runs it: its header
    comment (KEYS, ARGV, returns), then ``SCRIPT`` (its name) and the shared helpers
    of ``app/storage/lua/prelude.lua`` (``fail``, ``int``, ``opt_int``, ``str``),
    then its body: one copy of them for every script instead of one in each."""
    text = resources.files(package).joinpath(f"{name}.lua").read_text("utf-8")
    end = text.index("\n]]\n") + len("\n]]\n")
    return f"{text[:end]}\nlocal SCRIPT = '{name}'\n\n{_prelude()}{text[end:]}"
