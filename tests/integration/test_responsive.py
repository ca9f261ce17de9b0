"""Issue 12 over HTTP, on a real ``python -m app`` process: while a burst of carts
that the search can only bound is being priced, health checks and light quotes
are answered before the burst is done; SIGTERM in the middle of such a burst
stops the service cleanly, every accepted quote answered.

(How long ``/healthz`` waits is measured by ``loadtests/bench_responsive.py``;
these tests check the order of events, never a duration.)
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests.adversarial import near_threshold
from tests.api.bodies import promotion
from tests.conftest import ADMIN, CHECKOUT
from tests.integration.processes import Started, services

BURST = 16

PROMOTIONS = [
    promotion(
        id="shoes-10",
        name="shoes 10% off",
        benefit={"type": "item_percent_off", "percent": 10},
        scope={"categories": ["shoes"]},
    ),
    promotion(
        id="gold-8",
        name="gold 8% off",
        benefit={"type": "member_price", "tiers": {"gold": {"percent": 8}}},
        scope={"categories": ["shoes"]},
    ),
    promotion(
        id="mj-store",
        name="满300减50 / 满1000减200",
        benefit={
            "type": "threshold",
            "tiers": [
                {"min_amount": 30000, "amount_off": 5000},
                {"min_amount": 100000, "amount_off": 20000},
            ],
        },
    ),
]


def heavy_cart(seed: int) -> dict[str, Any]:
    """A 60-line near-threshold cart: the search runs to its work bound."""
    _, request = near_threshold(60, seed)
    return {
        "at": "2026-11-11T10:00:00+08:00",
        "customer": {"id": "c-gold", "tier": "gold"},
        "lines": [
            {"sku": line.sku, "qty": line.qty, "unit_price": line.unit_price, "category": "shoes"}
            for line in request.lines
        ],
    }


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Started]:
    async with services(tmp_path, WORKERS="1", SHUTDOWN_TIMEOUT_SECONDS="20") as start:
        client, process = await start("engine")
        for body in PROMOTIONS:
            created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
            assert created.status_code == 201, created.text
        yield client, process


async def _timed(request: Any) -> tuple[float, httpx.Response]:
    response = await request
    return time.monotonic(), response


@pytest.mark.slow
async def test_health_and_light_quotes_are_answered_during_a_burst_of_heavy_quotes(
    service: Started,
) -> None:
    client, _ = service
    # the seeds whose search the bound stops (checked below through `optimal`)
    seeds = [s for s in range(40) if s % 2 == 0][:BURST]
    heavy = [
        asyncio.create_task(
            _timed(client.post("/v1/quote", json=heavy_cart(s), headers=CHECKOUT, timeout=60))
        )
        for s in seeds
    ]
    await asyncio.sleep(0.05)  # the burst is on the wire
    health_done, health = await _timed(client.get("/healthz"))
    light_done, light = await _timed(
        client.post(
            "/v1/quote",
            json={"lines": [{"sku": "X", "qty": 1, "unit_price": 100}]},
            headers=CHECKOUT,
        )
    )
    finished = await asyncio.gather(*heavy)
    assert health.status_code == 200
    assert light.status_code == 200, light.text
    assert all(r.status_code == 200 for _, r in finished), [r.text for _, r in finished]
    last = max(done for done, _ in finished)
    assert health_done < last, "the health check waited for the whole burst"
    assert light_done < last, "a light quote waited for the whole burst"
    bodies = [r.json() for _, r in finished]
    stopped = [b for b in bodies if not b["optimal"]]
    assert stopped, "the burst holds carts the search cannot finish"
    for body in stopped:
        assert any("heuristic" in w or "combinations" in w for w in body["warnings"]), body
        assert body["total"] == body["subtotal"] - body["discount_total"]
    # the same cart gives the same quote, off the event loop or not
    again = await client.post("/v1/quote", json=heavy_cart(seeds[0]), headers=CHECKOUT)
    assert again.json()["total"] == bodies[0]["total"]


@pytest.mark.slow
async def test_sigterm_during_a_burst_stops_the_service_cleanly(service: Started) -> None:
    """Requests being priced when SIGTERM comes are answered, even those still
    waiting for the engine thread; then the process ends within its grace period.
    A request the server had not accepted or read yet may be refused or see its
    connection closed (uvicorn stops listening and closes idle connections at
    shutdown): a quote is a read, safe to retry on another instance — but never a
    5xx or half an answer."""
    client, process = service
    heavy = [
        asyncio.create_task(
            _timed(client.post("/v1/quote", json=heavy_cart(s), headers=CHECKOUT, timeout=60))
        )
        for s in range(BURST + 8)
    ]
    # the signal comes once the service is answering the burst (the first quote is
    # back), not after a fixed pause a faster service may outlast
    await asyncio.wait(heavy, return_when=asyncio.FIRST_COMPLETED)
    assert (await client.get("/healthz")).status_code == 200  # sent after the burst
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so that a
    # supervisor sees the process end by SIGTERM (exit status -15), not by a crash
    assert code in (0, -signal.SIGTERM)
    results = await asyncio.gather(*heavy, return_exceptions=True)
    answered = [r for r in results if isinstance(r, tuple)]
    for r in results:
        if not isinstance(r, tuple):
            # refused, or closed before a byte of the answer: never taken, safe to retry
            assert isinstance(
                r, httpx.ConnectError | httpx.ReadError | httpx.RemoteProtocolError
            ), repr(r)
    assert all(response.status_code == 200 for _, response in answered)
    assert any(done > signalled for done, _ in answered), "nothing was in flight at SIGTERM"
