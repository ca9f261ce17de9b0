"""Soak: up to the peak in a tenth of the run, then held steady to the end."""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.shapes import peak_users, run_seconds


class SoakShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        elapsed, total, peak = self.get_run_time(), run_seconds(), peak_users()
        if elapsed >= total:
            return None
        return peak, max(1.0, peak / max(1.0, total * 0.1))
