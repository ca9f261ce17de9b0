"""``POST /v1/quote``: input validation, and what the shell hands the engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.promotions.repository import NewCode, StoredCode
from app.quoting.quote_service import QuoteQuery, QuoteService
from app.rules.model import Line, PresentedCoupon, QuoteRequest
from app.storage.sql_promotions import SqlPromotionRepository
from tests.api.bodies import cart, coupon, promotion
from tests.api.fakes import RecordingPricer, exploding, floor_capped_quote
from tests.api.test_admin import assert_problem, has_loc
from tests.conftest import ADMIN, CHECKOUT, Start

LINE = {"sku": "A", "qty": 1, "unit_price": 100}

BAD_QUOTES: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("no lines", {}, ("body", "lines")),
    ("empty lines", {"lines": []}, ("body", "lines")),
    ("lines not a list", {"lines": {"sku": "A"}}, ("body", "lines")),
    ("body is a list", [LINE], ("body",)),
    ("qty string", {"lines": [{**LINE, "qty": "two"}]}, ("lines", 0, "qty")),
    ("qty float", {"lines": [{**LINE, "qty": 1.5}]}, ("lines", 0, "qty")),
    ("qty bool", {"lines": [{**LINE, "qty": True}]}, ("lines", 0, "qty")),
    ("qty zero", {"lines": [{**LINE, "qty": 0}]}, ("lines", 0, "qty")),
    ("qty negative", {"lines": [{**LINE, "qty": -1}]}, ("lines", 0, "qty")),
    ("qty too big", {"lines": [{**LINE, "qty": 100_001}]}, ("lines", 0, "qty")),
    ("price negative", {"lines": [{**LINE, "unit_price": -1}]}, ("lines", 0, "unit_price")),
    ("price float", {"lines": [{**LINE, "unit_price": 99.5}]}, ("lines", 0, "unit_price")),
    ("price string", {"lines": [{**LINE, "unit_price": "100"}]}, ("lines", 0, "unit_price")),
    ("price 10^12", {"lines": [{**LINE, "unit_price": 10**12}]}, ("lines", 0, "unit_price")),
    ("floor negative", {"lines": [{**LINE, "min_unit_price": -5}]}, ("lines", 0, "min_unit_price")),
    ("no sku", {"lines": [{"qty": 1, "unit_price": 1}]}, ("lines", 0, "sku")),
    ("shipping negative", {"lines": [LINE], "shipping_fee": -1}, ("shipping_fee",)),
    ("shipping 10^12", {"lines": [LINE], "shipping_fee": 10**12}, ("shipping_fee",)),
    ("at without offset", {"lines": [LINE], "at": "2026-11-11T00:00:05"}, ("at",)),
    ("at a number", {"lines": [LINE], "at": 1700000000}, ("at",)),
    ("at garbage", {"lines": [LINE], "at": "tomorrow"}, ("at",)),
    ("currency lower", {"lines": [LINE], "currency": "cny"}, ("currency",)),
    ("codes not a list", {"lines": [LINE], "coupon_codes": "SAVE10"}, ("coupon_codes",)),
    (
        "customer flag string",
        {"lines": [LINE], "customer": {"first_order": "yes"}},
        ("first_order",),
    ),
    (
        "duplicate line ids",
        {"lines": [{**LINE, "line_id": "x"}, {**LINE, "line_id": "x"}]},
        ("lines", 1, "line_id"),
    ),
    (
        "explicit id equal to a default one",
        {"lines": [{**LINE, "line_id": "2"}, LINE]},
        ("lines", 1, "line_id"),
    ),
    ("501 lines", {"lines": [LINE] * 501}, ("body", "lines")),
]


@pytest.mark.parametrize(
    ("body", "loc"), [pytest.param(b, loc, id=name) for name, b, loc in BAD_QUOTES]
)
async def test_bad_quote_input_is_422_problem(
    start_sqlite: Start, body: Any, loc: tuple[Any, ...]
) -> None:
    pricer = RecordingPricer()
    client = (await start_sqlite(price=pricer)).client
    response = await client.post("/v1/quote", json=body, headers=CHECKOUT)
    problem = assert_problem(response, 422, "validation_error")
    assert has_loc(problem, *loc), problem["errors"]
    assert pricer.calls == []


async def test_malformed_json_is_422_problem(start_sqlite: Start) -> None:
    client = (await start_sqlite(price=RecordingPricer())).client
    response = await client.post(
        "/v1/quote",
        content=b'{"lines": [',
        headers={**CHECKOUT, "content-type": "application/json"},
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"][0] == "body"
    assert "JSON" in problem["errors"][0]["msg"]


async def test_not_json_is_422_problem(start_sqlite: Start) -> None:
    client = (await start_sqlite(price=RecordingPricer())).client
    response = await client.post(
        "/v1/quote", content=b"lines=1", headers={**CHECKOUT, "content-type": "text/plain"}
    )
    assert_problem(response, 422, "validation_error")


async def test_500_lines_is_the_limit(start_sqlite: Start) -> None:
    pricer = RecordingPricer()
    client = (await start_sqlite(price=pricer)).client
    response = await client.post("/v1/quote", json={"lines": [LINE] * 500}, headers=CHECKOUT)
    assert response.status_code == 200, response.text
    assert len(pricer.last.lines) == 500


async def test_unexpected_error_is_a_500_problem_without_internals(start_sqlite: Start) -> None:
    client = (await start_sqlite(price=exploding)).client
    response = await client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    problem = assert_problem(response, 500, "internal_error")
    assert "passwd" not in response.text
    assert "Traceback" not in response.text
    assert problem["detail"]


async def test_defaults_line_ids_time_and_currency(start_sqlite: Start) -> None:
    pricer = RecordingPricer()
    client = (await start_sqlite(price=pricer)).client
    before = datetime.now(UTC)
    response = await client.post(
        "/v1/quote",
        json={"lines": [LINE, {**LINE, "sku": "B", "line_id": "b"}, {**LINE, "sku": "C"}]},
        headers=CHECKOUT,
    )
    assert response.status_code == 200, response.text
    request = pricer.last
    assert [line.line_id for line in request.lines] == ["1", "b", "3"]
    assert request.at.tzinfo is not None
    assert before - timedelta(seconds=1) <= request.at <= datetime.now(UTC) + timedelta(seconds=1)
    assert request.currency == "CNY"
    assert request.shipping_fee == 0
    assert request.customer.id is None
    assert [line["line_id"] for line in response.json()["lines"]] == ["1", "b", "3"]


async def test_request_fields_reach_the_engine(start_sqlite: Start) -> None:
    pricer = RecordingPricer()
    client = (await start_sqlite(price=pricer)).client
    body = {
        "currency": "USD",
        "customer": {
            "id": "u-42",
            "tier": "gold",
            "segments": ["vip"],
            "new_customer": True,
            "first_order": True,
            "phone_verified": True,
        },
        "channel": "app",
        "at": "2026-11-11T00:00:05+08:00",
        "lines": [
            {
                "line_id": "L1",
                "sku": "SKU-1",
                "qty": 2,
                "unit_price": 19900,
                "category": "shoes",
                "brand": "acme",
                "merchant": "m-1",
                "tags": ["new", "hot"],
                "min_unit_price": 5000,
            }
        ],
        "shipping_fee": 1000,
        "unknown_extra": "ignored",
    }
    response = await client.post("/v1/quote", json=body, headers=CHECKOUT)
    assert response.status_code == 200, response.text
    request = pricer.last
    assert request.currency == "USD"
    assert request.channel == "app"
    assert request.shipping_fee == 1000
    assert request.at == datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)
    assert request.customer.tier == "gold"
    assert request.customer.segments == frozenset({"vip"})
    assert (
        request.customer.new_customer,
        request.customer.first_order,
        request.customer.phone_verified,
    ) == (True, True, True)
    (line,) = request.lines
    assert (line.line_id, line.sku, line.qty, line.unit_price) == ("L1", "SKU-1", 2, 19900)
    assert (line.category, line.brand, line.merchant) == ("shoes", "acme", "m-1")
    assert line.tags == frozenset({"new", "hot"})
    assert line.min_unit_price == 5000


async def test_codes_are_resolved_normalised_and_deduplicated(start: Start) -> None:
    pricer = RecordingPricer()
    running = await start(price=pricer)
    client = running.client
    await client.post("/v1/admin/promotions", json=coupon("c-shared"), headers=ADMIN)
    await client.post("/v1/admin/promotions/c-shared/codes", json={"code": "SAVE10"}, headers=ADMIN)
    await client.post("/v1/admin/promotions", json=coupon("c-unique"), headers=ADMIN)
    made = await client.post(
        "/v1/admin/promotions/c-unique/codes", json={"count": 1, "prefix": "U-"}, headers=ADMIN
    )
    unique = made.json()["codes"][0]

    response = await client.post(
        "/v1/quote",
        json=cart(coupon_codes=["save10", " SAVE10 ", "nope", unique.lower(), "bad code!"]),
        headers=CHECKOUT,
    )
    assert response.status_code == 200, response.text
    assert pricer.last.coupons == (
        PresentedCoupon(code="SAVE10", promotion_id="c-shared"),
        PresentedCoupon(code="NOPE", promotion_id=None),
        PresentedCoupon(code=unique, promotion_id="c-unique", owner=None, used=False),
        PresentedCoupon(code="BAD CODE!", promotion_id=None),
    )
    coupons = response.json()["coupons"]
    assert [c["code"] for c in coupons] == ["SAVE10", "NOPE", unique, "BAD CODE!"]
    assert coupons[1] == {
        "code": "NOPE",
        "status": "rejected",
        "reason": "unknown_code",
        "message": "this code is not valid",
    }


async def test_the_engine_gets_the_current_rules(start: Start) -> None:
    pricer = RecordingPricer()
    client = (await start(price=pricer)).client
    await client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    empty_rules = pricer.calls[-1][0]
    assert empty_rules.promotions == ()
    await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    response = await client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    rules = pricer.calls[-1][0]
    assert [p.id for p in rules.promotions] == ["d11-300-50"]
    assert rules.version != empty_rules.version
    assert response.json()["rules_version"] == rules.version
    assert rules.version.endswith("#1")


async def test_response_shape_follows_the_contract(start_sqlite: Start) -> None:
    client = (await start_sqlite(price=floor_capped_quote)).client
    await client.post("/v1/admin/promotions", json=promotion(), headers=ADMIN)
    response = await client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "currency",
        "subtotal",
        "discount_total",
        "shipping_fee",
        "shipping_discount",
        "total",
        "lines",
        "applied",
        "gifts",
        "coupons",
        "hints",
        "optimal",
        "degraded",
        "warnings",
        "rules_version",
    }
    (line,) = body["lines"]
    assert set(line) == {
        "line_id",
        "sku",
        "qty",
        "unit_price",
        "list_total",
        "discount",
        "final_total",
        "adjustments",
    }
    assert line["adjustments"] == [
        {"promotion_id": "d11-300-50", "amount": 100, "units": 1, "capped": "price_floor"}
    ]
    assert body["applied"] == [
        {
            "promotion_id": "d11-300-50",
            "name": "Double 11 spend 300 save 50",
            "stage": "order",
            "benefit_type": "threshold",
            "amount": 100,
            "coupon_code": None,
            "description": "spend 300.00 save 50.00",
        }
    ]
    assert body["degraded"] is True
    assert body["optimal"] is False
    assert len(body["warnings"]) == 2


async def test_uncapped_adjustments_have_no_capped_key(start_sqlite: Start) -> None:
    client = (await start_sqlite()).client  # the real engine
    await client.post(
        "/v1/admin/promotions",
        json=promotion(benefit={"type": "item_percent_off", "percent": 10}),
        headers=ADMIN,
    )
    response = await client.post("/v1/quote", json=cart(), headers=CHECKOUT)
    assert response.status_code == 200, response.text
    (adjustment,) = response.json()["lines"][0]["adjustments"]
    assert adjustment == {"promotion_id": "d11-300-50", "amount": 2000, "units": 1}


async def test_the_quote_path_needs_the_database_only_for_codes(start_sqlite: Start) -> None:
    """Without the database a quote still answers from the snapshot; codes it cannot
    resolve are not applied and the quote says it is degraded (docs/resilience.md)."""
    running = await start_sqlite(price=RecordingPricer())
    pricer = RecordingPricer()
    nowhere = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:9/none", connect_args={"timeout": 0.5}
    )
    real = running.wiring.quotes
    running.wiring.quotes = QuoteService(
        rules=running.wiring.snapshot,
        repository=SqlPromotionRepository(nowhere, timeout=1),
        counters=running.wiring.counters,
        price=pricer,
    )
    try:
        without_codes = await running.client.post("/v1/quote", json=cart(), headers=CHECKOUT)
        with_codes = await running.client.post(
            "/v1/quote", json=cart(coupon_codes=["SAVE10"]), headers=CHECKOUT
        )
    finally:
        running.wiring.quotes = real
        await nowhere.dispose()
    assert without_codes.status_code == 200, without_codes.text
    assert without_codes.json()["degraded"] is False
    assert with_codes.status_code == 200, with_codes.text
    assert with_codes.json()["degraded"] is True
    assert any("coupon codes" in w for w in with_codes.json()["warnings"])
    assert pricer.last.coupons == ()


async def test_auto_coupons_bring_the_customers_claimed_codes(start: Start) -> None:
    pricer = RecordingPricer()
    running = await start(price=pricer)
    client = running.client
    await client.post("/v1/admin/promotions", json=coupon("c-w"), headers=ADMIN)
    await running.wiring.repository.add_codes(
        "c-w",
        [
            NewCode(code="MINE", kind="unique", customer_id="u-1"),
            NewCode(code="THEIRS", kind="unique", customer_id="u-2"),
        ],
    )
    body = cart(customer={"id": "u-1"}, auto_coupons=True)
    assert (await client.post("/v1/quote", json=body, headers=CHECKOUT)).status_code == 200
    assert pricer.last.wallet == (
        PresentedCoupon(code="MINE", promotion_id="c-w", owner="u-1", used=False),
    )
    assert pricer.last.coupons == ()
    body = cart(customer={"id": "u-1"})
    await client.post("/v1/quote", json=body, headers=CHECKOUT)
    assert pricer.last.wallet == ()


class CountingCodes:
    """The repository, recording which codes each ``resolve_codes`` asks for."""

    def __init__(self, repository: Any) -> None:
        self._repository = repository
        self.asked: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)

    async def resolve_codes(self, codes: Sequence[str]) -> dict[str, StoredCode]:
        self.asked.append(list(codes))
        return await self._repository.resolve_codes(codes)


async def test_shared_codes_are_read_once_per_rules_version(start: Start) -> None:
    """A shared code is asked of the database once until the rules change; unique
    and unknown codes every time."""
    running = await start(price=RecordingPricer())
    client = running.client
    await client.post("/v1/admin/promotions", json=coupon("c-s"), headers=ADMIN)
    await client.post("/v1/admin/promotions/c-s/codes", json={"code": "SHARE"}, headers=ADMIN)
    await running.wiring.repository.add_codes(
        "c-s", [NewCode(code="ONLY-U1", kind="unique", customer_id="u-1")]
    )
    counting = CountingCodes(running.wiring.repository)
    pricer = RecordingPricer()
    service = QuoteService(
        rules=running.wiring.snapshot,
        repository=counting,
        counters=running.wiring.counters,
        price=pricer,
    )
    query = QuoteQuery(
        request=QuoteRequest(lines=(Line("1", "A", 1, 20_000),), at=datetime.now(UTC)),
        coupon_codes=("share", "ONLY-U1", "NOPE"),
    )
    try:
        for _ in range(3):
            await service.quote(query)
            assert [c.promotion_id for c in pricer.last.coupons] == ["c-s", "c-s", None]
        rest = ["ONLY-U1", "NOPE"]
        assert counting.asked == [["SHARE", *rest], rest, rest]
        await client.post("/v1/admin/promotions", json=coupon("c-other"), headers=ADMIN)
        await service.quote(query)
        assert counting.asked[-1] == ["SHARE", "ONLY-U1", "NOPE"]
    finally:
        service.close()
