"""The circuit breaker, driven by a fake clock: every transition, every rule."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from app.errors import CircuitOpen, Conflict, Unavailable
from app.resilience.breaker import BreakerConfig, CircuitBreaker, Outcome, State

CONFIG = BreakerConfig(
    window_calls=10,
    minimum_calls=4,
    failure_rate=0.5,
    slow_call_rate=0.75,
    slow_call_seconds=1.0,
    open_seconds=5.0,
    half_open_calls=2,
)


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    transitions: list[tuple[State, State]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def transition(self, breaker: str, old: State, new: State) -> None:
        self.transitions.append((old, new))

    def call(self, breaker: str, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


def make(config: BreakerConfig = CONFIG) -> tuple[CircuitBreaker, Clock, Recorder]:
    clock, recorder = Clock(), Recorder()
    return CircuitBreaker("dep", config, clock=clock, observer=recorder), clock, recorder


def ok(breaker: CircuitBreaker, clock: Clock, seconds: float = 0.0) -> None:
    with breaker.guard("ok"):
        clock.now += seconds


def fail(breaker: CircuitBreaker, clock: Clock, seconds: float = 0.0) -> None:
    def call() -> None:
        with breaker.guard("fail"):
            clock.now += seconds
            raise Unavailable("down")

    with pytest.raises(Unavailable):
        call()


def open_it(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(CONFIG.minimum_calls):
        fail(breaker, clock)
    assert breaker.state is State.OPEN


def test_starts_closed_and_reports_it() -> None:
    breaker, _, recorder = make()
    assert breaker.state is State.CLOSED
    assert recorder.transitions == [(State.CLOSED, State.CLOSED)]  # the gauge's first value
    snap = breaker.snapshot()
    assert (snap.state, snap.calls, snap.failure_rate, snap.retry_after) == ("closed", 0, 0, 0)


def test_no_verdict_before_the_minimum_number_of_calls() -> None:
    breaker, clock, _ = make()
    for _ in range(CONFIG.minimum_calls - 1):
        fail(breaker, clock)
    assert breaker.state is State.CLOSED  # three failures out of three: too few to judge
    fail(breaker, clock)
    assert breaker.state is State.OPEN


def test_closed_to_open_at_the_failure_rate() -> None:
    breaker, clock, recorder = make()
    for _ in range(3):
        ok(breaker, clock)
    fail(breaker, clock)
    fail(breaker, clock)  # 2 of 5: 40 %
    assert breaker.state is State.CLOSED
    fail(breaker, clock)  # 3 of 6: 50 %, the threshold itself trips it
    assert breaker.state is State.OPEN
    assert recorder.transitions[-1] == (State.CLOSED, State.OPEN)


def test_the_window_slides_old_failures_out() -> None:
    breaker, clock, _ = make(BreakerConfig(window_calls=4, minimum_calls=4, failure_rate=0.75))
    fail(breaker, clock)
    fail(breaker, clock)
    ok(breaker, clock)
    ok(breaker, clock)  # [F F O O]: 50 %
    ok(breaker, clock)  # the first failure leaves: [F O O O]
    fail(breaker, clock)  # [O O O F]
    assert breaker.snapshot().failure_rate == 0.25
    fail(breaker, clock)  # [O O F F]
    assert breaker.state is State.CLOSED
    fail(breaker, clock)  # [O F F F]: 75 %
    assert breaker.state is State.OPEN


def test_closed_to_open_at_the_slow_call_rate_even_when_calls_succeed() -> None:
    breaker, clock, recorder = make()
    ok(breaker, clock)
    for _ in range(3):
        ok(breaker, clock, seconds=1.0)  # slow: at the threshold counts
    assert breaker.state is State.OPEN  # 3 of 4 slow = 75 %
    assert recorder.outcomes == [Outcome.SUCCESS] + [Outcome.SLOW_SUCCESS] * 3


def test_other_exceptions_mean_the_dependency_answered() -> None:
    breaker, _clock, recorder = make()
    for _ in range(6):
        with pytest.raises(Conflict), breaker.guard():
            raise Conflict("duplicate id")
    assert breaker.state is State.CLOSED
    assert set(recorder.outcomes) == {Outcome.SUCCESS}


def test_open_fails_fast_with_the_time_left() -> None:
    breaker, clock, recorder = make()
    open_it(breaker, clock)
    clock.now += 1.2
    entered = False
    with pytest.raises(CircuitOpen) as caught, breaker.guard("take"):
        entered = True
    assert not entered  # nothing reaches the dependency
    assert caught.value.retry_after == 4  # ceil(3.8)
    assert caught.value.status == 503
    assert caught.value.code == "unavailable"
    assert "dep circuit breaker is open (take)" in caught.value.detail
    assert recorder.outcomes[-1] is Outcome.REJECTED
    assert breaker.snapshot().retry_after == pytest.approx(3.8)


def test_open_to_half_open_when_its_time_is_up() -> None:
    breaker, clock, recorder = make()
    open_it(breaker, clock)
    clock.now += 4.999
    assert breaker.state is State.OPEN
    clock.now += 0.001
    assert breaker.state is State.HALF_OPEN
    assert recorder.transitions[-1] == (State.OPEN, State.HALF_OPEN)
    assert breaker.retry_after() == 0


def test_half_open_admits_a_bounded_number_of_probes() -> None:
    breaker, clock, _ = make()
    open_it(breaker, clock)
    clock.now += 5
    first, second, third = breaker.guard(), breaker.guard(), breaker.guard()
    first.__enter__()
    second.__enter__()
    with pytest.raises(CircuitOpen) as caught:
        third.__enter__()  # both probe slots taken
    assert caught.value.retry_after == 1
    assert breaker.state is State.HALF_OPEN


def test_half_open_to_closed_when_the_probes_succeed() -> None:
    breaker, clock, recorder = make()
    open_it(breaker, clock)
    clock.now += 5
    ok(breaker, clock)
    assert breaker.state is State.HALF_OPEN  # one probe judged, one to go
    ok(breaker, clock)
    assert breaker.state is State.CLOSED
    assert recorder.transitions[-3:] == [
        (State.CLOSED, State.OPEN),
        (State.OPEN, State.HALF_OPEN),
        (State.HALF_OPEN, State.CLOSED),
    ]
    # closed with an empty window: three fresh failures are not yet a verdict
    for _ in range(3):
        fail(breaker, clock)
    assert breaker.state is State.CLOSED


def test_half_open_to_open_when_a_probe_rate_reaches_its_threshold() -> None:
    breaker, clock, recorder = make()
    open_it(breaker, clock)
    clock.now += 5
    ok(breaker, clock)
    fail(breaker, clock)  # 1 of 2 = 50 %
    assert breaker.state is State.OPEN
    assert recorder.transitions[-1] == (State.HALF_OPEN, State.OPEN)
    assert breaker.retry_after() == 5  # a fresh open period


def test_half_open_to_open_on_slow_probes() -> None:
    breaker, clock, _ = make()
    open_it(breaker, clock)
    clock.now += 5
    ok(breaker, clock, seconds=2)
    ok(breaker, clock, seconds=2)
    assert breaker.state is State.OPEN


def test_a_cancelled_probe_gives_its_slot_back_and_is_not_judged() -> None:
    breaker, clock, recorder = make()
    open_it(breaker, clock)
    clock.now += 5
    with pytest.raises(asyncio.CancelledError), breaker.guard():
        raise asyncio.CancelledError
    ok(breaker, clock)
    ok(breaker, clock)  # two probes still admitted after the cancelled one
    assert breaker.state is State.CLOSED
    assert Outcome.FAILURE not in recorder.outcomes[-2:]


def test_a_call_admitted_before_the_breaker_opened_does_not_count_as_a_probe() -> None:
    breaker, clock, _ = make()
    straggler = breaker.guard()
    straggler.__enter__()  # admitted while closed
    open_it(breaker, clock)
    clock.now += 5
    assert breaker.state is State.HALF_OPEN
    straggler.__exit__(None, None, None)  # succeeds now, 5 s late
    assert breaker.state is State.HALF_OPEN
    assert breaker.snapshot().calls == 0


async def test_guards_real_coroutines() -> None:
    breaker = CircuitBreaker("loop", CONFIG)

    async def down() -> None:
        with breaker.guard("call"):
            await asyncio.sleep(0)
            raise Unavailable("no")

    for _ in range(4):
        with pytest.raises(Unavailable):
            await down()
    with pytest.raises(CircuitOpen):
        await down()


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="minimum_calls"):
        BreakerConfig(window_calls=5, minimum_calls=6)
    with pytest.raises(ValueError, match="rates"):
        BreakerConfig(failure_rate=0)
    with pytest.raises(ValueError, match="positive"):
        BreakerConfig(open_seconds=0)
