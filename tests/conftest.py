"""Shared fixtures: the two storage back ends, and apps running their lifespan.

``backend`` is parametrised over the embedded default (a SQLite file in
``tmp_path`` + in-process fakeredis) and real PostgreSQL + Redis. Each
PostgreSQL test gets its own schema (dropped afterwards) and each Redis test
its own key prefix (deleted afterwards), so runs in parallel do not collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.quoting.quote_service import PriceFunction
from app.settings import Settings

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")

CHECKOUT_KEY = "checkout-test-key"
ADMIN_KEY = "admin-test-key"
KEYS = f"checkout:{CHECKOUT_KEY},admin:{ADMIN_KEY}"
CHECKOUT = {"Authorization": f"Bearer {CHECKOUT_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass
class Backend:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "pricing_api_keys": KEYS,
            "auto_migrate": True,
            "rules_poll_seconds": 1.0,
            "default_timezone": "Asia/Shanghai",
            "gc_freeze": False,  # hundreds of apps in one process: let their garbage go
            **self.options,
            **overrides,
        }
        return Settings(**values)


async def drop_schema(schema: str) -> None:
    engine = create_async_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


async def delete_prefix(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def postgres_options() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:12]
    return {
        "database_url": PG_URL,
        "database_schema": f"t_{tag}",
        "redis_url": REDIS_URL,
        "redis_prefix": f"test:{tag}:",
    }


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend(
            "sqlite",
            {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}", "redis_url": ""},
        )
        return
    options = postgres_options()
    try:
        yield Backend("postgres", options)
    finally:
        await drop_schema(options["database_schema"])
        await delete_prefix(options["redis_prefix"])


@pytest.fixture
async def postgres_backend() -> AsyncIterator[Backend]:
    """PostgreSQL + the shared Redis only, in a schema and key prefix of its own."""
    options = postgres_options()
    try:
        yield Backend("postgres", options)
    finally:
        await drop_schema(options["database_schema"])
        await delete_prefix(options["redis_prefix"])


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> Backend:
    return Backend(
        "sqlite",
        {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}", "redis_url": ""},
    )


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def wiring(self) -> Any:
        return self.app.state.wiring


Start = Callable[..., Awaitable[Running]]


def _starter(stack: AsyncExitStack, default: Backend) -> Start:
    async def start(
        *,
        backend: Backend | None = None,
        price: PriceFunction | None = None,
        redis: Redis | None = None,
        **overrides: Any,
    ) -> Running:
        settings = (backend or default).settings(**overrides)
        app = create_app(settings, price=price, redis=redis)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url="http://test",
            )
        )
        return Running(app, client)

    return start


@pytest.fixture
async def start(backend: Backend) -> AsyncIterator[Start]:
    """Start an app (lifespan running) on the parametrised back end."""
    async with AsyncExitStack() as stack:
        yield _starter(stack, backend)


@pytest.fixture
async def start_sqlite(sqlite_backend: Backend) -> AsyncIterator[Start]:
    """Start an app on the embedded back end only (for tests storage does not affect)."""
    async with AsyncExitStack() as stack:
        yield _starter(stack, sqlite_backend)


@pytest.fixture
async def start_postgres(postgres_backend: Backend) -> AsyncIterator[Start]:
    """Start an app on PostgreSQL + Redis only (races, recovery)."""
    async with AsyncExitStack() as stack:
        yield _starter(stack, postgres_backend)


@pytest.fixture
async def client(start: Start) -> httpx.AsyncClient:
    return (await start()).client


@pytest.fixture
async def sqlite_client(start_sqlite: Start) -> httpx.AsyncClient:
    return (await start_sqlite()).client
