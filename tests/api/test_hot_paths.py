"""``app.api.hot_paths`` answers exactly as FastAPI's routes do, and does answer.

The same script of requests — valid ones, refusals of the service, bodies that
do not validate, missing and refused keys, other media types, both languages —
runs against two apps on the same back end, one with ``HOT_PATHS`` on and one
with it off (every request through FastAPI); each answer must be the same:
status, the headers a caller reads, and the body (values made at random or from
the clock — codes, ids, timestamps — compared by presence only). Then, that the
valid requests were answered without FastAPI's dependency solving.
"""

from __future__ import annotations

import difflib
import json
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from app.api.routes import coupons, quote, reservations
from tests.conftest import ADMIN, CHECKOUT, Backend, _starter, delete_prefix, drop_schema

PROMOTIONS: list[dict[str, Any]] = [
    {
        "id": "mj",
        "name": "满200减20",
        "benefit": {"type": "threshold", "tiers": [{"min_amount": 20000, "amount_off": 2000}]},
    },
    {
        "id": "fs",
        "benefit": {
            "type": "flash_sale",
            "items": [{"sku": "F", "price": 1000, "stock": 2, "per_customer_limit": 1}],
        },
    },
    {
        "id": "c1",
        "trigger": "coupon",
        "benefit": {"type": "amount_off", "amount": 500},
        "limits": {"max_claims": 1},
    },
]

CART = {
    "lines": [
        {"sku": "A", "qty": 2, "unit_price": 15000},
        {"sku": "F", "qty": 1, "unit_price": 3000},
    ]
}
ZH = {**CHECKOUT, "Accept-Language": "zh-CN"}


def reservation(order_id: str, customer: str, **more: Any) -> dict[str, Any]:
    lines = [{"sku": "F", "qty": 1, "unit_price": 3000}]
    return {"order_id": order_id, "customer": {"id": customer}, "lines": lines, **more}


# (path, headers, body, handed to FastAPI): a body that is bytes is sent as it is
H = True  # handed over: no key, a refused key, a body that does not validate, not JSON
STEPS: list[tuple[str, dict[str, str], Any, bool]] = [
    ("/v1/quote", CHECKOUT, CART, False),
    ("/v1/quote", ZH, CART, False),
    ("/v1/quote", ADMIN, {**CART, "customer": {"id": "u-1", "tier": "gold"}}, False),
    ("/v1/quote", CHECKOUT, {**CART, "coupon_codes": ["NOSUCHCODE"]}, False),
    ("/v1/quote", CHECKOUT, {**CART, "note": "gift"}, False),  # unknown fields are ignored
    ("/v1/quote", ZH, {"lines": [{"sku": "A", "qty": 0, "unit_price": 1.5}]}, H),
    ("/v1/quote", CHECKOUT, [CART], H),
    ("/v1/quote", {}, CART, H),  # no key
    ("/v1/quote", {"Authorization": "Bearer wrong"}, CART, H),
    ("/v1/quote", {"Authorization": "Basic abc"}, CART, H),
    ("/v1/quote", {"Authorization": f"bearer  {CHECKOUT['Authorization'][7:]}"}, CART, H),
    ("/v1/quote", {**CHECKOUT, "Content-Type": "application/json"}, b'{"lines": [', H),
    ("/v1/quote", {**CHECKOUT, "Content-Type": "text/plain"}, b'{"lines": []}', H),
    (
        "/v1/quote",
        {**CHECKOUT, "Content-Type": "application/json; charset=utf-8"},
        b'{"lines": [{"sku": "A", "qty": 1, "unit_price": 100}]}',
        False,
    ),
    (
        "/v1/coupons/claim",
        CHECKOUT,
        {"customer_id": "u-1", "promotion_id": "c1", "claim_id": "k-1"},
        False,
    ),
    (
        "/v1/coupons/claim",
        CHECKOUT,
        {"customer_id": "u-1", "promotion_id": "c1", "claim_id": "k-1"},
        False,
    ),
    ("/v1/coupons/claim", CHECKOUT, {"customer_id": "u-2", "promotion_id": "c1"}, False),
    ("/v1/coupons/claim", ZH, {"customer_id": "u-2", "promotion_id": "nope"}, False),
    ("/v1/coupons/claim", CHECKOUT, {"customer_id": "u-2", "promotion_id": "mj"}, False),
    ("/v1/coupons/claim", CHECKOUT, {"customer_id": "", "promotion_id": "c1"}, H),
    (
        "/v1/coupons/claim",
        {"Authorization": "Bearer wrong"},
        {"customer_id": "u-2", "promotion_id": "c1"},
        H,
    ),
    ("/v1/reservations", CHECKOUT, reservation("o-1", "u-1"), False),
    ("/v1/reservations", CHECKOUT, reservation("o-1", "u-1"), False),
    ("/v1/reservations", CHECKOUT, reservation("o-2", "u-1"), False),  # per-customer limit
    ("/v1/reservations", CHECKOUT, reservation("o-3", "u-2", expected_total=1), False),
    ("/v1/reservations", ZH, reservation("o-4", "u-3"), False),
    ("/v1/reservations", CHECKOUT, reservation("o-5", "u-4"), False),  # sold out
    ("/v1/reservations", CHECKOUT, {"order_id": "o-6", "lines": CART["lines"]}, H),
]

HEADERS = ("content-type", "content-language", "vary", "retry-after", "www-authenticate")
MADE = {"code", "claim_id", "reservation_id", "created_at", "updated_at", "expires_at"}
CLOCK = {"rules_version"}  # made from the clock wherever it is


def comparable(value: Any, *, made: bool) -> Any:
    """``value`` with what is made at random or from the clock reduced to its presence."""
    if isinstance(value, dict):
        return {
            k: (
                "<made>"
                if v is not None and (k in CLOCK or (made and k in MADE))
                else comparable(v, made=made)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [comparable(v, made=made) for v in value]
    return value


async def answers(client: httpx.AsyncClient) -> list[tuple[Any, ...]]:
    for promotion in PROMOTIONS:
        created = await client.post("/v1/admin/promotions", json=promotion, headers=ADMIN)
        assert created.status_code == 201, created.text
    found = []
    for path, headers, body, _ in STEPS:
        if isinstance(body, bytes):
            response = await client.post(path, content=body, headers=headers)
        else:
            response = await client.post(path, json=body, headers=headers)
        parsed = response.json()
        # a problem's "code" is its kind, not a made value
        made = not (isinstance(parsed, dict) and "type" in parsed and "status" in parsed)
        found.append(
            (
                path,
                response.status_code,
                tuple(response.headers.get(name) for name in HEADERS),
                comparable(parsed, made=made),
            )
        )
    return found


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hot calls FastAPI's routes answered (their endpoint functions look the
    shared work up in their module when called; the hot paths hold their own)."""
    seen: list[str] = []
    for module, name in (
        (quote, "answer_quote"),
        (coupons, "answer_claim"),
        (reservations, "answer_reserve"),
    ):
        original = getattr(module, name)

        async def counting(*args: Any, _original: Any = original, _name: str = name) -> Any:
            seen.append(_name)
            return await _original(*args)

        monkeypatch.setattr(module, name, counting)
    return seen


async def test_the_hot_paths_answer_as_fastapi_does(backend: Backend, routed: list[str]) -> None:
    twin = Backend(backend.name, dict(backend.options))
    if backend.name == "postgres":
        twin.options["database_schema"] += "_hot"
        twin.options["redis_prefix"] += "hot:"
    else:
        twin.options["database_url"] = twin.options["database_url"].replace(".db", "-hot.db")
    try:
        async with AsyncExitStack() as stack:
            start = _starter(stack, backend)
            through_fastapi = await answers((await start(hot_paths=False)).client)
            fastapi_routed = len(routed)
            routed.clear()
            hot = await answers((await start(backend=twin, hot_paths=True)).client)
    finally:
        if backend.name == "postgres":
            await drop_schema(twin.options["database_schema"])
            await delete_prefix(twin.options["redis_prefix"])
    for step, (fastapi_answer, hot_answer) in enumerate(zip(through_fastapi, hot, strict=True)):
        assert hot_answer == fastapi_answer, "step {}: {}\n{}".format(
            step,
            STEPS[step][:2],
            "\n".join(
                difflib.unified_diff(
                    json.dumps(fastapi_answer, indent=1, sort_keys=True).splitlines(),
                    json.dumps(hot_answer, indent=1, sort_keys=True).splitlines(),
                    "through FastAPI",
                    "hot path",
                    lineterm="",
                )
            ),
        )
    # without the hot paths FastAPI's routes answered every request that got that
    # far; with them, only the one handed over that FastAPI admits (a key after two
    # spaces): the hot paths answered the rest
    reached = [answer[1] < 300 for answer in hot]
    handed = [step[3] for step in STEPS]
    assert fastapi_routed == sum(r or not h for r, h in zip(reached, handed, strict=True))
    assert len(routed) == sum(r and h for r, h in zip(reached, handed, strict=True)) == 1
