"""Two real ``python -m app`` processes on one PostgreSQL + Redis: a promotion
created through one is priced by the other within 2 seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.bodies import promotion
from tests.conftest import ADMIN, CHECKOUT
from tests.integration.processes import services

CART = {
    "at": "2026-11-11T10:00:00+08:00",
    "lines": [{"sku": "A", "qty": 1, "unit_price": 40000}],
}


@pytest.fixture
async def two_services(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with services(tmp_path, WORKERS="1", RULES_POLL_SECONDS="1.0") as start:
        (a, _), (b, _) = await start("a"), await start("b")
        yield a, b


async def discount_on(client: httpx.AsyncClient) -> tuple[int, str]:
    response = await client.post("/v1/quote", json=CART, headers=CHECKOUT)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["discount_total"], body["rules_version"]


async def wait_for_discount(client: httpx.AsyncClient, expected: int, since: float) -> float:
    while True:
        discount, _ = await discount_on(client)
        elapsed = time.monotonic() - since
        if discount == expected:
            return elapsed
        assert elapsed < 2.0, f"after {elapsed:.2f}s the other instance still gives {discount}"
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_a_change_through_one_instance_is_live_on_the_other_within_2_seconds(
    two_services: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = two_services
    assert (await discount_on(b))[0] == 0

    since = time.monotonic()
    created = await a.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    assert created.status_code == 201, created.text
    assert (await discount_on(a))[0] == 5000  # the writer is live at once
    await wait_for_discount(b, 5000, since)

    since = time.monotonic()
    paused = promotion(id=None, status="paused")
    replaced = await b.put("/v1/admin/promotions/d11-300-50", json=paused, headers=ADMIN)
    assert replaced.status_code == 200, replaced.text
    await wait_for_discount(a, 0, since)

    since = time.monotonic()
    await a.put("/v1/admin/promotions/d11-300-50", json=promotion(id=None), headers=ADMIN)
    await wait_for_discount(b, 5000, since)
    since = time.monotonic()
    assert (await a.delete("/v1/admin/promotions/d11-300-50", headers=ADMIN)).status_code == 204
    await wait_for_discount(b, 0, since)
    assert (await discount_on(a))[1] == (await discount_on(b))[1]
