"""``python -m app`` (or ``python -m app.cli.serve``): serve ``app.main:app`` with uvicorn.

On HOST:PORT with WORKERS, after refusing set-ups that cannot be safe, and after
checking that the database answers: the service cannot start without it (the
rules are read from it at start-up), so a database that does not answer ends
the command with one line saying which and why (exit status 1), instead of
uvicorn's traceback of the failed start-up. Redis is not checked: the service
starts without it, degraded (docs/resilience.md), and says so in one line.

Logs go to stderr, one JSON object a line (``LOG_FORMAT``, ``LOG_LEVEL``). With
``WORKERS`` > 1 the workers keep their Prometheus series in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory unless given; its
``*.db`` files are removed at start), and ``/metrics`` answers the sum over
workers, whichever answers.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.observability.logs import logging_config
from app.resilience.quiet_log import brief
from app.settings import Settings, get_settings
from app.storage import db


def database_problem(settings: Settings) -> str | None:
    """Why the database cannot be used, in one line, or None when it answers."""

    async def check() -> None:
        engine = db.make_engine(settings)
        try:
            await db.ping(engine, settings.db_timeout_seconds)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except Exception as exc:  # any failure to connect is the same news to an operator
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite":
            where = f"SQLite database {url.database!r}"
        else:
            where = f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database}"
        reason = "no answer in time" if isinstance(exc, TimeoutError) else brief(exc)
        return f"cannot start: {where} is unreachable ({reason}). Check DATABASE_URL."
    return None


def main() -> None:
    try:
        settings = get_settings()
    except ValidationError as exc:
        sys.exit(f"invalid configuration:\n{exc}")
    if not settings.api_keys and not settings.host_is_loopback:
        sys.exit(
            f"refusing to listen on {settings.host}: no PRICING_API_KEYS are configured, so "
            "the service would be open to anyone. Set PRICING_API_KEYS "
            "(e.g. checkout:KEY1,admin:KEY2) or listen on a loopback address "
            "(HOST=127.0.0.1)."
        )
    if settings.workers > 1 and not settings.redis_url:
        sys.exit(
            f"refusing to start {settings.workers} workers without REDIS_URL: each would have "
            "an in-process Redis of its own and sell the whole flash-sale stock again. Set "
            "REDIS_URL (e.g. redis://127.0.0.1:6379/0) or WORKERS=1."
        )
    problem = database_problem(settings)
    if problem is not None:
        sys.exit(problem)
    if settings.workers > 1:
        _multiprocess_metrics()
    uvicorn.run(
        "app.main:app",
        log_config=logging_config(
            level=settings.log_level, json_lines=settings.log_format == "json"
        ),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


def _multiprocess_metrics() -> None:
    """prometheus-client's multiprocess mode for the workers (they inherit the
    variable, and read it when they import prometheus-client): a directory of
    their own, empty, as the client requires."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in Path(given).glob("*.db"):  # a previous run's series
            stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pricing-metrics-")


if __name__ == "__main__":
    main()
