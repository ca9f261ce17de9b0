"""Two real ``python -m app`` processes on one PostgreSQL + Redis: a promotion
created through one is priced by the other within 2 seconds."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.bodies import promotion
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

ROOT = Path(__file__).resolve().parents[2]
CART = {
    "at": "2026-11-11T10:00:00+08:00",
    "lines": [{"sku": "A", "qty": 1, "unit_price": 40000}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_healthy(client: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"the service exited with {process.returncode}")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the service did not become ready in 30 s")


@pytest.fixture
async def two_services(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    options = postgres_options()
    env = {
        **os.environ,
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": options["database_schema"],
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": options["redis_prefix"],
        "PRICING_API_KEYS": KEYS,
        "HOST": "127.0.0.1",
        "WORKERS": "1",
        "RULES_POLL_SECONDS": "1.0",
    }
    processes: list[asyncio.subprocess.Process] = []
    clients: list[httpx.AsyncClient] = []
    logs = []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = (tmp_path / f"{name}.log").open("wb")
            logs.append(log)
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "app",
                    cwd=ROOT,
                    env={**env, "PORT": str(port)},
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            )
            clients.append(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5))
        for client, process in zip(clients, processes, strict=True):
            await wait_healthy(client, process)
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        for log in logs:
            log.close()
        await drop_schema(options["database_schema"])
        await delete_prefix(options["redis_prefix"])


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
