"""What ``lifespan`` owns: the database engine, Redis, the rules snapshot and its refresher.

The embedded default and production differ only in what ``Wiring.start``
connects to (SQLite file + in-process fakeredis, or PostgreSQL + Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.inventory.readings import ConfiguredStock, CounterReader
from app.quoting import Pricer
from app.rules.engine import price
from app.settings import Settings
from app.snapshot import Refresher, Snapshot
from app.storage import db, redis_client
from app.storage.redis_client import make_redis
from app.storage.repository import PromotionRepository, SqlPromotionRepository


@dataclass
class Wiring:
    settings: Settings
    engine: AsyncEngine
    repository: PromotionRepository
    redis: Redis
    snapshot: Snapshot
    refresher: Refresher
    counters: CounterReader
    pricer: Pricer
    api_keys: dict[str, str] = field(default_factory=dict)
    owns_redis: bool = True

    @classmethod
    async def start(
        cls, settings: Settings, *, pricer: Pricer | None = None, redis: Redis | None = None
    ) -> Wiring:
        engine = db.make_engine(settings)
        client = redis if redis is not None else make_redis(settings)
        try:
            if settings.auto_migrate:
                await db.migrate(engine, settings)
            repository = SqlPromotionRepository(engine, timeout=settings.db_timeout_seconds)
            snapshot = Snapshot(repository, default_timezone=settings.timezone)
            await snapshot.reload()
            refresher = Refresher(
                snapshot,
                client,
                channel=f"{settings.redis_prefix}rules",
                poll_seconds=settings.rules_poll_seconds,
                redis_timeout=settings.redis_timeout_seconds,
            )
            refresher.start()
        except BaseException:
            await engine.dispose()
            if redis is None:
                await client.aclose()
            raise
        return cls(
            settings=settings,
            engine=engine,
            repository=repository,
            redis=client,
            snapshot=snapshot,
            refresher=refresher,
            counters=ConfiguredStock(),
            pricer=pricer or price,
            api_keys=settings.api_keys,
            owns_redis=redis is None,
        )

    async def stop(self) -> None:
        await self.refresher.stop()
        if self.owns_redis:
            await self.redis.aclose()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, dict[str, str]]:
        """Each dependency's state (``up``/``down``) and its breaker (none yet)."""
        database, redis = await asyncio.gather(
            _state(db.ping(self.engine, self.settings.db_timeout_seconds)),
            _state(redis_client.ping(self.redis, self.settings.redis_timeout_seconds)),
        )
        return {
            "database": {"state": database, "breaker": "none"},
            "redis": {"state": redis, "breaker": "none"},
        }


async def _state(probe: Awaitable[None]) -> str:
    try:
        await probe
    except Exception:
        return "down"
    return "up"
