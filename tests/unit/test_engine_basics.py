"""The engine on hand-built carts: stages, floors, limits, coupons' reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from app.rules.engine import price
from app.rules.model import (
    AmountOff,
    Conditions,
    Customer,
    FlashItem,
    FlashSale,
    FreeShipping,
    ItemPercentOff,
    Limits,
    Line,
    PresentedCoupon,
    Promotion,
    QuoteRequest,
    Readings,
    Reason,
    Scope,
    ShippingAmountOff,
    Threshold,
    Tier,
)
from app.rules.ruleset import RuleSet

AT = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def promo(pid: str, benefit: object, **kwargs: object) -> Promotion:
    return Promotion(id=pid, name=pid, benefit=benefit, **kwargs)  # type: ignore[arg-type]


def quote(promotions: list[Promotion], lines: list[Line], **kwargs: object):  # type: ignore[no-untyped-def]
    request = QuoteRequest(lines=tuple(lines), at=AT, **kwargs)  # type: ignore[arg-type]
    return price(RuleSet(promotions, "test#1"), request)


def test_no_promotions_prices_at_list() -> None:
    q = quote([], [Line("1", "A", 2, 1000)], shipping_fee=500)
    assert (q.subtotal, q.discount_total, q.total, q.optimal) == (2000, 0, 2500, True)
    assert q.applied == ()
    assert q.hints == ()


def test_paused_and_expired_promotions_do_not_apply() -> None:
    paused = promo("p", ItemPercentOff(Fraction(10)), status="paused")
    expired = promo("e", ItemPercentOff(Fraction(20)), ends_at=AT)
    q = quote([paused, expired], [Line("1", "A", 1, 1000)])
    assert q.total == 1000


def test_usage_limit_and_budget_are_read_from_the_readings() -> None:
    limited = promo("lim", AmountOff(300), limits=Limits(max_uses=5))
    budgeted = promo("bud", AmountOff(500), limits=Limits(budget=1000))
    readings = Readings(uses={"lim": 5}, budget_spent={"bud": 800})
    q = quote([limited, budgeted], [Line("1", "A", 1, 10000)], readings=readings)
    assert {a.promotion.id: a.amount for a in q.applied} == {"bud": 200}


def test_degraded_readings_give_no_flash_price_and_skip_limits() -> None:
    flash = promo("f", FlashSale((FlashItem("A", 100, 10, 1),)))
    limited = promo("lim", AmountOff(300), limits=Limits(max_uses=1))
    readings = Readings(flash_available=None, uses={"lim": 1}, check_limits=False)
    q = quote([flash, limited], [Line("1", "A", 1, 1000)], readings=readings)
    assert {a.promotion.id: a.amount for a in q.applied} == {"lim": 300}
    assert q.degraded


def test_flash_sale_reads_stock_and_what_the_customer_already_bought() -> None:
    flash = promo("f", FlashSale((FlashItem("A", 100, 10, 3),)))
    readings = Readings(flash_available={("f", "A"): 5}, flash_bought={("f", "A"): 2})
    q = quote([flash], [Line("1", "A", 4, 1000)], readings=readings)
    assert q.lines[0].adjustments[0].units == 1
    assert q.total == 3 * 1000 + 100


def test_shipping_coupon_with_nothing_to_waive_is_not_eligible() -> None:
    cpn = promo("ship-cpn", ShippingAmountOff(500), trigger="coupon")
    q = quote(
        [cpn],
        [Line("1", "A", 1, 1000)],
        coupons=(PresentedCoupon("SHIP", "ship-cpn"),),
    )
    assert q.coupons[0].reason is Reason.NOT_ELIGIBLE


def test_two_shipping_benefits_give_the_better_one() -> None:
    free = promo("free", FreeShipping(), conditions=Conditions(min_amount=500))
    off = promo("off", ShippingAmountOff(300))
    q = quote([free, off], [Line("1", "A", 1, 1000)], shipping_fee=800)
    assert q.shipping_discount == 800
    assert [a.promotion.id for a in q.applied] == ["free"]


def test_coupon_reasons_in_check_order() -> None:
    cpn = promo(
        "c",
        AmountOff(100),
        trigger="coupon",
        ends_at=AT,
        conditions=Conditions(min_amount=10**9),
    )
    owned = promo("o", AmountOff(100), trigger="coupon")
    q = quote(
        [cpn, owned],
        [Line("1", "A", 1, 1000)],
        customer=Customer(id="u-1"),
        coupons=(
            PresentedCoupon("NOPE", None),
            PresentedCoupon("C1", "c"),
            PresentedCoupon("O1", "o", owner="u-2"),
            PresentedCoupon("o1", "o", owner="u-2"),
        ),
    )
    reasons = {c.code: c.reason for c in q.coupons}
    # expired wins over the unmet threshold; a repeated code counts once
    assert reasons == {
        "NOPE": Reason.UNKNOWN_CODE,
        "C1": Reason.EXPIRED,
        "O1": Reason.NOT_OWNER,
    }


def test_second_code_of_the_same_coupon_is_a_conflict() -> None:
    cpn = promo("c", AmountOff(100), trigger="coupon")
    q = quote(
        [cpn],
        [Line("1", "A", 1, 1000)],
        coupons=(PresentedCoupon("A1", "c"), PresentedCoupon("A2", "c")),
    )
    assert [(c.code, c.applied, c.reason) for c in q.coupons] == [
        ("A1", True, None),
        ("A2", False, Reason.CONFLICT),
    ]


def test_floor_cut_share_is_not_moved_to_another_line() -> None:
    off = promo("t", Threshold((Tier(min_amount=1000, amount_off=1000),)))
    lines = [Line("1", "A", 1, 1000, min_unit_price=900), Line("2", "B", 1, 1000)]
    q = quote([off], lines)
    assert [r.discount for r in q.lines] == [100, 500]
    assert q.lines[0].adjustments[0].capped
    assert not q.lines[1].adjustments[0].capped
    assert q.applied[0].amount == 600


def test_scope_exclusion_keeps_a_line_out() -> None:
    off = promo("p", ItemPercentOff(Fraction(10)), scope=Scope(exclude_categories=frozenset({"x"})))
    q = quote([off], [Line("1", "A", 1, 1000, category="x"), Line("2", "B", 1, 1000)])
    assert [r.discount for r in q.lines] == [0, 100]


def _two_offers_per_line(
    lines_count: int, second_percent: int
) -> tuple[list[Promotion], list[Line]]:
    promotions = []
    lines = []
    for i in range(lines_count):
        sku = f"S{i}"
        only = Scope(skus=frozenset({sku}))
        promotions.append(promo(f"a{i}", ItemPercentOff(Fraction(10)), scope=only))
        promotions.append(promo(f"b{i}", ItemPercentOff(Fraction(second_percent)), scope=only))
        lines.append(Line(str(i + 1), sku, 1, 1000))
    return promotions, lines


def test_beyond_the_exact_limit_the_quote_says_not_optimal() -> None:
    # 13 lines, each with two equally good item offers: 2**13 legal combinations that
    # tie on the total, so no bound can prune them and the walk stops at 4,097
    promotions, lines = _two_offers_per_line(13, 10)
    q = quote(promotions, lines)
    assert not q.optimal
    assert q.total == 13 * 900
    assert {a.promotion.id for a in q.applied} == {f"a{i}" for i in range(13)}


def test_beyond_the_limit_a_search_the_bound_finishes_is_still_exact() -> None:
    # 2**13 legal combinations, but every one but the first is provably worse
    promotions, lines = _two_offers_per_line(13, 11)
    q = quote(promotions, lines)
    assert q.optimal
    assert q.total == 13 * 890


def test_exactly_at_the_limit_the_quote_is_optimal() -> None:
    promotions = []
    lines = []
    for i in range(12):  # 2**12 == 4096 legal combinations
        sku = f"S{i}"
        promotions.append(
            promo(f"a{i}", ItemPercentOff(Fraction(10)), scope=Scope(skus=frozenset({sku})))
        )
        promotions.append(
            promo(f"b{i}", ItemPercentOff(Fraction(11)), scope=Scope(skus=frozenset({sku})))
        )
        lines.append(Line(str(i + 1), sku, 1, 1000))
    q = quote(promotions, lines)
    assert q.optimal
    assert q.total == 12 * 890
