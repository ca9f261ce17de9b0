"""The compiled engine (mypyc, ``make engine``) and the pure-Python one give the same quotes.

This process runs whichever build ``app.native`` chose; when that is the compiled
one, a child process with ``PRICING_ENGINE=pure`` prices the same corpus with the
``.py`` sources, and every quote must be equal: random cases of every benefit type
(the property tests' strategies, with limits, eligibility and odd codes), the
adversarial search families at sizes that reach the work bound, and the
benchmark's heavy and typical carts. Without a build (no C compiler, or
``PRICING_ENGINE=pure``) there is nothing to compare, and the tests are skipped.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import app
from app.rules.engine import price
from app.rules.model import Promotion, QuoteRequest
from app.rules.ruleset import RuleSet
from loadtests import adversarial, bench_engine
from tests.unit.strategies import Case, cases

ROOT = Path(__file__).resolve().parents[2]

Item = tuple[str, list[Promotion], QuoteRequest]

# The child: read the corpus, price each item with the pure engine, write the quotes.
CHILD = """
import pickle, sys
import app
assert app.native.ENGINE == "pure", app.native.ENGINE
from app.rules.engine import price
from app.rules.ruleset import RuleSet
corpus = pickle.load(sys.stdin.buffer)
quotes = [price(RuleSet(promotions, "diff#1"), request) for _, promotions, request in corpus]
pickle.dump(quotes, sys.stdout.buffer)
"""


def test_the_build_in_use_is_reported() -> None:
    assert app.native.ENGINE in {"compiled", "pure"}
    if os.environ.get("PRICING_ENGINE") == "pure":
        assert app.native.ENGINE == "pure"


def _random_cases() -> list[Item]:
    drawn: list[Item] = []

    @settings(
        max_examples=400,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(cases(with_limits=True, with_eligibility=True, odd_codes=True))
    def collect(case: Case) -> None:
        drawn.append((f"random {len(drawn)}", list(case.promotions), case.request))

    collect()
    return drawn


def _search_families() -> list[Item]:
    sizes = {"coupon_pile": (4, 9), "exclusives": (3, 8)}
    return [
        (f"{name} {size} seed {seed}", *family(size, seed))
        for name, family in adversarial.FAMILIES.items()
        for size in sizes.get(name, (6, 12, 40))
        for seed in range(3)
    ]


def _benchmark_carts() -> list[Item]:
    searched, near_misses = bench_engine.cart_promotions()
    promotions = [*searched, *near_misses, *bench_engine.background_promotions(76, seed=1)]
    return [
        ("benchmark heavy cart", promotions, bench_engine.quote_request()),
        ("benchmark typical cart", promotions, bench_engine.typical_request()),
    ]


@pytest.mark.skipif(app.native.ENGINE != "compiled", reason="the engine is not compiled here")
def test_compiled_and_pure_engines_agree() -> None:
    corpus = [*_random_cases(), *_search_families(), *_benchmark_carts()]
    compiled = [price(RuleSet(promotions, "diff#1"), request) for _, promotions, request in corpus]
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=pickle.dumps(corpus),
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PRICING_ENGINE": "pure", "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=600,
    )
    assert child.returncode == 0, child.stderr.decode()[-3000:]
    pure = pickle.loads(child.stdout)
    assert len(pure) == len(corpus)
    differ = [name for (name, _, _), a, b in zip(corpus, compiled, pure, strict=True) if a != b]
    assert differ == []
    assert any(not q.optimal for q in pure), "some family reaches the work bound"
