"""Is the service responsive while it prices carts the search can only bound?

Run it from the project root::

    .venv/bin/python -m loadtests.bench_responsive

Starts ``python -m app`` on the embedded default (SQLite + in-process Redis) on a
free loopback port, creates the three promotions of issue 12's cart (a 10% shoe
sale, an 8% gold member price, a store-wide 满300减50 / 满1000减200), then, for
each cart size, keeps ``--concurrency`` quotes of such carts in flight for
``--seconds`` while a probe asks ``/healthz`` every 20 ms. Reported per size: the
heavy quotes' rate and latency, and how long ``/healthz`` waited (median, p99,
worst). Target (issue 12): ``/healthz`` never waits more than 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from loadtests.adversarial import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
TARGET_HEALTH_MS = 100.0
PROMOTIONS: list[dict[str, Any]] = [
    {"id": "shoes-10", "name": "shoes 10% off", "trigger": "auto",
     "benefit": {"type": "item_percent_off", "percent": 10}, "scope": {"categories": ["shoes"]}},
    {"id": "gold-8", "name": "gold 8% off", "trigger": "auto",
     "benefit": {"type": "member_price", "tiers": {"gold": {"percent": 8}}},
     "scope": {"categories": ["shoes"]}},
    {"id": "mj-store", "name": "满300减50 / 满1000减200", "trigger": "auto",
     "benefit": {"type": "threshold", "tiers": [{"min_amount": 30000, "amount_off": 5000},
                                                 {"min_amount": 100000, "amount_off": 20000}]}},
]  # fmt: skip


def cart(family: str, size: int, seed: int) -> dict[str, Any]:
    _, request = FAMILIES[family](size, seed)
    return {
        "at": "2026-11-11T10:00:00+08:00",
        "customer": {"id": "c-gold", "tier": "gold"},
        "lines": [
            {"sku": ln.sku, "qty": ln.qty, "unit_price": ln.unit_price,
             "category": ln.category, "merchant": ln.merchant}
            for ln in request.lines
        ],
    }  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def run_size(
    client: httpx.AsyncClient, family: str, size: int, concurrency: int, seconds: float
) -> tuple[bool, str]:
    bodies = [cart(family, size, seed) for seed in range(8)]
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    optimal = 0

    async def heavy(worker: int) -> None:
        nonlocal optimal
        k = worker
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = await client.post("/v1/quote", json=bodies[k % len(bodies)], timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            optimal += response.json()["optimal"]
            k += 1

    waits: list[float] = []

    async def probe() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = await client.get("/healthz", timeout=60)
            waits.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            await asyncio.sleep(0.02)

    await asyncio.gather(probe(), *(heavy(w) for w in range(concurrency)))
    ok = max(waits) <= TARGET_HEALTH_MS
    line = (
        f"{family:>15} {size:>5} {len(latencies) / seconds:>8.1f} "
        f"{statistics.median(latencies):>9.1f} {max(latencies):>9.1f} "
        f"{optimal / len(latencies):>8.0%} {len(waits):>7} {statistics.median(waits):>8.1f} "
        f"{_pct(waits, 99):>8.1f} {max(waits):>8.1f}"
    )
    return ok, line


async def main_async(args: argparse.Namespace) -> bool:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
            "REDIS_URL": "",
            "PRICING_API_KEYS": "",
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            limits = httpx.Limits(max_connections=args.concurrency + 4)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits
            ) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                for body in PROMOTIONS:
                    created = await client.post("/v1/admin/promotions", json=body)
                    assert created.status_code == 201, created.text
                print(
                    f"{'family':>15} {'lines':>5} {'quotes/s':>8} {'med ms':>9} {'max ms':>9} "
                    f"{'optimal':>8} {'probes':>7} {'hz med':>8} {'hz p99':>8} {'hz max':>8}"
                )
                ok = True
                for family in args.families.split(","):
                    for size in args.sizes:
                        met, line = await run_size(
                            client, family, size, args.concurrency, args.seconds
                        )
                        ok &= met
                        print(line, flush=True)
        finally:
            process.terminate()
            await process.wait()
    print(f"\n/healthz wait ≤ {TARGET_HEALTH_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_responsive")
    parser.add_argument("--families", default="shoes,near_threshold")
    parser.add_argument(
        "--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[16, 20, 40, 60, 200, 500]
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    return 0 if asyncio.run(main_async(parser.parse_args(argv))) else 1


if __name__ == "__main__":
    sys.exit(main())
