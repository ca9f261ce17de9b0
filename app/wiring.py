"""What ``lifespan`` owns: the database engine, Redis, the rules snapshot and its
refresher, the inventory (flash-sale stock, usage counts, budgets), the
reservation service and the sweeper.

The embedded default and production differ only in what ``Wiring.start``
connects to (SQLite file + in-process fakeredis, or PostgreSQL + Redis).
Start-up does not need Redis: without it quotes are degraded and
reservations answer 503 until it is back (the sweeper then loads the
counters, rebuilding them from the ledger when Redis came back empty).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import Unavailable
from app.inventory.readings import CounterReader
from app.inventory.recover import Recovery
from app.inventory.redis_readings import RedisCounters
from app.inventory.redis_stock import RedisStock
from app.quoting import Pricer
from app.reservations import Reservations
from app.rules.engine import price
from app.settings import Settings
from app.snapshot import Refresher, Snapshot
from app.storage import db, redis_client
from app.storage.ledger import SqlReservationRepository
from app.storage.redis_client import make_redis
from app.storage.repository import PromotionRepository, SqlPromotionRepository
from app.sweeper import Sweeper

log = logging.getLogger(__name__)


@dataclass
class Wiring:
    settings: Settings
    engine: AsyncEngine
    repository: PromotionRepository
    redis: Redis
    snapshot: Snapshot
    refresher: Refresher
    stock: RedisStock
    ledger: SqlReservationRepository
    recovery: Recovery
    counters: CounterReader
    reservations: Reservations
    sweeper: Sweeper
    pricer: Pricer
    api_keys: dict[str, str] = field(default_factory=dict)
    owns_redis: bool = True

    @classmethod
    async def start(
        cls, settings: Settings, *, pricer: Pricer | None = None, redis: Redis | None = None
    ) -> Wiring:
        engine = db.make_engine(settings)
        client = redis if redis is not None else make_redis(settings)
        refresher: Refresher | None = None
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
            grace = timedelta(seconds=settings.sweep_grace_seconds)
            stock = RedisStock(
                client,
                prefix=settings.redis_prefix,
                timeout=settings.redis_timeout_seconds,
                sweep_grace=grace,
            )
            ledger = SqlReservationRepository(engine, timeout=settings.db_timeout_seconds)
            recovery = Recovery(stock, ledger)
            await _prepare_counters(stock, recovery, snapshot)
            counters = RedisCounters(stock)
            reservations = Reservations(
                rules=snapshot,
                repository=repository,
                ledger=ledger,
                inventory=stock,
                counters=counters,
                pricer=pricer or price,
                ttl=timedelta(seconds=settings.reservation_ttl_seconds),
                wait_seconds=settings.reservation_wait_seconds,
            )
            sweeper = Sweeper(
                rules=snapshot,
                recovery=recovery,
                reservations=reservations,
                ledger=ledger,
                inventory=stock,
                interval=settings.sweep_interval_seconds,
                batch=settings.sweep_batch,
                deadline=settings.db_timeout_seconds + 4 * settings.redis_timeout_seconds,
                grace=grace,
            )
            sweeper.start()
        except BaseException:
            if refresher is not None:
                await refresher.stop()
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
            stock=stock,
            ledger=ledger,
            recovery=recovery,
            counters=counters,
            reservations=reservations,
            sweeper=sweeper,
            pricer=pricer or price,
            api_keys=settings.api_keys,
            owns_redis=redis is None,
        )

    async def stop(self) -> None:
        await self.sweeper.stop()
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


async def _prepare_counters(stock: RedisStock, recovery: Recovery, snapshot: Snapshot) -> None:
    """Load the scripts, then load (or rebuild from the ledger) the counters of
    every stored promotion that has them, before the first request. Redis not
    answering is no reason not to start: the sweeper retries."""
    try:
        await stock.load_scripts()
        await recovery.keep(snapshot.rules.promotions, now=datetime.now(UTC))
    except Unavailable:
        log.warning("Redis did not answer at start-up; counters will be loaded later")


async def _state(probe: Awaitable[None]) -> str:
    try:
        await probe
    except Exception:
        return "down"
    return "up"
