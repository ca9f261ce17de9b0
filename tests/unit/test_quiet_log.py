"""``QuietLog``: a dependency that stays down is said once, then now and then, in one line."""

from __future__ import annotations

import logging

import pytest

from app.resilience.quiet_log import QuietLog, brief

REFUSED = ConnectionError("Error 111 connecting to 127.0.0.1:6390.\n Connection refused.")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_brief_is_one_line() -> None:
    assert (
        brief(REFUSED)
        == "ConnectionError: Error 111 connecting to 127.0.0.1:6390. Connection refused."
    )
    assert brief(TimeoutError()) == "TimeoutError"


def test_a_failure_that_repeats_is_said_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    quiet = QuietLog(logging.getLogger("test.quiet"), every=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.quiet"):
        for second in range(0, 130, 2):  # a reconnect loop trying every 2 seconds
            clock.now = second
            quiet.failed("redis", REFUSED, "channel lost; retrying in %ds", 2)
        quiet.succeeded("redis", "channel back")
        quiet.succeeded("redis", "channel back")  # said once
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", f"channel lost; retrying in 2s ({brief(REFUSED)})"),
        (
            "WARNING",
            f"channel lost; retrying in 2s ({brief(REFUSED)}; still failing: "
            "30 failures since the last warning)",
        ),
        (
            "WARNING",
            f"channel lost; retrying in 2s ({brief(REFUSED)}; still failing: "
            "30 failures since the last warning)",
        ),
        ("INFO", "channel back (after 65 failures)"),
    ]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback above DEBUG
