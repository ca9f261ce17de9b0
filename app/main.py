"""The ASGI application: ``app = create_app()``.

``lifespan`` owns the shared clients and the services (``app.wiring.Wiring``);
each router reaches the one service it calls through a narrow ``Annotated``
dependency (``app.api.deps``).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from app.api.docs import install_docs
from app.api.hot_paths import HotPaths
from app.api.load_shedding import LoadSheddingMiddleware
from app.api.middleware import MetricsMiddleware
from app.api.openapi import install_openapi
from app.api.problem_docs import problems
from app.api.problems import install_error_handlers
from app.api.records import order_document
from app.api.routes import (
    admin,
    admin_codes,
    coupons,
    flash_sales,
    ops,
    preview,
    quote,
    reservations,
)
from app.quoting.quote_service import PriceFunction
from app.rules.engine import price as engine_price
from app.settings import Settings, get_settings
from app.wiring import Wiring


def create_app(
    settings: Settings | None = None,
    *,
    price: PriceFunction | None = None,
    redis: Redis | None = None,
) -> FastAPI:
    """The application. ``price`` and ``redis`` replace the engine's ``price`` and the
    client from the settings (tests); by default neither is given."""
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wiring = await Wiring.start(
            config, record_quote=order_document, price=price or engine_price, redis=redis
        )
        app.state.wiring = wiring
        # What start-up built (modules, the rules snapshot, pools) lives as long as
        # the process: out of the collector's sight, a full collection no longer
        # walks it (tens of milliseconds of the event loop, each time)
        if config.gc_freeze:
            gc.collect()
            gc.freeze()
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
        # FastAPI's own OpenTelemetry hooks stay off: this service is watched through
        # Prometheus and JSON logs (docs/observability.md); on, every request asks
        # OpenTelemetry's global providers whether one is configured (~3% of a
        # losing reservation's CPU in py-spy, docs/performance.md)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    if config.hot_paths:
        app.add_middleware(HotPaths, api=app)
    app.add_middleware(MetricsMiddleware)
    # added last: the outermost, so a refused request costs nothing else
    app.add_middleware(
        LoadSheddingMiddleware,
        limit=config.max_in_flight_requests,
        retry_after=config.overload_retry_after_seconds,
    )
    # the quote's codes count as attempts (app.coupons.attempts): it may answer 429
    app.include_router(quote.router, responses=problems(429))
    app.include_router(reservations.router)
    app.include_router(coupons.router)
    app.include_router(flash_sales.router)
    app.include_router(admin.router)
    app.include_router(admin_codes.router)
    app.include_router(preview.router)
    app.include_router(ops.router)
    install_docs(app)
    install_openapi(app)
    return app


app = create_app()
