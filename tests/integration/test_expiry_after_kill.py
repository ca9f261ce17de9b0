"""A reservation comes back by itself even when the process that made it dies.

A real ``python -m app`` on PostgreSQL + Redis reserves flash-sale stock and
is killed (SIGKILL: no shutdown, no clean-up); a second process, started
afterwards, expires the reservation and the stock is available again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ADMIN,
    CHECKOUT,
    KEYS,
    PG_URL,
    REDIS_URL,
    delete_prefix,
    drop_schema,
    postgres_options,
)
from tests.integration.test_two_processes import ROOT, free_port, wait_healthy

pytestmark = pytest.mark.slow

TTL_SECONDS = 2

Started = tuple[httpx.AsyncClient, asyncio.subprocess.Process]


@asynccontextmanager
async def services(
    tmp_path: Path, **env: str
) -> AsyncIterator[Callable[[str], Awaitable[Started]]]:
    """Starts ``python -m app`` processes on one fresh schema and key prefix."""
    options = postgres_options()
    base = {
        **os.environ,
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": options["database_schema"],
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": options["redis_prefix"],
        "PRICING_API_KEYS": KEYS,
        "HOST": "127.0.0.1",
        **env,
    }
    processes: list[asyncio.subprocess.Process] = []
    async with AsyncExitStack() as stack:

        async def start(name: str) -> Started:
            port = free_port()
            log = stack.enter_context((tmp_path / f"{name}.log").open("wb"))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app", cwd=ROOT, env={**base, "PORT": str(port)},
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            processes.append(process)
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)
            )
            await wait_healthy(client, process)
            return client, process

        try:
            yield start
        finally:
            for process in processes:
                if process.returncode is None:
                    process.terminate()
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            await drop_schema(options["database_schema"])
            await delete_prefix(options["redis_prefix"])


async def level(client: httpx.AsyncClient) -> tuple[int, int, int, int]:
    response = await client.get("/v1/flash-sales/fs-kill", headers=CHECKOUT)
    assert response.status_code == 200, response.text
    item = response.json()["items"][0]
    return item["initial"], item["available"], item["reserved"], item["sold"]


async def test_stock_comes_back_after_the_reserving_process_is_killed(tmp_path: Path) -> None:
    async with services(
        tmp_path,
        RESERVATION_TTL_SECONDS=str(TTL_SECONDS),
        SWEEP_INTERVAL_SECONDS="0.2",
    ) as start:
        first, process = await start("first")
        created = await first.post(
            "/v1/admin/promotions",
            json={
                "id": "fs-kill",
                "benefit": {
                    "type": "flash_sale",
                    "items": [{"sku": "K", "price": 100, "stock": 5, "per_customer_limit": 3}],
                },
            },
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        made = await first.post(
            "/v1/reservations",
            json={
                "order_id": "o-kill",
                "customer": {"id": "u-1"},
                "lines": [{"sku": "K", "qty": 3, "unit_price": 1000}],
            },
            headers=CHECKOUT,
        )
        assert made.status_code == 201, made.text
        assert await level(first) == (5, 2, 3, 0)

        process.send_signal(signal.SIGKILL)
        await process.wait()
        killed_at = time.monotonic()

        second, _ = await start("second")
        while await level(second) != (5, 5, 0, 0):
            assert time.monotonic() - killed_at < TTL_SECONDS + 8, await level(second)
            await asyncio.sleep(0.1)
        read = await second.get(
            f"/v1/reservations/{made.json()['reservation_id']}", headers=CHECKOUT
        )
        assert read.json()["status"] == "expired"
