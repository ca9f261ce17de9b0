"""The ASGI application: ``app = create_app()``.

``lifespan`` owns the shared clients (database engine, Redis, the rules
snapshot and its refresher, the inventory, the reservation service and the
sweeper) through ``Wiring``; routers reach them with the ``WiringDep``
dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from app.api.docs import install_docs
from app.api.errors import install_error_handlers
from app.api.openapi import install_openapi
from app.api.routes import admin, flash_sales, ops, quote, reservations
from app.metrics import MetricsMiddleware
from app.quoting import Pricer
from app.settings import Settings, get_settings
from app.wiring import Wiring


def create_app(
    settings: Settings | None = None,
    *,
    pricer: Pricer | None = None,
    redis: Redis | None = None,
) -> FastAPI:
    """The application. ``pricer`` and ``redis`` replace the real engine and the
    client from the settings (tests); by default neither is given."""
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wiring = await Wiring.start(config, pricer=pricer, redis=redis)
        app.state.wiring = wiring
        try:
            yield
        finally:
            await wiring.stop()

    app = FastAPI(
        title="Promotion pricing",
        version="0.1.0",
        summary="Prices carts against stacked promotions; see API.md and docs/api.md.",
        lifespan=lifespan,
        docs_url=None,  # install_docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.include_router(quote.router)
    app.include_router(reservations.router)
    app.include_router(flash_sales.router)
    app.include_router(admin.router)
    app.include_router(ops.router)
    install_docs(app)
    install_openapi(app)
    return app


app = create_app()
