"""``AttemptCounter`` on Redis: one fixed-window counter per subject
(``<prefix>attempts:<subject>``), counted and given its expiry in one script
(``app/coupons/lua/attempts.lua``)."""

from __future__ import annotations

import asyncio

from redis.commands.core import AsyncScript

from app.coupons.redis_claims import lua_source
from app.errors import Unavailable
from app.inventory.redis_stock import UNAVAILABLE, RedisClient


class RedisAttempts:
    def __init__(self, redis: RedisClient, *, prefix: str, timeout: float = 1.0) -> None:
        self._prefix = f"{prefix}attempts:"
        self._timeout = timeout
        self._script: AsyncScript = redis.register_script(lua_source("attempts"))

    async def add(self, subject: str, failures: int, *, window_ms: int) -> tuple[int, int]:
        try:
            async with asyncio.timeout(self._timeout):
                count, ttl = await self._script(
                    keys=[self._prefix + subject], args=[str(failures), str(window_ms)]
                )
        except UNAVAILABLE as exc:
            raise Unavailable(f"redis did not answer (attempts): {exc!r}") from exc
        return int(count), int(ttl)
