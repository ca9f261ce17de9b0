"""``AttemptCounter`` on Redis: one fixed-window counter per subject
(``<prefix>attempts:<subject>``), counted and given its expiry in one script
(``app/coupons/lua/attempts.lua``)."""

from __future__ import annotations

from redis.commands.core import AsyncScript

from app.coupons.redis_claims import lua_source
from app.resilience.breaker import CircuitBreaker
from app.storage.redis_calls import RedisCalls, RedisClient


class RedisAttempts:
    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str,
        timeout: float = 1.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._prefix = f"{prefix}attempts:"
        self._guard = RedisCalls(timeout=timeout, breaker=breaker)
        self._script: AsyncScript = redis.register_script(lua_source("attempts"))

    async def add(self, subject: str, failures: int, *, window_ms: int) -> tuple[int, int]:
        count, ttl = await self._guard(
            "attempts",
            lambda: self._script(
                keys=[self._prefix + subject], args=[str(failures), str(window_ms)]
            ),
        )
        return int(count), int(ttl)
