"""``/metrics`` parsed with prometheus-client's parser: every series the ops
dashboard and the alert rules read is there and moves when traffic flows; the
request id and the JSON request log (``app.api.middleware``)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.observability.logs import JsonFormatter, request_id
from tests.api.test_reservations import body, create, flash, post, reserve
from tests.conftest import CHECKOUT, Start

OPS = Path(__file__).resolve().parents[2] / "ops"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

BUDGET = {
    "id": "bud",
    "scope": {"skus": ["B"]},
    "limits": {"budget": 100_000},
    "benefit": {"type": "amount_off", "amount": 700},
}


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def test_every_series_is_there_and_moves_with_traffic(
    sqlite_client: httpx.AsyncClient,
) -> None:
    client = sqlite_client
    await create(client, flash(stock=10))
    await create(client, BUDGET)
    before = await scrape(client)

    quote = {"customer": {"id": "u-9"}, "lines": [{"sku": "HOT", "qty": 1, "unit_price": 9000}]}
    assert (await client.post("/v1/quote", json=quote, headers=CHECKOUT)).status_code == 200
    made = await reserve(client, body("o-1"))
    assert made.status_code == 201, made.text
    assert (await reserve(client, body("o-1"))).status_code == 200  # replayed
    assert (await post(client, made.json()["reservation_id"], "confirm")).status_code == 200
    spend = {
        "order_id": "o-2",
        "customer": {"id": "u-2"},
        "lines": [{"sku": "B", "qty": 1, "unit_price": 3000}],
    }
    assert (await reserve(client, spend)).status_code == 201
    stale = await reserve(client, body("o-3", customer="u-3", expected_total=1))
    assert stale.status_code == 409

    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    quote_route = {"method": "POST", "route": "/v1/quote", "status": "200"}
    assert moved("pricing_http_requests_total", **quote_route) == 1
    assert moved("pricing_http_request_duration_seconds_count", **quote_route) == 1
    assert moved("pricing_http_request_duration_seconds_bucket", **quote_route, le="+Inf") == 1
    confirm_route = "/v1/reservations/{reservation_id}/confirm"
    assert (
        moved(
            "pricing_http_request_duration_seconds_count",
            method="POST",
            route=confirm_route,
            status="200",
        )
        == 1
    )
    assert moved("pricing_quotes_total", outcome="optimal") >= 1
    assert "pricing_quotes_total" in names(after)
    assert moved("pricing_quote_promotions_applied_total", promotion="fs") == 1
    assert moved("pricing_reservations_total", operation="reserve", outcome="reserved") == 2
    assert moved("pricing_reservations_total", operation="reserve", outcome="replayed") == 1
    assert moved("pricing_reservations_total", operation="reserve", outcome="price_changed") == 1
    assert moved("pricing_reservations_total", operation="confirm", outcome="confirmed") == 1
    assert moved("pricing_promotion_discount_given_minor_total", promotion="fs") == 9000 - 5000
    assert moved("pricing_promotion_orders_total", promotion="fs") == 1
    assert moved("pricing_gmv_minor_total") == 5000
    stock = {"promotion": "fs", "sku": "HOT"}
    assert value(before, "pricing_flash_sale_stock_available", **stock) == 10
    assert value(after, "pricing_flash_sale_stock_available", **stock) == 9
    assert value(after, "pricing_flash_sale_stock_initial", **stock) == 10
    assert value(before, "pricing_promotion_budget_spent_minor", promotion="bud") == 0
    assert value(after, "pricing_promotion_budget_spent_minor", promotion="bud") == 700
    assert value(after, "pricing_promotion_budget_minor", promotion="bud") == 100_000
    assert value(after, "pricing_breaker_state", breaker="redis", state="closed") == 1
    assert value(after, "pricing_breaker_state", breaker="database", state="open") == 0
    # every series the alert rules and the dashboard read is one the service exposes
    read = set()
    for path in [OPS / "prometheus" / "alerts.yml", *OPS.glob("grafana/dashboards/*.json")]:
        read |= set(re.findall(r"\bpricing_[a-z_]+", path.read_text()))
    assert len(read) >= 10
    assert read - names(after) == set()


async def test_routes_are_templates_not_raw_paths(sqlite_client: httpx.AsyncClient) -> None:
    for n in range(3):
        await sqlite_client.get(f"/v1/reservations/r-{n}", headers=CHECKOUT)
    await sqlite_client.get("/no/such/path/1")
    routes = {
        dict(labels).get("route")
        for name, labels in await scrape(sqlite_client)
        if name == "pricing_http_requests_total"
    }
    assert "/v1/reservations/{reservation_id}" in routes
    assert "unmatched" in routes
    assert not any(route and "r-1" in route for route in routes)
    assert not any(route and "/no/such" in route for route in routes)


# ------------------------------------------------------------------ request ids, logs


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """The ``app.access`` lines as ``python -m app`` writes them (JSON), formatted
    when written, inside the request."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app.access")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)


async def test_request_id_is_taken_when_safe_and_made_otherwise(
    sqlite_client: httpx.AsyncClient, access_lines: list[str]
) -> None:
    given = await sqlite_client.get("/healthz", headers={"X-Request-ID": "req-42.a:b_c"})
    assert given.headers["x-request-id"] == "req-42.a:b_c"
    for bad in ("x" * 129, 'quote"injected', "two words", ""):
        made = await sqlite_client.get("/healthz", headers={"X-Request-ID": bad})
        assert len(made.headers["x-request-id"]) == 32, bad
        int(made.headers["x-request-id"], 16)
    first = (await sqlite_client.get("/healthz")).headers["x-request-id"]
    second = (await sqlite_client.get("/healthz")).headers["x-request-id"]
    assert first != second
    refused = await sqlite_client.get("/v1/reservations/r-1", headers={"X-Request-ID": "abc"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "abc"
    # probes answered 200 are not logged; the refused request is, once, with its id
    logged = [json.loads(line) for line in access_lines]
    assert [line["request_id"] for line in logged] == ["abc"]
    line: dict[str, Any] = logged[0]
    assert line["route"] == "/v1/reservations/{reservation_id}"
    assert (line["method"], line["status"], line["level"]) == ("GET", 401, "info")
    assert line["logger"] == "app.access"
    assert isinstance(line["duration_ms"], float)
    assert line["time"].endswith("+00:00")


def test_request_id_bounds() -> None:
    assert request_id("a" * 128) == "a" * 128
    assert request_id("a" * 129) != "a" * 129
    assert request_id("\u5e93\u5b58") != "\u5e93\u5b58"  # only ASCII letters, digits, ._:-
    assert request_id("ok\r\nX-Evil: 1") != "ok\r\nX-Evil: 1"


async def test_metrics_answer_without_redis_leaving_the_stock_out(start_sqlite: Start) -> None:
    running = await start_sqlite(redis_url="redis://127.0.0.1:9/0", redis_timeout_seconds=0.2)
    await create(running.client, flash(stock=10))
    response = await running.client.get("/metrics")
    assert response.status_code == 200
    samples = await scrape(running.client)
    assert "pricing_http_requests_total" in names(samples)
    assert "pricing_flash_sale_stock_available" not in names(samples)
