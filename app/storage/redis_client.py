"""The Redis client: a real server from ``REDIS_URL``, or in-process fakeredis.

With ``REDIS_URL`` empty (the embedded default) each process gets its own
fakeredis server, with Lua. Every command has a socket timeout
(``REDIS_TIMEOUT_SECONDS``); ``ping`` adds an overall deadline.
"""

from __future__ import annotations

import asyncio

import fakeredis
from redis.asyncio import Redis

from app.settings import Settings


def make_redis(settings: Settings) -> Redis:
    if not settings.redis_url:
        client: Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        return client
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )


async def ping(redis: Redis, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await redis.ping()
