import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from app.rules.money import largest_remainder, pct, pct_of, round_half_up, split


def test_round_half_up_rounds_halves_up() -> None:
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(7, 2)) == 4
    assert round_half_up(Fraction(249, 100)) == 2


def test_pct_of_odd_amount_rounds_half_up() -> None:
    # 10% of 123.45 is 12.345 -> 12.35
    assert pct(12345, Fraction(10)) == 1235
    assert pct(1999, Fraction(50)) == 1000
    assert pct(10000, Fraction("8.5")) == 850


def test_largest_remainder_matches_worked_example() -> None:
    # 满300减50 over 200.00 and 150.00
    assert largest_remainder(5000, [20000, 15000]) == [2857, 2143]


def test_largest_remainder_ties_go_to_the_earlier_line() -> None:
    assert largest_remainder(1, [100, 100, 100]) == [1, 0, 0]
    assert largest_remainder(2, [100, 100, 100]) == [1, 1, 0]


def test_largest_remainder_of_nothing_is_nothing() -> None:
    assert largest_remainder(100, [0, 0]) == [0, 0]


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=30),
)
def test_largest_remainder_shares_sum_exactly_and_stay_proportional(
    total: int, weights: list[int]
) -> None:
    shares = largest_remainder(total, weights)
    whole = sum(weights)
    if whole == 0:
        assert shares == [0] * len(weights)
        return
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        exact = Fraction(total * weight, whole)
        assert exact - 1 < share < exact + 1


@given(
    st.integers(min_value=0, max_value=10**9),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**9), st.integers(1, 12)),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=1, max_value=12),
)
def test_split_of_weights_all_times_a_scale_is_the_split_of_their_fractions(
    total: int, parts: list[tuple[int, int]], scale: int
) -> None:
    # the bundle splits over unit amounts × the lcm of the quantities
    fractions = [Fraction(amount, qty) for amount, qty in parts]
    common = math.lcm(*(qty for _, qty in parts)) * scale
    scaled = [amount * (common // qty) for amount, qty in parts]
    assert split(scaled, total) == largest_remainder(total, fractions)
    assert split([f.numerator for f in fractions], total) == largest_remainder(
        total, [f.numerator for f in fractions]
    )


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=50),
    st.fractions(min_value=0, max_value=100, max_denominator=1000),
)
def test_pct_of_a_ratio_is_pct_of_the_fraction(
    numerator: int, denominator: int, percent: Fraction
) -> None:
    assert pct_of(numerator, denominator, percent) == pct(Fraction(numerator, denominator), percent)
