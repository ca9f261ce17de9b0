"""Load shedding: beyond the in-flight bound, 503 ``overloaded`` at once; exempt paths pass."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from app.api.load_shedding import LoadSheddingMiddleware
from tests.api.test_admin import assert_problem
from tests.conftest import Start


class Held:
    """An ASGI app whose requests wait until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.arrived: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        self.arrived.put_nowait(None)
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


async def test_beyond_the_bound_requests_are_refused_at_once_and_admitted_ones_finish() -> None:
    inner = Held()
    app = LoadSheddingMiddleware(inner, limit=2, retry_after=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        admitted = [asyncio.create_task(client.post("/v1/quote")) for _ in range(2)]
        for _ in range(2):
            await inner.arrived.get()
        refused = await asyncio.gather(*(client.post("/v1/quote") for _ in range(5)))
        for response in refused:
            body = assert_problem(response, 503, "overloaded")
            assert response.headers["retry-after"] == "3"
            assert "limit is 2" in body["detail"]
        assert inner.entered == 2  # a refused request never reached the app
        # health, readiness and metrics are exempt
        probe = asyncio.create_task(client.get("/readyz"))
        await inner.arrived.get()
        inner.release.set()
        assert [r.status_code for r in await asyncio.gather(*admitted, probe)] == [200] * 3
        # room again once they are answered
        assert (await client.post("/v1/quote")).status_code == 200
    assert app.limit.in_flight == 0


async def test_the_app_sheds_with_its_settings(start_sqlite: Start) -> None:
    running = await start_sqlite(max_in_flight_requests=1)
    assert (await running.client.get("/healthz")).status_code == 200
    quoted = await running.client.post(
        "/v1/quote",
        json={"currency": "CNY", "lines": [{"sku": "A", "qty": 1, "unit_price": 100}]},
        headers={"Authorization": "Bearer checkout-test-key"},
    )
    assert quoted.status_code == 200, quoted.text  # one at a time is within the bound
    text = (await running.client.get("/metrics")).text
    assert "pricing_http_in_flight" in text
    assert "pricing_http_shed_total" in text
