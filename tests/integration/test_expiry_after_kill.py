"""A reservation comes back by itself even when the process that made it dies.

A real ``python -m app`` on PostgreSQL + Redis reserves flash-sale stock and
is killed (SIGKILL: no shutdown, no clean-up); a second process, started
afterwards, expires the reservation and the stock is available again.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ADMIN,
    CHECKOUT,
)
from tests.integration.processes import services

pytestmark = pytest.mark.slow

TTL_SECONDS = 2


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
