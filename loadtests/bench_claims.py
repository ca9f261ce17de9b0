"""Claims (领券) per second of one hot coupon promotion against quotes of a 1-line
cart, in the same run; and 100,000 unique codes generated and stored.

Run it from the project root (PostgreSQL and Redis on loopback)::

    .venv/bin/python -m loadtests.bench_claims [--rounds 3 --round-seconds 8]

1. Starts the service (``python -m app``, one worker) on PostgreSQL (a fresh
   schema) and Redis (a fresh prefix), both removed afterwards; creates the
   coupon promotion ``hot`` (``max_claims`` 10,000,000, one per customer).
2. Rounds, interleaved (the order alternates): ``POST /v1/coupons/claim``
   (a distinct customer per request: every call is a granted claim, so each
   runs ``claim.lua`` and the PostgreSQL transaction) and ``POST /v1/quote``
   (a 1-line cart, a distinct customer per request), closed loop with
   ``--concurrency`` connections (``loadtests.bench_http``'s generator).
3. 100,000 unique codes: ``app.coupons.codes.generate`` then the
   repository's ``add_codes`` (one transaction) on the same PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from loadtests import bench_http as bh
from loadtests.bench_reservations import drive

HOST = bh.HOST


def maker(port: int, key: str, path: str, run: str) -> Callable[[], bytes]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Content-Length: {}\r\n\r\n"
    )
    counter = 0

    def make() -> bytes:
        nonlocal counter
        counter += 1
        if path.endswith("claim"):
            body = f'{{"customer_id":"c-{run}-{counter}","promotion_id":"hot"}}'
        else:
            body = (
                f'{{"customer":{{"id":"c-{run}-{counter}"}},'
                '"lines":[{"line_id":"1","sku":"A","qty":1,"unit_price":9900}]}'
            )
        raw = body.encode()
        return head.format(len(raw)).encode() + raw

    return make


def claim_check(status: int, body: bytes) -> bool:
    return status == 201 and b'"code"' in body


def quote_check(status: int, body: bytes) -> bool:
    return status == 200 and (m := bh.TOTAL.search(body)) is not None and int(m.group(1)) == 9900


async def store_codes(database_url: str, schema: str, count: int) -> tuple[float, float]:
    from app.coupons.codes import generate
    from app.promotions.repository import NewCode
    from app.storage.sql_promotions import SqlPromotionRepository

    engine = create_async_engine(
        database_url, connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        repository = SqlPromotionRepository(engine, timeout=300)
        started = time.perf_counter()
        codes = generate("B-", count)
        made = time.perf_counter() - started
        await repository.add_codes("hot", [NewCode(code=c, kind="unique") for c in codes])
        return made, time.perf_counter() - started
    finally:
        await engine.dispose()


async def drop(database_url: str, schema: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_claims")
    add = parser.add_argument
    add("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--concurrency", type=int, default=32)
    add("--rounds", type=int, default=3)
    add("--round-seconds", type=float, default=8.0)
    add("--codes", type=int, default=100_000)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    token = secrets.token_hex(4)
    schema, prefix = f"bench_claims_{token}", f"bench-claims-{token}:"
    checkout, admin = "ck-" + secrets.token_hex(16), "ak-" + secrets.token_hex(16)
    port = bh.free_port()
    env = {
        **os.environ,
        "HOST": HOST,
        "PORT": str(port),
        "PRICING_API_KEYS": f"checkout:{checkout},admin:{admin}",
        "DATABASE_URL": args.database_url,
        "DATABASE_SCHEMA": schema,
        "REDIS_URL": args.redis_url,
        "REDIS_PREFIX": prefix,
    }
    info = bh.machine()
    bh.log(f"{info['cpus']} CPUs ({info['cpu_model']}), load {info['loadavg'][0]:.2f}")
    with tempfile.TemporaryDirectory() as workdir:
        service = bh.start_server(
            "service", [sys.executable, "-m", "app"], env, Path(workdir), port, None
        )
        try:
            bh.wait_until_up(service, "/healthz")
            with httpx.Client(
                base_url=service.url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
            ) as client:
                body = {
                    "id": "hot",
                    "trigger": "coupon",
                    "benefit": {"type": "amount_off", "amount": 500},
                    "limits": {"max_claims": 10_000_000, "max_claims_per_customer": 1},
                }
                created = client.post("/v1/admin/promotions", json=body)
                if created.status_code != 201:
                    raise SystemExit(f"create hot: {created.status_code} {created.text}")
            pids = service.pids()
            targets = {
                "claims": (maker(port, checkout, "/v1/coupons/claim", token), claim_check),
                "quotes": (maker(port, checkout, "/v1/quote", token), quote_check),
            }

            def http(name: str, seconds: float) -> bh.Round:
                make, check = targets[name]
                return asyncio.run(
                    drive(name, service, pids, make, check, args.concurrency, seconds, 10**9)
                )

            for name in targets:
                warm = http(name, 2.0)
                if warm.failures:
                    raise SystemExit(f"{name} warm-up: {warm.first_failure}\n{service.tail()}")
            rps: dict[str, list[float]] = {"claims": [], "quotes": []}
            cpu: dict[str, list[float]] = {"claims": [], "quotes": []}  # server µs / request
            for number in range(args.rounds):
                order = ("claims", "quotes") if number % 2 == 0 else ("quotes", "claims")
                for name in order:
                    r = http(name, args.round_seconds)
                    if r.failures:
                        raise SystemExit(f"{name}: {r.first_failure}\n{service.tail()}")
                    rps[name].append(r.rps)
                    cpu[name].append(r.server_cpu_s * 1e6 / max(r.requests, 1))
                    bh.log(
                        f"round {number + 1} {name:7} {r.rps:8,.0f}/s ({r.requests} requests, "
                        f"server CPU {cpu[name][-1]:,.0f} µs each)"
                    )
        finally:
            bh.stop_server(service)
    made, stored = asyncio.run(store_codes(args.database_url, schema, args.codes))
    asyncio.run(drop(args.database_url, schema))
    claims, quotes = statistics.median(rps["claims"]), statistics.median(rps["quotes"])
    claim_cpu, quote_cpu = statistics.median(cpu["claims"]), statistics.median(cpu["quotes"])
    bh.log(
        f"median claims {claims:,.0f}/s, quotes {quotes:,.0f}/s: ratio {claims / quotes:.2f}; "
        f"server CPU per request: claim {claim_cpu:,.0f} µs, quote {quote_cpu:,.0f} µs "
        f"(quote / claim {quote_cpu / claim_cpu:.2f}); "
        f"{args.codes:,} codes generated in {made:.2f}s, generated and stored in {stored:.2f}s; "
        f"load after {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
