"""``python -m app`` (or ``python -m app.cli.serve``): serve ``app.main:app`` with uvicorn.

On HOST:PORT with WORKERS, after refusing set-ups that cannot be safe.
"""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from app.settings import get_settings


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
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


if __name__ == "__main__":
    main()
