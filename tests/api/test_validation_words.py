"""A 422 lists every problem of a body in plain words: amounts are integers in fen,
an unknown field or benefit type gets the closest known name, a threshold reports
each of its problems, a currency is an ISO 4217 code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_admin import assert_problem
from tests.conftest import ADMIN, CHECKOUT, Start

FEN = "amounts are integers in fen (minor units), e.g. 19900 for ¥199.00"


def errors(problem: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    return {tuple(e["loc"]): e["msg"] for e in problem["errors"]}


async def refused(client: httpx.AsyncClient, path: str, body: Any, headers: Any) -> dict[Any, str]:
    return errors(
        assert_problem(await client.post(path, json=body, headers=headers), 422, "validation_error")
    )


async def test_a_promotion_body_gets_every_problem_in_plain_words(start: Start) -> None:
    client = (await start()).client
    body = {
        "id": "d11",
        "scope": {"categorys": ["shoes"]},
        "conditions": {"min_amount": 300.0},
        "benefit": {
            "type": "threshold",
            "tiers": [
                {"min_amount": 50000, "amount_off": 10000},
                {"min_qty": 2, "percent": 10},
                {"min_amount": 30000, "amount_off": "5000"},
            ],
        },
        "statuss": "active",
    }
    found = await refused(client, "/v1/admin/promotions", body, ADMIN)
    tiers = ("body", "benefit", "threshold", "tiers")
    assert found == {
        ("body", "scope", "categorys"): "unknown field `categorys`: did you mean `categories`?",
        ("body", "statuss"): "unknown field `statuss`: did you mean `status`?",
        ("body", "conditions", "min_amount"): f"{FEN}; if 300.0 is in yuan, send 30000",
        tiers: "tiers must all use min_amount or all use min_qty",
        (*tiers, 2, "min_amount"): "tiers must be strictly ascending: 30000 is not above 50000",
        (*tiers, 2, "amount_off"): f"{FEN}; send the number 5000, not a string",
    }
    assert (await client.get("/v1/admin/promotions/d11", headers=ADMIN)).status_code == 404


async def test_an_unknown_benefit_type_names_the_closest(start_sqlite: Start) -> None:
    client = (await start_sqlite()).client
    body = {"id": "x", "benefit": {"type": "threshhold", "tiers": []}}
    found = await refused(client, "/v1/admin/promotions", body, ADMIN)
    assert found == {
        ("body", "benefit", "type"): "unknown benefit type `threshhold`: did you mean `threshold`?"
    }
    far = await refused(
        client, "/v1/admin/promotions", {"id": "x", "benefit": {"type": "zzz"}}, ADMIN
    )
    assert far[("body", "benefit", "type")].startswith("unknown benefit type `zzz` (known: ")


async def test_an_import_says_the_same_under_each_index(start_sqlite: Start) -> None:
    client = (await start_sqlite()).client
    good = {"id": "ok", "benefit": {"type": "amount_off", "amount": 1000}}
    bad = {"id": "bad", "benefit": {"type": "amount_off", "amount": 10.5, "amuont": 1}}
    found = await refused(client, "/v1/admin/promotions/import", {"promotions": [good, bad]}, ADMIN)
    assert found == {
        ("body", "promotions", 1, "benefit", "amount_off", "amount"): (
            f"{FEN}; if 10.5 is in yuan, send 1050"
        ),
        ("body", "promotions", 1, "benefit", "amount_off", "amuont"): (
            "unknown field `amuont`: did you mean `amount`?"
        ),
    }


@pytest.mark.parametrize(
    ("currency", "words"),
    [
        ("RMB", "'RMB' is not an ISO 4217 code: use 'CNY'"),
        ("cny", "currency codes are upper case: use 'CNY'"),
        ("QQQ", "'QQQ' is not an ISO 4217 currency code (such as 'CNY', 'USD', 'EUR')"),
        ("XXX", "'XXX' is an ISO 4217 code but not a currency a cart is priced in"),
    ],
)
async def test_a_quote_currency_is_an_iso_4217_code(
    start_sqlite: Start, currency: str, words: str
) -> None:
    client = (await start_sqlite()).client
    cart = {"currency": currency, "lines": [{"sku": "A", "qty": 1, "unit_price": 199.5}]}
    found = await refused(client, "/v1/quote", cart, CHECKOUT)
    assert found == {
        ("body", "currency"): words,
        ("body", "lines", 0, "unit_price"): f"{FEN}; if 199.5 is in yuan, send 19950",
    }
    for good in ("CNY", "USD", "JPY", "EUR"):
        answer = await client.post(
            "/v1/quote",
            json={"currency": good, "lines": [{"sku": "A", "qty": 1, "unit_price": 19900}]},
            headers=CHECKOUT,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["currency"] == good


async def test_quote_bodies_still_ignore_fields_they_do_not_know(start_sqlite: Start) -> None:
    """Callers may send more than the quote reads (API.md): no did-you-mean there."""
    client = (await start_sqlite()).client
    cart = {"lines": [{"sku": "A", "qty": 1, "unit_price": 100, "colour": "red"}], "extra": 1}
    assert (await client.post("/v1/quote", json=cart, headers=CHECKOUT)).status_code == 200
