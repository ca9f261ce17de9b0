"""Bearer keys and roles (API.md "Auth")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.settings import ApiKey, Settings, is_loopback, parse_api_keys, parse_keys
from tests.api.bodies import cart, promotion
from tests.api.fakes import RecordingPricer
from tests.api.test_admin import assert_problem
from tests.conftest import ADMIN, CHECKOUT, Start

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(start_sqlite: Start) -> httpx.AsyncClient:
    return (await start_sqlite(price=RecordingPricer())).client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/quote"),
        ("GET", "/v1/admin/promotions"),
        ("POST", "/v1/admin/promotions"),
        ("GET", "/v1/admin/promotions/x"),
        ("DELETE", "/v1/admin/promotions/x"),
        ("GET", "/v1/admin/promotions/x/stats"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer"},
        {"Authorization": "admin-test-key"},
    ],
    ids=["none", "wrong", "basic", "empty", "no-scheme"],
)
async def test_no_or_unknown_key_is_401(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=headers, json={})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/promotions"),
        ("POST", "/v1/admin/promotions"),
        ("PUT", "/v1/admin/promotions/x"),
        ("PATCH", "/v1/admin/promotions/x"),
        ("DELETE", "/v1/admin/promotions/x"),
        ("GET", "/v1/admin/promotions/x/history"),
        ("POST", "/v1/admin/promotions/x/codes"),
        ("GET", "/v1/admin/promotions/x/stats"),
    ],
)
async def test_checkout_key_on_admin_is_403(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=CHECKOUT, json=promotion())
    assert_problem(response, 403, "forbidden")


async def test_checkout_may_quote_and_admin_may_do_everything(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/quote", json=cart(), headers=CHECKOUT)).status_code == 200
    assert (await client.post("/v1/quote", json=cart(), headers=ADMIN)).status_code == 200
    created = await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    assert created.status_code == 201


async def test_auth_comes_before_validation(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/quote", json={"lines": "nonsense"})
    assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"])
async def test_open_endpoints_need_no_key(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text


async def test_without_keys_the_service_is_open(start_sqlite: Start) -> None:
    client = (await start_sqlite(pricing_api_keys="", price=RecordingPricer())).client
    assert (await client.post("/v1/admin/promotions", json=promotion())).status_code == 201
    assert (await client.post("/v1/quote", json=cart())).status_code == 200


def test_keys_parse_into_roles() -> None:
    assert parse_api_keys("checkout:K1, admin:K2,") == {"K1": "checkout", "K2": "admin"}
    assert parse_api_keys("") == {}
    assert parse_keys("checkout:K1,admin:ops-anna:K2") == {
        "K1": ApiKey(role="checkout", name="checkout"),
        "K2": ApiKey(role="admin", name="ops-anna"),
    }
    for bad in [
        "K1",
        "checkout:",
        "root:K1",
        "checkout:K1,admin:K1",
        "admin::K1",
        "admin:a name:K1",
        "admin:anna:K1,admin:bob:K1",
    ]:
        with pytest.raises(ValueError, match="PRICING_API_KEYS"):
            parse_api_keys(bad)
    with pytest.raises(ValueError, match="PRICING_API_KEYS"):
        Settings(pricing_api_keys="superuser:K")


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
    assert not any(is_loopback(h) for h in ["0.0.0.0", "::", "10.0.0.1", "example.com"])


def _run_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::"])
def test_open_service_refuses_a_non_loopback_host(host: str, tmp_path: Path) -> None:
    done = _run_app(
        {
            "HOST": host,
            "PRICING_API_KEYS": "",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        }
    )
    assert done.returncode != 0
    assert "refusing to listen" in done.stderr
    assert "PRICING_API_KEYS" in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_bad_configuration_exits_with_a_message() -> None:
    done = _run_app({"PRICING_API_KEYS": "nonsense"})
    assert done.returncode != 0
    assert "invalid configuration" in done.stderr


def test_several_workers_need_a_real_redis(tmp_path: Path) -> None:
    done = _run_app(
        {
            "WORKERS": "2",
            "REDIS_URL": "",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        }
    )
    assert done.returncode != 0
    assert "REDIS_URL" in done.stderr
    assert not (tmp_path / "x.db").exists()
