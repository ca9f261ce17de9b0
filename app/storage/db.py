"""The database engine and migrations, for PostgreSQL (asyncpg) and SQLite (aiosqlite).

``make_engine`` turns the settings into an ``AsyncEngine`` with every
connection-level timeout set; ``migrate`` brings the schema to Alembic's head
(under an advisory lock on PostgreSQL, so that several instances starting at
once take turns); ``ping`` is the readiness probe.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from app.settings import Settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
_MIGRATION_LOCK = 0x5052_4943  # "PRIC": pg_advisory_xact_lock key


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def make_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    timeout = settings.db_timeout_seconds
    connect_args: dict[str, Any] = {}
    options: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "postgresql":
        connect_args["timeout"] = timeout
        connect_args["command_timeout"] = max(timeout, settings.migrate_timeout_seconds)
        if settings.database_schema:
            connect_args["server_settings"] = {"search_path": settings.database_schema}
        options["pool_timeout"] = timeout
        options["pool_size"] = settings.db_pool_size
        options["max_overflow"] = settings.db_max_overflow
    elif backend == "sqlite":
        connect_args["timeout"] = timeout  # busy timeout when another process writes
    engine = create_async_engine(url, connect_args=connect_args, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        ping_when_idle(engine, settings.db_ping_after_idle_seconds)
    return engine


def ping_when_idle(engine: AsyncEngine, after_seconds: float) -> None:
    """Ping a pooled connection before use only when it has been idle longer than
    ``after_seconds`` (HikariCP's ``aliveBypassWindowMs``): SQLAlchemy's
    ``pool_pre_ping`` pings on every checkout, a round trip per database call at
    peak. A connection that fails its ping is replaced (the pool retries with a new
    one); one that dies while in use fails that call, and SQLAlchemy then
    invalidates every connection of the pool older than the failure, so after an
    outage one call per process fails at most, then the pool reconnects."""
    pool = engine.sync_engine.pool
    dialect: Dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _used(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _alive(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < after_seconds:
            return  # new, or used a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: this connection is not usable
            raise sa_exc.DisconnectionError(f"pooled connection failed its ping: {exc}") from exc
        if not alive:
            raise sa_exc.DisconnectionError("pooled connection failed its ping")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


async def prepare(conn: AsyncConnection, schema: str) -> None:
    """Serialise concurrent migrators and create the schema, on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    if schema:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


async def migrate(engine: AsyncEngine, settings: Settings) -> None:
    """Upgrade to head in one transaction (DDL is transactional on PostgreSQL)."""
    async with asyncio.timeout(settings.migrate_timeout_seconds), engine.begin() as conn:
        await prepare(conn, settings.database_schema)
        await conn.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def ping(engine: AsyncEngine, seconds: float) -> None:
    async with asyncio.timeout(seconds), engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
