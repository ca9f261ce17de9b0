"""The Redis client: a real server from ``REDIS_URL``, or in-process fakeredis.

With ``REDIS_URL`` empty (the embedded default) each process gets its own
fakeredis server, with Lua. Every command has a socket timeout
(``REDIS_TIMEOUT_SECONDS``); ``ping`` adds an overall deadline. The pool
holds at most ``REDIS_MAX_CONNECTIONS``; beyond that a command waits for a
free connection (up to the same timeout) instead of failing at once.

With ``REDIS_CLUSTER=true``, or a ``redis+cluster://`` / ``rediss+cluster://``
URL, the client is a ``RedisCluster``: ``REDIS_URL`` names one node, the others
(and the slots) are discovered from it. Its pool is per node and does not
queue: a command past ``REDIS_MAX_CONNECTIONS`` on one node fails at once
(``MaxConnectionsError``, a 503 like any Redis outage), so keep it above
``MAX_IN_FLIGHT_REQUESTS`` plus a few for the sweeper and the rules channel.
"""

from __future__ import annotations

import asyncio
import logging

import fakeredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from app.settings import Settings
from app.storage.redis_calls import UNAVAILABLE, RedisClient

log = logging.getLogger(__name__)

_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def make_redis(settings: Settings) -> RedisClient:
    if not settings.redis_url:
        # the same bounded, waiting pool as a real server's: a burst waits for a
        # connection (every call has its deadline) instead of failing at once
        client: Redis = fakeredis.FakeAsyncRedis(
            server=fakeredis.FakeServer(),
            connection_pool_class=BlockingConnectionPool,
            max_connections=settings.redis_max_connections,
        )
        return client
    scheme, sep, rest = settings.redis_url.partition("://")
    if settings.redis_cluster or scheme in _CLUSTER_SCHEMES:
        return RedisCluster.from_url(
            f"{_CLUSTER_SCHEMES.get(scheme, scheme)}{sep}{rest}",
            max_connections=settings.redis_max_connections,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
            health_check_interval=30,
        )
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)


async def ping(redis: RedisClient, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await redis.ping()


async def learn_cluster(redis: RedisClient, seconds: float) -> None:
    """A cluster client learns the slots on its first command; the rules channel
    subscribes before any command is sent, and a subscription on a client that has
    not learned them failed once (``KeyError`` of the channel's slot) before it
    was retried. So learn them at start-up. Redis not answering is not an error
    here: the service starts degraded and the client learns them later."""
    if not isinstance(redis, RedisCluster):
        return
    try:
        async with asyncio.timeout(seconds):
            await redis.initialize()
    except UNAVAILABLE:
        log.warning("Redis Cluster not reachable at start-up; continuing degraded")
