"""Spike (整点): a tenth of the peak browsing, then ×10 within about a second at
T0 (a fifth into the run), held, then back down for the last fifth."""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.shapes import peak_users, run_seconds


class SpikeShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        elapsed, total, peak = self.get_run_time(), run_seconds(), peak_users()
        if elapsed >= total:
            return None
        base = max(1, peak // 10)
        if elapsed < total * 0.2:
            return base, float(base)
        if elapsed < total * 0.8:
            return peak, float(peak)  # the whole spike spawned in a second
        return base, float(peak)
