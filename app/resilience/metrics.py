"""The breakers' Prometheus series, in the process's default registry:

* ``pricing_breaker_state{breaker, state}``: 1 for the state the breaker is
  in, 0 for the others (an OPEN breaker whose time is up shows ``open``
  until the next call or ``/readyz`` looks at it and moves it to half-open);
* ``pricing_breaker_transitions_total{breaker, from_state, to_state}``;
* ``pricing_breaker_calls_total{breaker, outcome}``: success, failure,
  slow_success, slow_failure, rejected.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from app.resilience.breaker import Outcome, State

STATE = Gauge(
    "pricing_breaker_state", "1 for the state each circuit breaker is in", ["breaker", "state"]
)
TRANSITIONS = Counter(
    "pricing_breaker_transitions_total",
    "Circuit breaker state changes",
    ["breaker", "from_state", "to_state"],
)
CALLS = Counter(
    "pricing_breaker_calls_total",
    "Calls through a circuit breaker, by outcome",
    ["breaker", "outcome"],
)


class PrometheusObserver:
    """``BreakerObserver`` that keeps the series above."""

    def transition(self, breaker: str, old: State, new: State) -> None:
        for state in State:
            STATE.labels(breaker, state.value).set(1 if state is new else 0)
        if old is not new:
            TRANSITIONS.labels(breaker, old.value, new.value).inc()

    def call(self, breaker: str, outcome: Outcome) -> None:
        CALLS.labels(breaker, outcome.value).inc()
