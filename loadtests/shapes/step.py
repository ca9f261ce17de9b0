"""Step ramp: five equal steps up to the peak, each a fifth of the run."""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.shapes import peak_users, run_seconds


class StepShape(LoadTestShape):
    steps = 5

    def tick(self) -> tuple[int, float] | None:
        elapsed, total, peak = self.get_run_time(), run_seconds(), peak_users()
        if elapsed >= total:
            return None
        step = min(self.steps, int(elapsed / (total / self.steps)) + 1)
        users = max(1, peak * step // self.steps)
        return users, max(1.0, peak / self.steps)  # each step spawned in about a second
