"""Locust load shapes, one a file (locust takes one shape at a time): ``step``,
``spike``, ``soak``. Each reads ``LOADTEST_USERS`` (the peak) and
``LOADTEST_SECONDS`` (the whole run) from the environment; ``loadtests.run``
sets them."""

from __future__ import annotations

import os


def peak_users() -> int:
    return max(1, int(os.environ.get("LOADTEST_USERS", "50")))


def run_seconds() -> float:
    return max(5.0, float(os.environ.get("LOADTEST_SECONDS", "60")))
