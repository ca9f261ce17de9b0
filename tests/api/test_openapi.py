"""The contract a client generator reads: ``/openapi.json`` documents the
problem+json errors each route sends and describes every field; ``/docs`` and
``/redoc`` work offline."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
async def spec(sqlite_client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await sqlite_client.get("/openapi.json")).json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_nothing_from_elsewhere(
    sqlite_client: httpx.AsyncClient, page: str
) -> None:
    html = (await sqlite_client.get(page)).text
    assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", html), "a CDN is referenced"
    assert "fonts.googleapis" not in html
    assets = re.findall(r"(?:src|href)=\"(/[^\"]+)\"", html)
    assert len(assets) >= 2
    for asset in assets:
        served = await sqlite_client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    assert "/openapi.json" in html
    if page == "/docs":
        assert '"validatorUrl": null' in html  # the validator badge would call out


async def test_every_error_is_documented_as_problem_json(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, operation in _operations(spec):
        where = f"{method.upper()} {path}"
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM], where
        statuses = set(operation["responses"])
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in statuses, where
        if operation.get("security"):
            assert {"401", "403"} <= statuses, where
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert "404" in statuses, where
        if path.startswith("/v1/"):
            assert "503" in statuses, where
            assert "Retry-After" in operation["responses"]["503"]["headers"], where


async def test_refused_reservations_document_the_fresh_quote(spec: dict[str, Any]) -> None:
    conflict = spec["paths"]["/v1/reservations"]["post"]["responses"]["409"]
    for code in ("price_changed", "sold_out", "limit_reached"):
        assert code in conflict["description"]
    ref = conflict["content"][PROBLEM]["schema"]["$ref"].rsplit("/", 1)[1]
    quote = spec["components"]["schemas"][ref]["properties"]["quote"]
    assert "QuoteResponse" in str(quote)


async def test_every_field_has_a_description_and_an_example(spec: dict[str, Any]) -> None:
    missing = [
        f"{name}.{field}: {'description' if 'description' not in prop else 'example'}"
        for name, schema in spec["components"]["schemas"].items()
        for field, prop in schema.get("properties", {}).items()
        if "description" not in prop or ("examples" not in prop and "$ref" not in str(prop))
    ]
    assert missing == []


async def test_the_documented_examples_say_what_amounts_and_percent_mean(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    percent = schemas["ItemPercentOffBody-Input"]["properties"]["percent"]
    assert "off" in percent["description"]
    assert "9折" in percent["description"]
    unit_price = schemas["LineBody"]["properties"]["unit_price"]
    assert "fen" in unit_price["description"]
    assert all(isinstance(e, int) for e in unit_price["examples"])
