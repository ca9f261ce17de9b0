"""Rule changes at marketplace scale, over HTTP, on PostgreSQL + Redis.

Run it from the project root (PostgreSQL and Redis running)::

    .venv/bin/python -m loadtests.bench_rules
    .venv/bin/python -m loadtests.bench_rules --help
    .venv/bin/python -m loadtests.bench_rules --in-process   # RuleSet.changed vs a rebuild

Targets (issue 14): ``POST /v1/admin/promotions/import`` loads 10,000
promotions in at most 10 s; one-by-one admin writes sustain at least 170/s and
the 10,000th is as fast as the 100th; a change is live on every instance
within 2 s at 10,000 promotions; while rules change, quote p99 stays within 2x
of its value without writes.

What it does, in one run, each figure beside its baseline from the same run:

1. Starts two instances of the service (``python -m app``, one worker each)
   on one fresh PostgreSQL schema and Redis key prefix (both removed
   afterwards), and a probe promotion on a sku of its own.
2. At about 100 promotions (``loadtests.marketplace.rule_set`` imported):
   one-by-one writes (``POST /v1/admin/promotions``, a new item promotion
   each) with one request in flight and with ``--write-concurrency``; the time
   a change made through the first instance takes to show in the second's
   quotes (the probe's amount changed by ``PUT``, the second polled every
   10 ms).
3. Imports the marketplace rule set of 10,000 promotions in one request
   (``mode: upsert``: the 100 there are replaced, 9,900 created), timed.
4. At 10,000 promotions: the same writes and propagation again.
5. Quote latency on the first instance (the typical cart, ``--quote-concurrency``
   connections), rounds without writes and rounds while another client writes
   one by one through the same instance, alternating (A B A B).

The load generator runs in this process (httpx); on this 2-core machine it
competes with the servers, so compare ratios within a run, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from loadtests import marketplace
from loadtests.bench_http import (
    HOST,
    ROOT,
    Server,
    _cleanup_postgres,
    _cleanup_redis,
    free_port,
    log,
    start_server,
    stop_server,
    wait_until_up,
)

PROBE_SKU = "PROBE-SKU"
PROBE_CART = {"lines": [{"sku": PROBE_SKU, "qty": 1, "unit_price": 100_000}]}


def write_body(prefix: str, n: int) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{n:06d}",
        "benefit": {"type": "item_amount_off", "amount": 100},
        "scope": {"skus": [f"{prefix}-SKU-{n}"]},
    }


def probe_body(amount: int) -> dict[str, Any]:
    return {
        "id": "probe",
        "benefit": {"type": "item_amount_off", "amount": amount},
        "scope": {"skus": [PROBE_SKU]},
    }


def ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Writes:
    existing: int
    concurrency: int
    count: int
    per_second: float
    p50_ms: float
    p99_ms: float


async def writes(
    client: httpx.AsyncClient, prefix: str, count: int, concurrency: int, existing: int
) -> Writes:
    """``count`` new promotions, one request each, ``concurrency`` in flight."""
    todo = iter(range(count))
    took: list[float] = []

    async def worker() -> None:
        for n in todo:
            started = time.perf_counter()
            response = await client.post("/v1/admin/promotions", json=write_body(prefix, n))
            took.append(time.perf_counter() - started)
            if response.status_code != 201:
                raise SystemExit(f"write {n}: {response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Writes(existing, concurrency, count, count / elapsed, ms(took, 0.5), ms(took, 0.99))


async def probe_discount(client: httpx.AsyncClient) -> int:
    response = await client.post("/v1/quote", json=PROBE_CART)
    if response.status_code != 200:
        raise SystemExit(f"quote: {response.status_code} {response.text[:300]}")
    discount: int = response.json()["discount_total"]
    return discount


async def propagation(a: httpx.AsyncClient, b: httpx.AsyncClient, rounds: int) -> list[float]:
    """Seconds from sending a change to the first instance until the second prices it."""
    seen: list[float] = []
    for i in range(rounds):
        amount = 200 + i
        started = time.perf_counter()
        response = await a.put("/v1/admin/promotions/probe", json=probe_body(amount))
        if response.status_code != 200:
            raise SystemExit(f"probe: {response.status_code} {response.text[:300]}")
        while await probe_discount(b) != amount:
            if time.perf_counter() - started > 10:
                raise SystemExit("a change did not reach the second instance in 10 s")
            await asyncio.sleep(0.01)
        seen.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return seen


@dataclass
class Quotes:
    with_writes: bool
    count: int
    per_second: float
    p50_ms: float
    p99_ms: float
    writes_per_second: float


async def quotes(
    client: httpx.AsyncClient,
    writer: httpx.AsyncClient,
    *,
    seconds: float,
    concurrency: int,
    with_writes: bool,
    prefix: str,
) -> Quotes:
    cart = marketplace.typical_cart()
    took: list[float] = []
    written = 0
    stop = time.perf_counter() + seconds

    async def quoter() -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            response = await client.post("/v1/quote", json=cart)
            took.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"quote: {response.status_code} {response.text[:300]}")

    async def write() -> None:
        nonlocal written
        while time.perf_counter() < stop:
            response = await writer.post("/v1/admin/promotions", json=write_body(prefix, written))
            if response.status_code != 201:
                raise SystemExit(f"write: {response.status_code} {response.text[:300]}")
            written += 1

    tasks = [quoter() for _ in range(concurrency)] + ([write()] if with_writes else [])
    await asyncio.gather(*tasks)
    return Quotes(
        with_writes, len(took), len(took) / seconds, ms(took, 0.5), ms(took, 0.99),
        written / seconds,
    )  # fmt: skip


def server_env(args: argparse.Namespace, keys: str, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOST": HOST,
        "WORKERS": "1",
        "PRICING_API_KEYS": keys,
        "DATABASE_URL": args.database_url,
        "DATABASE_SCHEMA": f"bench_rules_{token}",
        "REDIS_URL": args.redis_url,
        "REDIS_PREFIX": f"bench-rules-{token}:",
        "RULES_POLL_SECONDS": "1.0",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


async def measure(
    args: argparse.Namespace, a: Server, b: Server, admin: str, ck: str
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=64)
    admin_h = {"Authorization": f"Bearer {admin}"}
    ck_h = {"Authorization": f"Bearer {ck}"}
    async with (
        httpx.AsyncClient(base_url=a.url, headers=admin_h, timeout=120, limits=limits) as aw,
        httpx.AsyncClient(base_url=a.url, headers=ck_h, timeout=30, limits=limits) as aq,
        httpx.AsyncClient(base_url=b.url, headers=ck_h, timeout=30, limits=limits) as bq,
    ):
        rules = marketplace.rule_set(10_000)
        results["load_before"] = os.getloadavg()
        small = await aw.post("/v1/admin/promotions/import", json={"promotions": rules[:100]})
        assert small.status_code == 200, small.text
        assert (await aw.post("/v1/admin/promotions", json=probe_body(100))).status_code == 201
        rate: list[Writes] = []
        for concurrency in (1, args.write_concurrency):
            rate.append(await writes(aw, f"w100c{concurrency}", args.writes, concurrency, 100))
            log(f"writes at ~100: {rate[-1]}")
        spread = await propagation(aw, bq, args.rounds)
        results["propagation_100_s"] = spread
        log(f"propagation at ~100: p50 {statistics.median(spread):.3f}s max {max(spread):.3f}s")

        body = json.dumps({"promotions": rules, "mode": "upsert"}).encode()
        started = time.perf_counter()
        response = await aw.post(
            "/v1/admin/promotions/import",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        results["import_10000_s"] = time.perf_counter() - started
        assert response.status_code == 200, response.text
        results["import_10000"] = response.json()
        log(f"import of 10,000: {results['import_10000_s']:.2f}s {response.json()}")

        results["idle_cpu"] = await idle_cpu(a, 10.0)
        log(f"idle at 10,000: {results['idle_cpu']:.1%} of a core (the first instance)")

        existing = 10_000 + 2 * args.writes
        for concurrency in (1, args.write_concurrency):
            rate.append(await writes(aw, f"w10kc{concurrency}", args.writes, concurrency, existing))
            log(f"writes at ~10,000: {rate[-1]}")
        results["writes"] = [asdict(w) for w in rate]
        spread = await propagation(aw, bq, args.rounds)
        results["propagation_10000_s"] = spread
        log(f"propagation at 10,000: p50 {statistics.median(spread):.3f}s max {max(spread):.3f}s")

        rounds: list[Quotes] = []
        for n in range(2 * args.quote_rounds):
            rounds.append(
                await quotes(
                    aq, aw, seconds=args.quote_seconds, concurrency=args.quote_concurrency,
                    with_writes=n % 2 == 1, prefix=f"q{n}",
                )
            )  # fmt: skip
            log(f"quotes: {rounds[-1]}")
        results["quotes"] = [asdict(q) for q in rounds]
    return results


async def idle_cpu(server: Server, seconds: float) -> float:
    """The share of one core the instance spends with no request at all (its
    background work: the sweeper, the rules poll), over ``seconds``, after 15 s
    for the sweeper to load the counters of what was just imported."""
    await asyncio.sleep(15.0)
    pids = server.pids()
    before, started = server.cpu_seconds(pids), time.perf_counter()
    await asyncio.sleep(seconds)
    return (server.cpu_seconds(pids) - before) / (time.perf_counter() - started)


def report(results: dict[str, Any]) -> None:
    print("\n## Rule changes (bench_rules)\n")
    print(f"import of 10,000 promotions (one request, upsert): {results['import_10000_s']:.2f} s")
    print(f"idle CPU at 10,000 promotions: {results['idle_cpu']:.1%} of a core")
    print("\n| existing | in flight | writes | writes/s | p50 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    for w in results["writes"]:
        print(
            f"| ~{w['existing']:,} | {w['concurrency']} | {w['count']} | {w['per_second']:.0f} "
            f"| {w['p50_ms']:.1f} | {w['p99_ms']:.1f} |"
        )
    for size in ("100", "10000"):
        spread = results[f"propagation_{size}_s"]
        print(
            f"\npropagation at {size}: p50 {statistics.median(spread) * 1000:.0f} ms, "
            f"max {max(spread) * 1000:.0f} ms over {len(spread)} changes"
        )
    print("\n| quotes | quotes/s | p50 ms | p99 ms | writes/s meanwhile |")
    print("|---|---:|---:|---:|---:|")
    for q in results["quotes"]:
        print(
            f"| {'with writes' if q['with_writes'] else 'no writes'} | {q['per_second']:.0f} "
            f"| {q['p50_ms']:.1f} | {q['p99_ms']:.1f} | {q['writes_per_second']:.0f} |"
        )
    quiet = [q["p99_ms"] for q in results["quotes"] if not q["with_writes"]]
    busy = [q["p99_ms"] for q in results["quotes"] if q["with_writes"]]
    busy_p99, quiet_p99 = statistics.median(busy), statistics.median(quiet)
    print(
        f"\nquote p99 with writes / without: {busy_p99:.1f} / {quiet_p99:.1f} ms "
        f"= {busy_p99 / quiet_p99:.2f}x"
    )
    print(f"load average: {os.getloadavg()}")


def in_process(sizes: Sequence[int] = (100, 10_000), repeat: int = 200) -> None:
    """What one change costs the snapshot, against building the rule set afresh
    (the old way), at each size, best of five: ``--in-process``."""
    from dataclasses import replace

    from app.rules.ruleset import RuleSet
    from loadtests.bench_engine import background_promotions

    print("\n| promotions | fresh RuleSet ms | changed: replace one ms | changed: add one ms |")
    print("|---:|---:|---:|---:|")
    for size in sizes:
        promotions = list(background_promotions(size, marketplace.DEFAULT_SEED))
        rules = RuleSet(promotions, "v")
        one = promotions[size // 2]
        added = [replace(one, id=f"zz-{n}") for n in range(repeat)]

        def best(run: Any, times: int) -> float:
            found = []
            for _ in range(5):
                started = time.perf_counter()
                for n in range(times):
                    run(n)
                found.append((time.perf_counter() - started) / times)
            return 1000 * min(found)

        fresh = best(lambda _n, ps=promotions: RuleSet(ps, "v"), 3)
        replaced = best(lambda _n, rs=rules, p=one: rs.changed([p], [], "v"), repeat)
        add = best(lambda n, rs=rules, ps=added: rs.changed([ps[n]], [], "v"), repeat)
        print(f"| {size:,} | {fresh:.2f} | {replaced:.3f} | {add:.3f} |")
    print(f"load average: {os.getloadavg()}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--writes", type=int, default=300, help="one-by-one writes per measurement")
    add("--write-concurrency", type=int, default=4)
    add("--rounds", type=int, default=20, help="changes timed to the second instance")
    add("--quote-seconds", type=float, default=8.0)
    add("--quote-rounds", type=int, default=2, help="rounds without writes (and as many with)")
    add("--quote-concurrency", type=int, default=8)
    add("--json", type=Path, default=None, help="write every number here")
    add("--in-process", action="store_true", help="only time RuleSet.changed against a rebuild")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.in_process:
        in_process()
        return 0
    token = secrets.token_hex(4)
    admin, ck = "ak-" + secrets.token_hex(16), "ck-" + secrets.token_hex(16)
    env = server_env(args, f"checkout:{ck},admin:{admin}", token)
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        try:
            for name in ("a", "b"):
                port = free_port()
                servers.append(
                    start_server(name, [sys.executable, "-m", "app"], {**env, "PORT": str(port)},
                                 Path(tmp), port, None)
                )  # fmt: skip
                wait_until_up(servers[-1], "/healthz")
            results = asyncio.run(measure(args, servers[0], servers[1], admin, ck))
        finally:
            for server in servers:
                stop_server(server)
            with contextlib.suppress(Exception):
                asyncio.run(_cleanup_postgres(args.database_url, env["DATABASE_SCHEMA"]))
            with contextlib.suppress(Exception):
                asyncio.run(_cleanup_redis(args.redis_url, env["REDIS_PREFIX"]))
    report(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
