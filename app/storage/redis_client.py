"""The Redis client: a real server from ``REDIS_URL``, or in-process fakeredis.

With ``REDIS_URL`` empty (the embedded default) each process gets its own
fakeredis server, with Lua. Every command has a socket timeout
(``REDIS_TIMEOUT_SECONDS``); ``ping`` adds an overall deadline. The pool
holds at most ``REDIS_MAX_CONNECTIONS``; beyond that a command waits for a
free connection (up to the same timeout) instead of failing at once.
"""

from __future__ import annotations

import asyncio

import fakeredis
from redis.asyncio import BlockingConnectionPool, Redis

from app.settings import Settings


def make_redis(settings: Settings) -> Redis:
    if not settings.redis_url:
        # the same bounded, waiting pool as a real server's: a burst waits for a
        # connection (every call has its deadline) instead of failing at once
        client: Redis = fakeredis.FakeAsyncRedis(
            server=fakeredis.FakeServer(),
            connection_pool_class=BlockingConnectionPool,
            max_connections=settings.redis_max_connections,
        )
        return client
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)


async def ping(redis: Redis, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await redis.ping()
