"""What ``lifespan`` owns: the database engine, Redis, the rules snapshot and its
refresher, the inventory (flash-sale stock, usage counts, budgets), and the
services the routes call — each an object built here, once per process:
``QuoteService``, ``ReservationService``, ``FlashSaleService``,
``PromotionAdmin``, ``ClaimService`` (领券, wallets), ``CodeAttempts`` (failed
codes limited), ``CodeAdmin`` (codes listed, exported, revoked), ``Previewer``
(carts priced with draft promotions) — and the sweeper.

The embedded default and production differ only in what ``Wiring.start``
connects to (SQLite file + in-process fakeredis, or PostgreSQL + Redis).
Start-up does not need Redis: without it quotes are degraded and
reservations answer 503 until it is back (the sweeper then loads the
counters, rebuilding them from the ledger when Redis came back empty).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from app.coupons.attempts import AttemptLimits, CodeAttempts
from app.coupons.claim_service import ClaimService
from app.coupons.code_admin import CodeAdmin
from app.coupons.redis_attempts import RedisAttempts
from app.coupons.redis_claims import RedisClaims
from app.errors import Unavailable
from app.inventory.counter_reader import CounterReader, InventoryCounterReader
from app.inventory.flash_sale_service import FlashSaleService
from app.inventory.order_document import RecordQuote
from app.inventory.recovery import Recovery
from app.inventory.redis_stock import RedisStock
from app.inventory.reservation_service import ReservationService
from app.inventory.sweeper import Sweeper
from app.promotions.admin_service import PromotionAdmin
from app.promotions.repository import PromotionRepository
from app.promotions.snapshot import Refresher, Snapshot
from app.quoting.previews import Previewer
from app.quoting.quote_service import PriceFunction, QuoteService
from app.resilience.breaker import BreakerConfig, CircuitBreaker
from app.resilience.metrics import PrometheusObserver
from app.rules.engine import price as engine_price
from app.settings import Settings
from app.storage import db, redis_client
from app.storage.redis_calls import RedisClient
from app.storage.redis_client import learn_cluster, make_redis
from app.storage.sql_claims import SqlClaimRepository
from app.storage.sql_ledger import SqlReservationRepository
from app.storage.sql_promotions import SqlPromotionRepository

log = logging.getLogger(__name__)


@dataclass
class Wiring:
    settings: Settings
    engine: AsyncEngine
    repository: PromotionRepository
    redis: RedisClient
    snapshot: Snapshot
    refresher: Refresher
    stock: RedisStock
    ledger: SqlReservationRepository
    recovery: Recovery
    counters: CounterReader
    quotes: QuoteService
    reservations: ReservationService
    flash_sales: FlashSaleService
    promotions: PromotionAdmin
    sweeper: Sweeper
    record_quote: RecordQuote
    claims: ClaimService
    attempts: CodeAttempts
    codes: CodeAdmin
    previews: Previewer
    breakers: Mapping[str, CircuitBreaker] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    api_key_names: dict[str, str] = field(default_factory=dict)  # key -> updated_by
    owns_redis: bool = True

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        record_quote: RecordQuote,
        price: PriceFunction = engine_price,
        redis: RedisClient | None = None,
    ) -> Wiring:
        """Connect and build everything. ``record_quote`` makes a reservation's
        stored order (with the API's words); ``price`` and ``redis`` replace the
        engine and the client from the settings (tests)."""
        engine = db.make_engine(settings)
        client = redis if redis is not None else make_redis(settings)
        breakers = make_breakers(settings)
        refresher: Refresher | None = None
        try:
            if settings.auto_migrate:
                await db.migrate(engine, settings)
            repository = SqlPromotionRepository(
                engine, timeout=settings.db_timeout_seconds, breaker=breakers["database"]
            )
            snapshot = Snapshot(repository, default_timezone=settings.timezone)
            await snapshot.reload()
            refresher = Refresher(
                snapshot,
                client,
                channel=f"{settings.redis_prefix}rules",
                poll_seconds=settings.rules_poll_seconds,
                redis_timeout=settings.redis_timeout_seconds,
            )
            await learn_cluster(client, settings.redis_timeout_seconds)
            refresher.start()
            grace = timedelta(seconds=settings.sweep_grace_seconds)
            stock = RedisStock(
                client,
                prefix=settings.redis_prefix,
                timeout=settings.redis_timeout_seconds,
                sweep_grace=grace,
                breaker=breakers["redis"],
            )
            ledger = SqlReservationRepository(
                engine, timeout=settings.db_timeout_seconds, breaker=breakers["database"]
            )
            recovery = Recovery(stock, ledger)
            await _prepare_counters(stock, recovery, snapshot)
            counters = InventoryCounterReader(stock)
            quotes = QuoteService(
                rules=snapshot, repository=repository, counters=counters, price=price
            )
            attempts = CodeAttempts(
                RedisAttempts(
                    client,
                    prefix=settings.redis_prefix,
                    timeout=settings.redis_timeout_seconds,
                    breaker=breakers["redis"],
                ),
                AttemptLimits(
                    per_customer=settings.code_attempts_per_customer,
                    per_key=settings.code_attempts_per_key,
                    window_seconds=settings.code_attempts_window_seconds,
                ),
            )
            reservations = ReservationService(
                # failed codes count in reservations too: guessing codes through
                # POST /v1/reservations is limited like through POST /v1/quote
                quotes=attempts.guarding(quotes),
                ledger=ledger,
                inventory=stock,
                record_quote=record_quote,
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
                scan=settings.sweep_scan,
                deadline=settings.db_timeout_seconds + 4 * settings.redis_timeout_seconds,
                grace=grace,
                abandon=timedelta(seconds=settings.reservation_abandon_seconds),
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
            quotes=quotes,
            reservations=reservations,
            flash_sales=FlashSaleService(rules=snapshot, inventory=stock),
            promotions=PromotionAdmin(
                repository=repository,
                ledger=ledger,
                rules_changed=refresher,
                counter_keeper=recovery,
                default_timezone=settings.timezone,
                max_discount_percent=settings.max_discount_percent,
            ),
            sweeper=sweeper,
            record_quote=record_quote,
            claims=ClaimService(
                rules=snapshot,
                counters=RedisClaims(
                    client,
                    prefix=settings.redis_prefix,
                    timeout=settings.redis_timeout_seconds,
                    breaker=breakers["redis"],
                ),
                ledger=SqlClaimRepository(
                    engine, timeout=settings.db_timeout_seconds, breaker=breakers["database"]
                ),
            ),
            attempts=attempts,
            codes=CodeAdmin(repository=repository, rules_changed=refresher),
            previews=Previewer(
                quotes=quotes,
                default_timezone=settings.timezone,
                max_discount_percent=settings.max_discount_percent,
            ),
            breakers=breakers,
            api_keys=settings.api_keys,
            api_key_names=settings.api_key_names,
            owns_redis=redis is None,
        )

    async def stop(self) -> None:
        await self.sweeper.stop()
        self.quotes.close()
        await self.refresher.stop()
        if self.owns_redis:
            await self.redis.aclose()
        await self.ledger.aclose()
        await self.engine.dispose()

    async def readiness(self) -> ReadinessReport:
        """Each dependency's state (``up``/``down``: a ping of its own, past the
        breaker) and its breaker's state (``closed``/``open``/``half_open``); the
        rules version; the stored promotions that do not read."""
        database, redis = await asyncio.gather(
            _state(db.ping(self.engine, self.settings.db_timeout_seconds)),
            _state(redis_client.ping(self.redis, self.settings.redis_timeout_seconds)),
        )
        return ReadinessReport(
            dependencies={
                "database": {"state": database, "breaker": self._breaker_state("database")},
                "redis": {"state": redis, "breaker": self._breaker_state("redis")},
            },
            rules_version=self.snapshot.rules.version,
            unreadable=tuple(
                {"id": u.promotion_id, "error": u.error, "serving": u.serving}
                for u in self.snapshot.unreadable
            ),
        )

    def _breaker_state(self, name: str) -> str:
        breaker = self.breakers.get(name)
        return "none" if breaker is None else breaker.state.value


def make_breakers(settings: Settings) -> dict[str, CircuitBreaker]:
    """One breaker per dependency for this process (``docs/resilience.md``)."""
    observer = PrometheusObserver()

    def config(slow_call_seconds: float) -> BreakerConfig:
        return BreakerConfig(
            window_calls=settings.breaker_window_calls,
            minimum_calls=min(settings.breaker_minimum_calls, settings.breaker_window_calls),
            failure_rate=settings.breaker_failure_rate,
            slow_call_rate=settings.breaker_slow_call_rate,
            slow_call_seconds=slow_call_seconds,
            open_seconds=settings.breaker_open_seconds,
            half_open_calls=settings.breaker_half_open_calls,
        )

    redis_slow = settings.redis_slow_call_seconds or settings.redis_timeout_seconds
    db_slow = settings.db_slow_call_seconds or settings.db_timeout_seconds
    return {
        "redis": CircuitBreaker("redis", config(redis_slow), observer=observer),
        "database": CircuitBreaker("database", config(db_slow), observer=observer),
    }


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """What ``/readyz`` shows. Ready means every dependency answers; unreadable
    stored promotions are reported but do not make the instance unready (every
    instance would read them alike, and the rest keeps pricing)."""

    dependencies: Mapping[str, Mapping[str, str]]
    rules_version: str
    unreadable: tuple[Mapping[str, object], ...]

    @property
    def ready(self) -> bool:
        return all(check["state"] == "up" for check in self.dependencies.values())


class Readiness(Protocol):
    async def readiness(self) -> ReadinessReport: ...


async def _prepare_counters(stock: RedisStock, recovery: Recovery, snapshot: Snapshot) -> None:
    """Load the scripts, then load (or rebuild from the ledger) the counters of
    every stored promotion that has them, before the first request. Redis not
    answering is no reason not to start: the sweeper retries."""
    try:
        await stock.load_scripts()
        await recovery.keep(snapshot.rules.promotions, now=datetime.now(UTC))
    except Unavailable as exc:
        log.warning(
            "Redis did not answer at start-up (%s): quotes are degraded and reservations "
            "answer 503 until it does; its counters will be loaded then",
            exc.detail,
        )


async def _state(probe: Awaitable[None]) -> str:
    try:
        await probe
    except Exception:
        return "down"
    return "up"
