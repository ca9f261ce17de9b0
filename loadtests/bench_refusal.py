"""What one load-shedding refusal costs the event loop, in-process.

Run it from the project root::

    .venv/bin/python -m loadtests.bench_refusal [--requests 20000]

Calls ``LoadSheddingMiddleware`` with its bound full, as uvicorn would call the
app, and reports the time per refused request (the 503 ``overloaded`` problem
built and sent), next to an admitted call of an app that does nothing. What the
server spends per connection before the app (accepting it, parsing the request,
the task) is not in these numbers: docs/resilience.md compares them with the
admitted requests' latency in a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from app.api.load_shedding import LoadSheddingMiddleware

SCOPE: dict[str, Any] = {"type": "http", "path": "/v1/quote", "method": "POST", "headers": []}


async def _nothing(_scope: Any, _receive: Any, _send: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(_message: Any) -> None:
    return None


async def per_call(middleware: LoadSheddingMiddleware, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await middleware(SCOPE, _receive, _send)
    return (time.perf_counter() - started) / requests


async def main(requests: int) -> None:
    admitted = LoadSheddingMiddleware(_nothing, limit=1)
    refusing = LoadSheddingMiddleware(_nothing, limit=1)
    refusing.limit.enter()  # the bound is full: every call is refused
    for _ in range(3):
        through, refused = await per_call(admitted, requests), await per_call(refusing, requests)
        print(f"admitted (app does nothing) {through * 1e6:6.1f} µs, "
              f"refused {refused * 1e6:6.1f} µs")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_refusal")
    parser.add_argument("--requests", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().requests))
