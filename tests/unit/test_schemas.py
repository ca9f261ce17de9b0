"""Bodies → the stored promotion document → the engine's records."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.responses import JSONResponse

from app.api import wording
from app.api.problems import problem_response
from app.api.records import order_document, promotion_body, promotion_document
from app.api.schemas import PromotionBody, QuoteBody, QuoteResponse
from app.inventory.order_document import OrderDocument
from app.promotions.document import PromotionDocument
from app.rules import model
from app.rules.engine import price
from app.rules.ruleset import RuleSet
from tests.unit.strategies import Case, cases

SHANGHAI = ZoneInfo("Asia/Shanghai")


def convert(body: dict[str, Any]) -> model.Promotion:
    document = promotion_document(PromotionBody.model_validate({"id": "p", **body}))
    return document.to_record(default_timezone=SHANGHAI)


def test_defaults() -> None:
    promotion = convert({"benefit": {"type": "free_shipping"}})
    assert promotion == model.Promotion(
        id="p", name="p", benefit=model.FreeShipping(), timezone=SHANGHAI
    )


def test_percent_is_the_exact_fraction_of_the_decimal() -> None:
    assert convert({"benefit": {"type": "item_percent_off", "percent": 8.5}}).benefit == (
        model.ItemPercentOff(percent=Fraction(17, 2))
    )
    assert convert({"benefit": {"type": "percent_off", "percent": "33.33"}}).benefit == (
        model.PercentOff(percent=Fraction(3333, 100))
    )
    member = convert(
        {
            "benefit": {
                "type": "member_price",
                "tiers": {"gold": {"percent": 5}},
                "prices": {"gold": {"SKU-1": 18000}},
            }
        }
    ).benefit
    assert member == model.MemberPrice(
        tiers={"gold": Fraction(5)}, prices={"gold": {"SKU-1": 18000}}
    )


def test_times_hours_weekdays_timezone() -> None:
    promotion = convert(
        {
            "starts_at": "2026-11-11T00:00:00+08:00",
            "ends_at": "2026-11-12T00:00:00Z",
            "hours": [{"from": "22:00", "to": "02:00"}, {"from": "10:00", "to": "24:00"}],
            "weekdays": [3, 3, 7],
            "timezone": "Europe/Berlin",
            "benefit": {"type": "amount_off", "amount": 1},
        }
    )
    assert promotion.starts_at == datetime(2026, 11, 10, 16, tzinfo=UTC)
    assert promotion.ends_at == datetime(2026, 11, 12, tzinfo=UTC)
    assert promotion.hours == (model.HourWindow(22 * 60, 2 * 60), model.HourWindow(600, 1440))
    assert promotion.weekdays == frozenset({3, 7})
    assert promotion.timezone == ZoneInfo("Europe/Berlin")


def test_tiers_scope_conditions_limits() -> None:
    promotion = convert(
        {
            "trigger": "coupon",
            "exclusive": True,
            "exclusion_group": "shop:m1",
            "priority": 3,
            "scope": {"skus": ["A"], "tags": ["t"], "exclude_categories": ["c"]},
            "conditions": {"customer_tiers": ["gold"], "first_order": True, "min_amount": 100},
            "limits": {"max_uses": 5, "budget": 1000},
            "benefit": {
                "type": "threshold",
                "repeat": True,
                "max_discount": 3000,
                "tiers": [{"min_qty": 2, "percent": 10}, {"min_qty": 3, "amount_off": 500}],
            },
        }
    )
    assert promotion.is_coupon
    assert promotion.exclusive
    assert promotion.group == "shop:m1"
    assert promotion.priority == 3
    assert promotion.scope == model.Scope(
        skus=frozenset({"A"}), tags=frozenset({"t"}), exclude_categories=frozenset({"c"})
    )
    assert promotion.conditions == model.Conditions(
        customer_tiers=frozenset({"gold"}), first_order=True, min_amount=100
    )
    assert promotion.limits == model.Limits(max_uses=5, budget=1000)
    assert promotion.benefit == model.Threshold(
        tiers=(model.Tier(min_qty=2, percent=Fraction(10)), model.Tier(min_qty=3, amount_off=500)),
        repeat=True,
        max_discount=3000,
    )


def test_stored_body_round_trips() -> None:
    body = PromotionBody.model_validate(
        {
            "hours": [{"from": "10:00", "to": "12:00"}],
            "benefit": {"type": "nth_item", "every": 2, "percent": 50},
        }
    )
    stored = promotion_document(body, "gen-1").to_stored()
    assert stored["schema_version"] == 1
    assert stored["id"] == "gen-1"
    assert stored["name"] == "gen-1"
    assert stored["hours"] == [{"from": "10:00", "to": "12:00"}]
    again = promotion_body(PromotionDocument.from_stored(stored))
    assert promotion_document(again, "gen-1").to_stored() == stored


def test_cross_field_problems_come_with_field_problems() -> None:
    with pytest.raises(ValidationError) as caught:
        PromotionBody.model_validate(
            {
                "starts_at": "2026-11-12T00:00:00+08:00",
                "ends_at": "2026-11-11T00:00:00+08:00",
                "priority": "x",
                "benefit": {
                    "type": "gift",
                    "tiers": [
                        {"min_qty": 2, "gifts": []},
                        {"min_qty": 1, "gifts": [{"sku": "G", "qty": 1}]},
                    ],
                },
            }
        )
    locs = {tuple(e["loc"]) for e in caught.value.errors()}
    assert ("ends_at",) in locs
    assert ("priority",) in locs
    assert ("benefit", "gift", "tiers", 0, "gifts") in locs
    assert ("benefit", "gift", "tiers", 1, "min_qty") in locs


def test_quote_body_to_request() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    body = QuoteBody.model_validate(
        {"lines": [{"sku": "A", "qty": 2, "unit_price": 5, "tags": ["x"]}]}
    )
    request = body.to_request(at=now)
    assert request == model.QuoteRequest(
        lines=(model.Line(line_id="1", sku="A", qty=2, unit_price=5, tags=frozenset({"x"})),),
        at=now,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(with_limits=True, with_eligibility=True, odd_codes=True), st.booleans())
def test_the_quote_json_is_the_response_model_s(case: Case, degraded: bool) -> None:
    """``QuoteResponse.json_of`` (the route's one-pass JSON) is what validating the
    response model and dumping it gives: the same keys, in the same order, the same
    values (``capped`` only when a floor trimmed)."""
    quote = price(RuleSet(case.promotions, "schemas#1"), case.request)
    quote = replace(quote, degraded=degraded)
    fast = QuoteResponse.json_of(quote)
    model_json = QuoteResponse.model_validate_json(fast).model_dump_json().encode()
    assert fast == model_json
    assert json.loads(fast) == QuoteResponse.from_quote(quote).model_dump(mode="json")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(with_limits=True, with_eligibility=True, odd_codes=True), st.booleans())
def test_a_problem_embeds_the_quote_as_the_quote_response_shows_it(
    case: Case, chinese: bool
) -> None:
    """A 409 ``price_changed`` carries the fresh quote: rendered from the response's
    content by pydantic-core, it is byte for byte what the models dumped and
    Starlette's ``json.dumps`` rendered before (texts in either language)."""
    quote = price(RuleSet(case.promotions, "schemas#1"), case.request)
    words = wording.CHINESE if chinese else wording.ENGLISH
    fast = problem_response(
        status=409,
        code="price_changed",
        title="Price changed",
        detail="the total is 1 元, not 2",
        extra={"quote": QuoteResponse.content(quote, words)},
        words=words,
    )
    old = JSONResponse(
        {
            **json.loads(fast.body),
            "quote": QuoteResponse.from_quote(quote, words).model_dump(mode="json"),
        },
        status_code=409,
    )
    assert fast.body == old.body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(with_limits=True, with_eligibility=True, odd_codes=True))
def test_the_stored_order_is_the_response_s_quote(case: Case) -> None:
    """A reservation stores its quote from the response's content: the same document
    as from the validated and dumped response model."""
    quote = price(RuleSet(case.promotions, "schemas#1"), case.request)
    assert order_document(quote) == OrderDocument.model_validate(
        QuoteResponse.from_quote(quote).model_dump(mode="json")
    )
    # the batched write stores to_json's text, the single write to_stored's values
    assert json.loads(order_document(quote).to_json()) == order_document(quote).to_stored()
