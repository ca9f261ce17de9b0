"""A per-process asynchronous circuit breaker with resilience4j's semantics.

    CLOSED ──(window full enough and failure rate or slow-call rate ≥ threshold)──▶ OPEN
    OPEN ──(open_seconds passed; noticed at the next call or look)──▶ HALF_OPEN
    HALF_OPEN ──(half_open_calls probes done, rates below thresholds)──▶ CLOSED
    HALF_OPEN ──(half_open_calls probes done, a rate at or above its threshold)──▶ OPEN

* **Sliding window: count-based**, the last ``window_calls`` outcomes (a ring
  with running sums: O(1) per call). Count-based rather than time-based
  because the breaker must react as fast at 50 requests per second as at
  5,000, and a count is what ``minimum_calls`` is measured in anyway; an
  outcome only leaves the window when a newer one pushes it out, so a quiet
  service keeps its last verdict until traffic returns (as in resilience4j).
* **Failure**: a call whose exception ``is_failure`` accepts (by default
  ``Unavailable``: the adapters turn timeouts and lost connections into it).
  Any other exception means the dependency answered: a success. A call
  cancelled (``CancelledError``, a caller's deadline) is not recorded at all.
* **Slow**: a call (successful or not) that took ``slow_call_seconds`` or
  more. Slow calls trip the breaker at ``slow_call_rate`` even when they all
  succeed: a dependency that answers in 900 ms is as bad as one that fails.
* **Minimum calls**: no verdict until the window holds ``minimum_calls``.
* **OPEN** rejects every call at once with ``CircuitOpen`` (an
  ``Unavailable``; 503 with ``Retry-After`` = the seconds left open).
* **HALF_OPEN** admits ``half_open_calls`` probes (more callers meanwhile are
  rejected), judges them together, and opens again or closes with an empty
  window.
* A call is recorded only in the state *epoch* it was admitted in: a slow
  call admitted while CLOSED that finishes after the breaker opened is not
  counted as a probe.

Time comes from an injectable ``clock`` (``time.monotonic`` by default), so
tests drive every transition without sleeping. One event loop per process,
no awaits inside the breaker: no locks are needed. ``BreakerObserver`` hears
every transition and every call's outcome (``app.resilience.metrics`` turns
them into Prometheus series).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Protocol

from app.errors import CircuitOpen, Unavailable


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SLOW_SUCCESS = "slow_success"
    SLOW_FAILURE = "slow_failure"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """The knobs (``docs/resilience.md`` says why each default)."""

    window_calls: int = 20
    minimum_calls: int = 10
    failure_rate: float = 0.5  # open at or above this share of failures
    slow_call_rate: float = 0.8  # open at or above this share of slow calls
    slow_call_seconds: float = 0.5
    open_seconds: float = 5.0
    half_open_calls: int = 3

    def __post_init__(self) -> None:
        if self.window_calls < 1 or self.half_open_calls < 1:
            raise ValueError("window_calls and half_open_calls must be at least 1")
        if not 1 <= self.minimum_calls <= self.window_calls:
            raise ValueError("minimum_calls must be between 1 and window_calls")
        if not (0 < self.failure_rate <= 1 and 0 < self.slow_call_rate <= 1):
            raise ValueError("rates are in (0, 1]")
        if self.slow_call_seconds <= 0 or self.open_seconds <= 0:
            raise ValueError("durations must be positive")


class BreakerObserver(Protocol):
    def transition(self, breaker: str, old: State, new: State) -> None: ...

    def call(self, breaker: str, outcome: Outcome) -> None: ...


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What ``/readyz`` and the tests read."""

    name: str
    state: State
    calls: int  # in the window (CLOSED) or probes judged so far (HALF_OPEN)
    failure_rate: float
    slow_call_rate: float
    retry_after: float  # seconds until a probe is admitted (0 unless OPEN)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, Unavailable)


class _Window:
    """The last ``size`` outcomes as (failed, slow), with running sums."""

    def __init__(self, size: int) -> None:
        self._ring: deque[tuple[bool, bool]] = deque(maxlen=size)
        self.failures = 0
        self.slow = 0

    def add(self, failed: bool, slow: bool) -> None:
        if len(self._ring) == self._ring.maxlen:
            old_failed, old_slow = self._ring[0]
            self.failures -= old_failed
            self.slow -= old_slow
        self._ring.append((failed, slow))
        self.failures += failed
        self.slow += slow

    def __len__(self) -> int:
        return len(self._ring)

    def rates(self) -> tuple[float, float]:
        n = len(self._ring)
        return (self.failures / n, self.slow / n) if n else (0.0, 0.0)


class CircuitBreaker:
    """One per dependency per process. ``with breaker.guard("what"): await call()``."""

    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        observer: BreakerObserver | None = None,
        is_failure: Callable[[BaseException], bool] = is_unavailable,
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        self._clock = clock
        self._observer = observer
        self._is_failure = is_failure
        self._state = State.CLOSED
        self._epoch = 0
        self._window = _Window(self.config.window_calls)
        self._opened_at = 0.0
        self._probes_admitted = 0
        if observer is not None:
            observer.transition(name, State.CLOSED, State.CLOSED)

    # ------------------------------------------------------------------ reading

    @property
    def state(self) -> State:
        """The state now (an OPEN breaker whose time is up becomes HALF_OPEN here)."""
        if (
            self._state is State.OPEN
            and self._clock() >= self._opened_at + self.config.open_seconds
        ):
            self._move(State.HALF_OPEN)
        return self._state

    def retry_after(self) -> float:
        if self.state is not State.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.config.open_seconds - self._clock())

    def snapshot(self) -> BreakerSnapshot:
        state = self.state
        failure_rate, slow_rate = self._window.rates()
        return BreakerSnapshot(
            name=self.name,
            state=state,
            calls=len(self._window),
            failure_rate=failure_rate,
            slow_call_rate=slow_rate,
            retry_after=self.retry_after(),
        )

    # ------------------------------------------------------------------ calling

    def guard(self, what: str = "") -> _Call:
        """A context manager around one call to the dependency: raises ``CircuitOpen``
        on entry when the call is not admitted; records the outcome on exit."""
        return _Call(self, what)

    def _admit(self, what: str) -> int:
        state = self.state
        if state is State.CLOSED:
            return self._epoch
        if state is State.HALF_OPEN and self._probes_admitted < self.config.half_open_calls:
            self._probes_admitted += 1
            return self._epoch
        self._notify_call(Outcome.REJECTED)
        seconds = self.retry_after()
        where = f" ({what})" if what else ""
        raise CircuitOpen(
            f"the {self.name} circuit breaker is {state}{where}: failing fast",
            retry_after=max(1, math.ceil(seconds)),
        )

    def _record(self, epoch: int, *, failed: bool, seconds: float) -> None:
        slow = seconds >= self.config.slow_call_seconds
        self._notify_call(
            (Outcome.SLOW_FAILURE if slow else Outcome.FAILURE)
            if failed
            else (Outcome.SLOW_SUCCESS if slow else Outcome.SUCCESS)
        )
        if epoch != self._epoch:
            return  # admitted in an earlier state: its verdict is no longer wanted
        self._window.add(failed, slow)
        if self._state is State.CLOSED:
            if len(self._window) >= self.config.minimum_calls and self._tripped():
                self._move(State.OPEN)
        elif self._state is State.HALF_OPEN and len(self._window) >= self.config.half_open_calls:
            self._move(State.OPEN if self._tripped() else State.CLOSED)

    def _cancelled(self, epoch: int) -> None:
        if epoch == self._epoch and self._state is State.HALF_OPEN:
            self._probes_admitted -= 1  # its probe slot goes to the next caller

    def _tripped(self) -> bool:
        failure_rate, slow_rate = self._window.rates()
        return failure_rate >= self.config.failure_rate or slow_rate >= self.config.slow_call_rate

    def _move(self, new: State) -> None:
        old = self._state
        self._state = new
        self._epoch += 1
        self._window = _Window(
            self.config.half_open_calls if new is State.HALF_OPEN else self.config.window_calls
        )
        self._probes_admitted = 0
        if new is State.OPEN:
            self._opened_at = self._clock()
        if self._observer is not None:
            self._observer.transition(self.name, old, new)

    def _notify_call(self, outcome: Outcome) -> None:
        if self._observer is not None:
            self._observer.call(self.name, outcome)


class _Call:
    """One admitted call: its epoch and start time."""

    __slots__ = ("_breaker", "_epoch", "_started", "_what")

    def __init__(self, breaker: CircuitBreaker, what: str) -> None:
        self._breaker = breaker
        self._what = what
        self._epoch = -1
        self._started = 0.0

    def __enter__(self) -> None:
        self._epoch = self._breaker._admit(self._what)
        self._started = self._breaker._clock()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        breaker = self._breaker
        if exc is not None and not isinstance(exc, Exception):
            breaker._cancelled(self._epoch)  # cancelled (a deadline), or the process ends
            return
        seconds = breaker._clock() - self._started
        failed = exc is not None and breaker._is_failure(exc)
        breaker._record(self._epoch, failed=failed, seconds=seconds)
