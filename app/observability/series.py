"""The sale's Prometheus series, beside the HTTP ones (``app/api/middleware.py``)
and the breakers' (``app/resilience/metrics.py``). docs/observability.md lists them all.

Counted where they happen (cheap: a dictionary look-up and an increment):

* ``pricing_quotes_total{outcome}``: ``optimal``, ``bounded`` (the search's work
  bound cut it short: the best found, not proven optimal) or ``degraded``
  (Redis or the database did not answer: limits unchecked, no flash price);
* ``pricing_quote_promotions_applied_total{promotion}``: quotes that applied it;
* ``pricing_reservations_total{operation, outcome}``: ``reserve`` (``reserved``,
  ``replayed``, or the refusal's problem code: ``sold_out``, ``limit_reached``,
  ``price_changed``, ``conflict``, ``unavailable``...), ``confirm`` and ``cancel``;
* ``pricing_promotion_discount_given_minor_total{promotion}`` and
  ``pricing_promotion_orders_total{promotion}``: what confirmed orders got from
  each promotion (minor units, fen), and how many; ``pricing_gmv_minor_total``:
  what confirmed orders paid.

Read when Prometheus scrapes (``sale_families``, from the live counters, so they
are right whichever worker took the units):

* ``pricing_flash_sale_stock_available{promotion, sku}`` and
  ``pricing_flash_sale_stock_initial{promotion, sku}``;
* ``pricing_promotion_budget_spent_minor{promotion}`` and
  ``pricing_promotion_budget_minor{promotion}`` (the limit).

Labels are bounded: a route template, an outcome from a fixed list, a promotion
id (there are hundreds, not millions), a flash-sale sku.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from app.rules.model import Quote

QUOTES = Counter("pricing_quotes_total", "Quotes answered, by outcome", ["outcome"])
APPLIED = Counter(
    "pricing_quote_promotions_applied_total",
    "Quotes that applied a promotion",
    ["promotion"],
)
RESERVATIONS = Counter(
    "pricing_reservations_total",
    "Reservation operations, by outcome (a refusal by its problem code)",
    ["operation", "outcome"],
)
DISCOUNT = Counter(
    "pricing_promotion_discount_given_minor_total",
    "Discount confirmed orders got from a promotion, in minor units (fen)",
    ["promotion"],
)
ORDERS = Counter(
    "pricing_promotion_orders_total",
    "Confirmed orders that applied a promotion",
    ["promotion"],
)
GMV = Counter("pricing_gmv_minor_total", "What confirmed orders paid, in minor units (fen)")
CLAIM_BATCHES = Histogram(
    "pricing_claim_batch_size",
    "Claims written to PostgreSQL together, in one statement and one commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)

_OPTIMAL = QUOTES.labels("optimal")
_BOUNDED = QUOTES.labels("bounded")
_DEGRADED = QUOTES.labels("degraded")
# labelled children by promotion id: ``labels()`` takes a lock and checks its arguments
_applied: dict[str, Counter] = {}


def quoted(quote: Quote) -> None:
    """Count one quote answered to a caller, and each promotion it applied."""
    if quote.degraded:
        _DEGRADED.inc()
    elif quote.optimal:
        _OPTIMAL.inc()
    else:
        _BOUNDED.inc()
    for applied in quote.applied:
        promotion_id = applied.promotion.id
        child = _applied.get(promotion_id)
        if child is None:
            child = _applied[promotion_id] = APPLIED.labels(promotion_id)
        child.inc()


@dataclass(slots=True)
class Outcome:
    """What ``reservation`` counts when its block ends normally; the block may change it."""

    value: str


@contextmanager
def reservation(operation: str, outcome: str) -> Iterator[Outcome]:
    """Count one ``reserve``, ``confirm`` or ``cancel``: ``outcome`` (or what the
    block set it to) when the block ends normally, the problem code of the error it
    raised otherwise (``internal_error`` for an error that has none)."""
    counted = Outcome(outcome)
    try:
        yield counted
    except Exception as exc:
        RESERVATIONS.labels(operation, str(getattr(exc, "code", "internal_error"))).inc()
        raise
    RESERVATIONS.labels(operation, counted.value).inc()


def claim_batch(size: int) -> None:
    """A batch of ``size`` claims is written (``app.storage.sql_claims``)."""
    CLAIM_BATCHES.observe(size)


def confirmed(total: int, discounts: Iterable[tuple[str, int]]) -> None:
    """Count an order confirmed now: what it paid, and each promotion's discount."""
    GMV.inc(total)
    for promotion_id, amount in discounts:
        ORDERS.labels(promotion_id).inc()
        if amount:
            DISCOUNT.labels(promotion_id).inc(amount)


@dataclass(frozen=True, slots=True)
class SaleLevels:
    """What the scrape reads from the live counters: flash-sale units by
    ``(promotion, sku)`` as ``(available, initial)``, and budgets by promotion as
    ``(spent, limit)``."""

    stock: Mapping[tuple[str, str], tuple[int, int]]
    budgets: Mapping[str, tuple[int, int]]


def sale_families(levels: SaleLevels) -> list[Metric]:
    """The scrape-time gauges of ``levels``."""
    available = GaugeMetricFamily(
        "pricing_flash_sale_stock_available",
        "Flash-sale units still available (not reserved, not sold)",
        labels=["promotion", "sku"],
    )
    initial = GaugeMetricFamily(
        "pricing_flash_sale_stock_initial",
        "Flash-sale units the sale started with",
        labels=["promotion", "sku"],
    )
    for (promotion_id, sku), (left, start) in sorted(levels.stock.items()):
        available.add_metric([promotion_id, sku], left)
        initial.add_metric([promotion_id, sku], start)
    spent = GaugeMetricFamily(
        "pricing_promotion_budget_spent_minor",
        "Budget held by reserved and confirmed orders, in minor units (fen)",
        labels=["promotion"],
    )
    limit = GaugeMetricFamily(
        "pricing_promotion_budget_minor",
        "A promotion's budget (limits.budget), in minor units (fen)",
        labels=["promotion"],
    )
    for promotion_id, (used, budget) in sorted(levels.budgets.items()):
        spent.add_metric([promotion_id], used)
        limit.add_metric([promotion_id], budget)
    return [available, initial, spent, limit]
