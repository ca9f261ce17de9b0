"""Warnings about a dependency that stays down, said once and then at most every so often.

A reconnect loop that logs a traceback at every attempt buries the log (a Redis
that is down gave 14 tracebacks in 10 seconds). ``QuietLog`` says the first
failure of a kind in one line (the exception's type and message, no traceback;
the traceback goes to DEBUG), then at most one line per ``every`` seconds with
how many failures it held back, and one line when the kind succeeds again.
Framework-free; the clock is handed in for tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


def brief(exc: BaseException) -> str:
    """An exception in one line: ``ConnectionError: Error 111 connecting to ...``."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(slots=True)
class _Kind:
    said_at: float
    held: int = 0  # failures not said since said_at
    failures: int = 1  # since the last success


class QuietLog:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._every = every
        self._clock = clock
        self._kinds: dict[str, _Kind] = {}

    def failed(self, kind: str, exc: BaseException, message: str, *args: object) -> None:
        """``kind`` failed with ``exc``: a WARNING line now and then, never a traceback."""
        now = self._clock()
        self._log.debug("%s failed", kind, exc_info=exc)
        state = self._kinds.get(kind)
        if state is None:
            self._kinds[kind] = _Kind(said_at=now)
            self._log.warning(f"{message} ({brief(exc)})", *args)
            return
        state.failures += 1
        if now - state.said_at < self._every:
            state.held += 1
            return
        held, state.held, state.said_at = state.held, 0, now
        self._log.warning(
            f"{message} ({brief(exc)}; still failing: {held + 1} failures since the last warning)",
            *args,
        )

    def succeeded(self, kind: str, message: str) -> None:
        """``kind`` works again: one INFO line if its failures were said."""
        state = self._kinds.pop(kind, None)
        if state is not None:
            self._log.info("%s (after %d failures)", message, state.failures)
