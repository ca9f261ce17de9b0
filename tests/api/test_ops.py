"""``/healthz``, ``/readyz``, ``/metrics``, ``/docs``, and errors outside the routes."""

from __future__ import annotations

import gc

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api.fakes import RecordingPricer
from tests.api.test_admin import assert_problem
from tests.conftest import Start


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_database_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "database": {"state": "up", "breaker": "closed"},
        "redis": {"state": "up", "breaker": "closed"},
    }
    assert "#" in body["rules_version"]


async def test_readyz_is_503_with_states_when_redis_is_down(start_sqlite: Start) -> None:
    running = await start_sqlite(redis_url="redis://127.0.0.1:9/0", redis_timeout_seconds=0.2)
    response = await running.client.get("/readyz")
    body = assert_problem(response, 503, "unavailable")
    assert response.headers["retry-after"].isdigit()
    assert body["checks"]["redis"]["state"] == "down"
    assert body["checks"]["database"]["state"] == "up"
    assert "redis" in body["detail"]


async def test_readyz_is_503_when_the_database_is_gone(start_sqlite: Start) -> None:
    running = await start_sqlite(db_timeout_seconds=0.5)
    real = running.wiring.engine
    nowhere = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    running.wiring.engine = nowhere
    try:
        response = await running.client.get("/readyz")
    finally:
        running.wiring.engine = real
        await nowhere.dispose()
    body = assert_problem(response, 503, "unavailable")
    assert body["checks"]["database"]["state"] == "down"
    assert "retry-after" in response.headers


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/v1/admin/promotions/some-id")  # 401, templated route
    text = (await client.get("/metrics")).text
    assert "# TYPE pricing_http_requests_total counter" in text
    assert 'pricing_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/v1/admin/promotions/{promotion_id}",status="401"' in text
    assert "some-id" not in text
    assert "pricing_http_request_duration_seconds_bucket" in text
    assert "pricing_rules_version" in text


async def test_docs_and_openapi(start_sqlite: Start) -> None:
    client = (await start_sqlite(price=RecordingPricer())).client
    assert "swagger" in (await client.get("/docs")).text.lower()
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/v1/quote", "/v1/admin/promotions", "/v1/admin/promotions/{promotion_id}"} <= set(
        paths
    )


async def test_unknown_route_and_wrong_method_are_problems(start_sqlite: Start) -> None:
    client = (await start_sqlite()).client
    assert_problem(await client.get("/nowhere"), 404, "not_found")
    wrong = await client.get("/v1/quote")
    assert_problem(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["allow"]


async def test_start_up_freezes_what_it_built(start: Start) -> None:
    """``GC_FREEZE`` (on outside the tests): what start-up built is moved out of the
    collector's sight, so full collections do not walk it behind every request."""
    gc.unfreeze()
    try:
        running = await start(gc_freeze=True)
        assert gc.get_freeze_count() > 10_000
        assert (await running.client.get("/healthz")).status_code == 200
    finally:
        gc.unfreeze()
