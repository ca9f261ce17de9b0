"""Per-line ``notices``: a flash sale that covers a line but does not price (all of)
it says why — ``sold_out``, ``limit_reached``, ``stock_unknown`` — over HTTP, on both
back ends, in English and in Chinese."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.api.test_reservations import LIST, body, create, flash, reserve
from tests.conftest import CHECKOUT, Start
from tests.integration.processes import free_port
from tests.integration.redis_servers import delete_prefix

ZH = {**CHECKOUT, "Accept-Language": "zh-CN"}


def cart(customer: str = "u-1", qty: int = 1) -> dict[str, Any]:
    return {"customer": {"id": customer}, "lines": [{"sku": "HOT", "qty": qty, "unit_price": LIST}]}


async def quote(
    client: httpx.AsyncClient, customer: str = "u-1", qty: int = 1, headers: Any = CHECKOUT
) -> dict[str, Any]:
    response = await client.post("/v1/quote", json=cart(customer, qty), headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_line_with_its_flash_price_has_no_notices(start: Start) -> None:
    client = (await start()).client
    await create(client, flash(stock=10, limit=2))
    (line,) = (await quote(client, qty=2))["lines"]
    assert line["final_total"] == 2 * 5000
    assert "notices" not in line


async def test_a_sold_out_line_says_so(start: Start) -> None:
    client = (await start()).client
    await create(client, flash(stock=1, limit=None))
    assert (await reserve(client, body("o-1", customer="u-1"))).status_code == 201

    answer = await quote(client, customer="u-2")
    (line,) = answer["lines"]
    assert line["final_total"] == LIST  # the flash price is gone ...
    assert line["adjustments"] == []
    # ... and the line says why, in the machine's words and the shopper's
    assert line["notices"] == [
        {
            "promotion_id": "fs",
            "reason": "sold_out",
            "message": "sold out at the flash sale price 50.00",
        }
    ]
    assert answer["degraded"] is False
    (zh_line,) = (await quote(client, customer="u-2", headers=ZH))["lines"]
    assert zh_line["notices"][0]["reason"] == "sold_out"
    assert zh_line["notices"][0]["message"] == "秒杀价¥50.00已售罄"


async def test_a_line_over_the_customers_limit_says_so(start: Start) -> None:
    client = (await start()).client
    await create(client, flash(stock=10, limit=1))
    assert (await reserve(client, body("o-1", customer="u-1"))).status_code == 201

    (line,) = (await quote(client, customer="u-1"))["lines"]
    assert line["final_total"] == LIST
    assert [(n["promotion_id"], n["reason"]) for n in line["notices"]] == [("fs", "limit_reached")]
    assert "1 item per customer" in line["notices"][0]["message"]
    (zh_line,) = (await quote(client, customer="u-1", headers=ZH))["lines"]
    assert zh_line["notices"][0]["message"] == "秒杀价¥50.00每人限购1件，您已达上限"

    # another customer still gets the flash price, without a notice
    (other,) = (await quote(client, customer="u-2"))["lines"]
    assert other["final_total"] == 5000
    assert "notices" not in other


async def test_a_line_longer_than_the_limit_or_the_stock_says_which(start: Start) -> None:
    client = (await start()).client
    await create(client, flash(stock=10, limit=2))
    await create(
        client,
        {
            **flash("fs-few", stock=2, limit=None),
            "benefit": {
                "type": "flash_sale",
                "items": [{"sku": "FEW", "price": 5000, "stock": 2}],
            },
        },
    )
    (line,) = (await quote(client, qty=3))["lines"]
    assert line["final_total"] == 2 * 5000 + LIST  # two at the flash price, one at list
    assert [n["reason"] for n in line["notices"]] == ["limit_reached"]
    assert line["notices"][0]["message"] == (
        "the flash sale price 50.00 is limited to 2 items per customer: 2 of these at that price"
    )

    few = {"customer": {"id": "u-1"}, "lines": [{"sku": "FEW", "qty": 3, "unit_price": LIST}]}
    response = await client.post("/v1/quote", json=few, headers=CHECKOUT)
    (line,) = response.json()["lines"]
    assert line["final_total"] == 2 * 5000 + LIST
    assert [(n["promotion_id"], n["reason"]) for n in line["notices"]] == [("fs-few", "sold_out")]


async def test_another_item_promotion_does_not_hide_the_notice(start: Start) -> None:
    """The issue's case: the flash price is gone and the line silently drops to
    another price. It still drops there (the cheapest legal price), but says why."""
    client = (await start()).client
    await create(client, flash(stock=1, limit=None))
    await create(client, {"id": "ten-off", "benefit": {"type": "item_percent_off", "percent": 10}})
    assert (await reserve(client, body("o-1", customer="u-1"))).status_code == 201
    (line,) = (await quote(client, customer="u-2"))["lines"]
    assert [a["promotion_id"] for a in line["adjustments"]] == ["ten-off"]
    assert [n["reason"] for n in line["notices"]] == ["sold_out"]


async def test_without_redis_the_flash_line_says_stock_unknown(start: Start) -> None:
    running = await start(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_seconds=0.3)
    client = running.client
    await create(client, flash())
    answer = await quote(client)
    assert answer["degraded"] is True
    (line,) = answer["lines"]
    assert line["final_total"] == LIST
    assert [(n["promotion_id"], n["reason"]) for n in line["notices"]] == [("fs", "stock_unknown")]
    (zh_line,) = (await quote(client, headers=ZH))["lines"]
    assert zh_line["notices"][0]["message"] == "暂时无法查询秒杀库存，未按秒杀价¥50.00计算"


async def test_a_reservation_keeps_the_notices_it_was_quoted_with(start: Start) -> None:
    client = (await start()).client
    await create(client, flash(stock=10, limit=1))
    made = await reserve(client, body("o-1", customer="u-1", qty=2))
    assert made.status_code == 201, made.text
    (line,) = made.json()["quote"]["lines"]
    assert [n["reason"] for n in line["notices"]] == ["limit_reached"]
    read = await client.get(f"/v1/reservations/{made.json()['reservation_id']}", headers=CHECKOUT)
    assert read.json()["quote"]["lines"][0]["notices"] == line["notices"]


async def test_counters_missing_from_redis_are_unknown_not_sold_out(start: Start) -> None:
    """Redis emptied (a restart without its data): until the counters are rebuilt the
    stock is unknown, not zero. The quote is degraded with ``stock_unknown`` (not
    ``sold_out``), a reservation is 503 (not a sale at list price), and once rebuilt
    the flash price is back."""
    running = await start()
    client = running.client
    await create(client, flash(stock=10, limit=None))
    assert (await quote(client))["lines"][0]["final_total"] < LIST
    await delete_prefix(running.wiring.redis, running.wiring.settings.redis_prefix)

    answer = await quote(client)
    assert answer["degraded"] is True
    (line,) = answer["lines"]
    assert line["final_total"] == LIST
    assert [n["reason"] for n in line["notices"]] == ["stock_unknown"]
    refused = await reserve(client, body("o-1"))
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "unavailable"

    promotion = running.wiring.snapshot.rules.get("fs")
    assert promotion is not None
    await running.wiring.recovery.ensure(promotion, now=datetime.now(UTC))
    again = await quote(client)
    assert again["degraded"] is False
    assert again["lines"][0]["final_total"] < LIST
    assert (await reserve(client, body("o-1"))).status_code == 201
