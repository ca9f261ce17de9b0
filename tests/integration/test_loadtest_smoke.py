"""The load tests' SMOKE RUN: ``python -m loadtests.run`` end to end on two
scenarios, a few seconds each, so that the load tests cannot rot. It checks the
machinery (the stack starts, the catalogue loads through the bulk import,
locust runs headless, every output is written and readable, the summary judges)
and the stock checks (no oversell, no lost unit); not performance: the p99
threshold is lifted, the machine is shared. Real rehearsals: docs/loadtests.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.processes import ROOT, free_port

pytestmark = pytest.mark.loadtest_smoke

SMALL = ["--skus", "300", "--promotions", "60", "--duration", "5s", "--max-p99-ms", "20000"]


def run(scenario: str, out: Path, *more: str) -> dict[str, object]:
    port = os.environ.get("LOADTEST_PORT") or str(free_port())
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.run", scenario, "--out", str(out), "--port", port,
         *SMALL, *more],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    for name in ("report.html", "locust_stats.csv", "locust_stats_history.csv", "summary.md"):
        assert (out / name).stat().st_size > 0, name
    assert "<html" in (out / "report.html").read_text()[:2000].lower()
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "chart.png").stat().st_size > 10_000
    summary: dict[str, object] = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True
    return summary


def test_flash_sale_smoke_run_sells_out_without_oversell(tmp_path: Path) -> None:
    summary = run(
        "flash-sale", tmp_path, "--users", "12", "--hot-stock", "8", "--think", "0", "0.05"
    )
    checks = summary["checks"]
    assert isinstance(checks, list)
    stock = [c for c in checks if c["name"].startswith("stock ")]
    assert len(stock) == 3
    assert all(c["passed"] for c in stock)
    ledger = summary["ledger"]
    assert isinstance(ledger, dict)
    assert sum(ledger["flash_sold"].values()) > 0


def test_coupon_grab_smoke_run_counts_every_claim(tmp_path: Path) -> None:
    summary = run(
        "coupon-grab", tmp_path, "--users", "10", "--claims", "20", "--think", "0", "0.05"
    )
    checks = summary["checks"]
    assert isinstance(checks, list)
    claims = [c for c in checks if c["name"].startswith("claims ")]
    assert [c["passed"] for c in claims] == [True, True, True]
    assert all("20 claimed of 20" in c["detail"] for c in claims)
