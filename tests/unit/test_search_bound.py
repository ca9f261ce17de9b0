"""The search's work bound (issue 12): adversarial carts are priced within
``WORK_LIMIT`` line steps, consistent to the fen, exact against the brute-force
oracle whenever the legal combinations number at most 4,096, and, when the bound
stops the walk, a legal combination at least as good as the greedy one.

Carts come from ``loadtests.adversarial``, the same the search benchmark times.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules import engine
from app.rules import search as search_module
from app.rules.candidates import Pricing
from app.rules.engine import price
from app.rules.model import (
    Conditions,
    ItemFixedPrice,
    ItemPercentOff,
    Line,
    MemberPrice,
    PercentOff,
    PresentedCoupon,
    Promotion,
    QuoteRequest,
    Reason,
    Scope,
    Threshold,
    Tier,
)
from app.rules.ruleset import RuleSet
from app.rules.search import WORK_LIMIT, Outcome
from loadtests.adversarial import AT, FAMILIES, GOLD
from tests.unit.strategies import Case
from tests.unit.test_engine_properties import (
    COMMON,
    VERSION,
    _legal,
    brute_force,
    check_against_oracle,
    check_invariants,
)


def _outcome(promotions: list[Promotion], request: QuoteRequest) -> tuple[Pricing, Outcome]:
    rules = RuleSet(promotions, VERSION)
    pricing = Pricing(request)
    for promotion in rules.auto_candidates(request.lines):
        engine._prepare(pricing, promotion, None)
    engine._present(pricing, rules)
    pricing.freeze()
    return pricing, search_module.search(pricing)


# ------------------------------------------------- exact where the spec says exact


def exact(promotions: list[Promotion], request: QuoteRequest) -> None:
    """The engine's answer is the brute-force oracle's, and says ``optimal``."""
    rules = RuleSet(promotions, VERSION)
    quote = price(rules, request)
    verdict = brute_force(rules, request)
    assert verdict.legal <= 4096
    assert quote.optimal
    assert (quote.total, frozenset(a.promotion.id for a in quote.applied)) == (
        verdict.total,
        verdict.applied,
    )


_fs = frozenset


@st.composite
def competing_offers(draw: st.DrawFn) -> Case:
    """Up to 7 lines, most with two or three competing item offers, prices drawn
    around a coupling 满减's tiers, sometimes a second threshold in one exclusion
    group, presented coupons sharing the ``coupon`` group, an exclusive promotion,
    and lines outside every order scope (decided before the walk)."""
    n = draw(st.integers(2, 5))
    lines = tuple(
        Line(
            f"l{i}",
            f"S{i}",
            draw(st.integers(1, 2)),
            draw(st.integers(40, 260)) * 100,
            draw(st.sampled_from(["shoes", "shoes", "bags"])),
            "b",
            draw(st.sampled_from(["m1", "m2"])),
            min_unit_price=draw(st.sampled_from([None, None, None, 3_000])),
        )
        for i in range(n)
    )
    low = draw(st.integers(2, 8)) * 5_000
    promotions = [
        Promotion(
            "shoes-10", "s", ItemPercentOff(Fraction(10)), scope=Scope(categories=_fs({"shoes"}))
        ),
        Promotion("gold-8", "g", MemberPrice(tiers={"gold": Fraction(8)})),
        Promotion(
            "mj",
            "m",
            Threshold(
                (
                    Tier(min_amount=low, amount_off=low // 6),
                    Tier(min_amount=low * 3, amount_off=low // 2),
                )
            ),
            scope=Scope(merchants=_fs({"m1"})) if draw(st.booleans()) else Scope(),
        ),
    ]
    if draw(st.booleans()):
        promotions.append(
            Promotion(
                "bags-fix",
                "f",
                ItemFixedPrice(draw(st.integers(30, 150)) * 100),
                scope=Scope(categories=_fs({"bags"})),
                priority=draw(st.integers(0, 2)),
            )
        )
    if draw(st.booleans()):
        promotions.append(
            Promotion(
                "mj-grp",
                "m2",
                Threshold((Tier(min_amount=low * 2, amount_off=low // 3),)),
                exclusion_group="g1",
            )
        )
        promotions.append(
            Promotion(
                "pct-grp", "p", PercentOff(Fraction(draw(st.integers(5, 15)))), exclusion_group="g1"
            )
        )
    coupons: list[PresentedCoupon] = []
    for k in range(draw(st.integers(0, 3))):
        pid = f"cp{k}"
        promotions.append(
            Promotion(
                pid,
                pid,
                Threshold(
                    (
                        Tier(
                            min_amount=draw(st.integers(1, 6)) * 10_000,
                            amount_off=draw(st.integers(1, 9)) * 1_000,
                        ),
                    )
                ),
                trigger="coupon",
                priority=draw(st.integers(0, 2)),
            )
        )
        coupons.append(PresentedCoupon(f"C-{pid}", pid))
    if draw(st.booleans()):
        promotions.append(
            Promotion("solo", "x", PercentOff(Fraction(draw(st.integers(5, 25)))), exclusive=True)
        )
    request = QuoteRequest(
        lines=lines,
        at=AT,
        customer=GOLD,
        coupons=tuple(coupons),
        shipping_fee=draw(st.sampled_from([0, 800])),
    )
    return Case(tuple(promotions), request)


@settings(max_examples=50, **COMMON)
@given(competing_offers())
def test_competing_item_offers_are_searched_exactly(case: Case) -> None:
    verdict = check_against_oracle(case)
    check_invariants(case.request, price(RuleSet(case.promotions, VERSION), case.request))
    assert verdict.legal >= 1


# ------------------------------------------------------ bounded whatever the cart

BIG = [
    ("shoes", 500),
    ("near_threshold", 500),
    ("near_threshold", 40),
    ("near_threshold", 16),
    ("campaign", 500),
    ("coupon_pile", 20),
    ("exclusives", 128),
]


@pytest.mark.parametrize(("family", "size"), BIG)
def test_adversarial_carts_are_priced_within_the_bound(family: str, size: int) -> None:
    promotions, request = FAMILIES[family](size, 0)
    pricing, outcome = _outcome(promotions, request)
    # a step may overshoot the limit by what one step costs (a leaf reads every line)
    assert outcome.work <= WORK_LIMIT + 4 * size + 100
    assert _legal(pricing, outcome.evaluation.combo, outcome.evaluation)
    rules = RuleSet(promotions, VERSION)
    quote = price(rules, request)
    check_invariants(request, quote)
    assert quote == price(rules, request), "the same request gives the same quote"
    assert quote.optimal == outcome.optimal
    if not outcome.optimal:
        assert outcome.work > WORK_LIMIT


@pytest.mark.parametrize(("family", "size"), [("near_threshold", 60), ("shoes", 500)])
def test_a_long_search_pauses_every_few_hundred_steps_and_answers_the_same(
    family: str, size: int
) -> None:
    """The engine thread hands the search a ``pause`` (it lets the event loop run);
    a long walk calls it at most once per ``PAUSE_EVERY`` line steps (a step that
    reads a long cart counts all its lines), and the quote is the one priced
    without it."""
    promotions, request = FAMILIES[family](size, 0)
    rules = RuleSet(promotions, VERSION)
    pauses: list[None] = []
    paused = price(rules, request, pause=lambda: pauses.append(None))
    assert paused == price(rules, request)
    _, outcome = _outcome(promotions, request)
    assert outcome.work >= search_module.PAUSE_EVERY, "a walk long enough to pause"
    assert outcome.work // (2 * search_module.PAUSE_EVERY) <= len(pauses)
    assert len(pauses) <= outcome.work // search_module.PAUSE_EVERY


def test_a_cart_of_at_most_4096_combinations_runs_to_the_end() -> None:
    """12 lines of two competing offers around a 满减 tier: 4,096 combinations, so
    the spec wants them exact, work bound or not."""
    for seed in range(60):
        promotions, request = FAMILIES["near_threshold"](12, seed)
        pricing, outcome = _outcome(promotions, request)
        assert not search_module.combinations_above(pricing, [None] * 12, 4096)
        assert outcome.optimal, seed


def test_the_greedy_path_is_priced_first_and_never_beaten_by_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no work allowed the search still answers: its first legal leaf, the
    greedy combination (deepest item offer on every line). With the full bound the
    answer is never worse than that."""
    stopped = 0
    for seed in range(6):
        promotions, request = FAMILIES["near_threshold"](40, seed)
        _, full = _outcome(promotions, request)
        with monkeypatch.context() as patch:
            patch.setattr(search_module, "WORK_LIMIT", 0)
            greedy_pricing, greedy = _outcome(promotions, request)
        assert not greedy.optimal
        assert _legal(greedy_pricing, greedy.evaluation.combo, greedy.evaluation)
        deepest = [opts[0].index if opts else -1 for opts in greedy_pricing.line_options]
        assert list(greedy.evaluation.combo.items) == deepest
        assert full.evaluation.total <= greedy.evaluation.total
        stopped += not full.optimal
    assert stopped, "near-threshold carts of 40 lines do reach the bound"


def test_a_line_no_later_stage_sees_is_decided_before_the_walk() -> None:
    """Bags are outside the 满减's merchant: their deeper offer is taken at once, and
    the answer is the oracle's."""
    lines = tuple(
        Line(
            f"l{i}",
            f"S{i}",
            1,
            19_900 + 100 * i,
            "shoes" if i < 3 else "bags",
            "b",
            "m1" if i < 3 else "m2",
        )
        for i in range(8)
    )
    promotions = [
        Promotion("all-10", "s", ItemPercentOff(Fraction(10))),
        Promotion("gold-8", "g", MemberPrice(tiers={"gold": Fraction(8)})),
        Promotion(
            "mj",
            "m",
            Threshold((Tier(min_amount=50_000, amount_off=8_000),)),
            scope=Scope(merchants=_fs({"m1"})),
        ),
    ]
    request = QuoteRequest(lines=lines, at=AT, customer=GOLD)
    _, outcome = _outcome(promotions, request)
    assert outcome.fixed_lines == 5
    assert outcome.optimal
    exact(promotions, request)


# ------------------------------------------------ PRICING.md exact rules, new text


def test_an_order_coupon_whose_lines_are_all_at_their_floor_is_no_eligible_items() -> None:
    """Exact rule 8: an order coupon that can take nothing off any line in scope
    (all at their floor or zero at the start of its stage) and gives no gift."""
    lines = (
        Line("1", "A", 1, 10_000, "c", min_unit_price=10_000),
        Line("2", "B", 1, 5_000, "c"),
    )
    promotions = [
        Promotion("free-b", "b", ItemFixedPrice(0), scope=Scope(skus=_fs({"B"}))),
        Promotion("cp", "cp", PercentOff(Fraction(10)), trigger="coupon"),
    ]
    request = QuoteRequest(lines=lines, at=AT, coupons=(PresentedCoupon("CP1", "cp"),))
    quote = price(RuleSet(promotions, VERSION), request)
    (outcome,) = quote.coupons
    assert (outcome.applied, outcome.reason) == (False, Reason.NO_ELIGIBLE_ITEMS)
    assert quote.total == 10_000


@pytest.mark.parametrize(
    ("x_priority", "y_priority", "expected"),
    [(0, 0, "x"), (0, 1, "y"), (1, 0, "x")],
)
def test_the_last_tie_break_is_line_by_line(
    x_priority: int, y_priority: int, expected: str
) -> None:
    """Two item promotions that both take line 3 to zero, each needed elsewhere (lines 1
    and 2): same total, same promotions. Line 3 goes to the higher priority, then the
    smaller id."""
    lines = tuple(Line(str(i), sku, 1, 1_000, "c") for i, sku in enumerate("ABC", 1))
    promotions = [
        Promotion(
            "y", "y", ItemFixedPrice(0), scope=Scope(skus=_fs({"B", "C"})), priority=y_priority
        ),
        Promotion(
            "x", "x", ItemFixedPrice(0), scope=Scope(skus=_fs({"A", "C"})), priority=x_priority
        ),
    ]
    quote = price(RuleSet(promotions, VERSION), QuoteRequest(lines=lines, at=AT))
    assert quote.total == 0
    assert [[a.promotion_id for a in r.adjustments] for r in quote.lines] == [
        ["x"],
        ["y"],
        [expected],
    ]
    exact(promotions, QuoteRequest(lines=lines, at=AT))


def test_conditions_keep_their_meaning_in_the_search() -> None:
    """A min_amount condition on a percent-off measured at the order stage start: the
    deeper item offer drops the cart under it, and the search knows."""
    lines = tuple(Line(str(i), f"S{i}", 1, 10_000, "shoes") for i in range(4))
    promotions = [
        Promotion("s10", "s", ItemPercentOff(Fraction(10))),
        Promotion("g2", "g", MemberPrice(tiers={"gold": Fraction(2)})),
        Promotion("pct", "p", PercentOff(Fraction(20)), conditions=Conditions(min_amount=39_000)),
    ]
    request = QuoteRequest(lines=lines, at=AT, customer=GOLD)
    exact(promotions, request)
    quote = price(RuleSet(promotions, VERSION), request)
    assert {a.promotion.id for a in quote.applied} == {"g2", "pct"}
    assert quote.total == 31_360  # 40,000 less 2% is 39,200, over the 39,000: 20% off
