"""Reservations per second of one flash-sale SKU, against the raw ``take.lua`` and quotes.

Run it from the project root (PostgreSQL and Redis on loopback)::

    .venv/bin/python -m loadtests.bench_reservations
    .venv/bin/python -m loadtests.bench_reservations --help

One run, about 1.5 minutes, all on 127.0.0.1:

1. Starts the service (``python -m app``) against PostgreSQL (a fresh schema,
   ``DATABASE_SCHEMA``) and Redis (a fresh ``REDIS_PREFIX``), both removed
   afterwards, with a checkout and an admin key. Creates two flash sales
   through the admin API: ``fs-hot`` (``--stock`` units of ``SKU-HOT``, no
   per-customer limit) for the HTTP load, and ``fs-raw`` (``--raw-stock``
   units of ``SKU-RAW``) whose keys only redis-benchmark touches. Waits until
   the service has loaded both stocks into Redis.
2. Rounds, interleaved (order rotates every round): ``POST /v1/reservations``
   (a 1-line cart of one ``SKU-HOT``, a unique ``order_id`` and a distinct
   customer per request), ``POST /v1/quote`` (the same cart, a distinct
   customer per request), and ``redis-benchmark ... EVALSHA <take.lua sha>``
   against ``fs-raw``'s keys with ``__rand_int__`` (``-r``) in the reservation
   id (key and argument) and the customer, so (nearly) every call is a new
   reservation. The HTTP load uses ``loadtests.bench_http``'s generator
   (raw keep-alive HTTP/1.1 on asyncio streams, uvloop, closed loop), with a
   per-request body.
3. Checks: every reservation 201 ``reserved`` at the flash price, every quote
   200 at the flash price, the stock of both sales moved by exactly what was
   taken (``available + reserved == initial``).
4. A short one-connection phase (unloaded latency of each) and, unless
   ``--profile-seconds 0``, a py-spy sample of the service under reservation
   load, summarized by ``bench_http``'s categories.

On a machine with at least 2 CPUs the service is pinned to the first CPU and
the generator (and redis-benchmark) to the second; redis-server and
PostgreSQL are not pinned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from loadtests import bench_http as bh

HOST = bh.HOST
HOT, RAW, GONE = "fs-hot", "fs-raw", "fs-gone"
HOT_SKU, RAW_SKU, GONE_SKU = "SKU-HOT", "SKU-RAW", "SKU-GONE"
LIST_PRICE, FLASH_PRICE = 9_000, 5_000
RENAME = {  # bench_http's categories are named for a quote; the same frames, for a reservation
    "storage: coupon-code lookup (SQLAlchemy)": "storage: ledger rows (SQLAlchemy + asyncpg)",
    "counters: stock/usage reads (redis-py; fakeredis when REDIS_URL is empty)": (
        "Redis: readings + take.lua (redis-py)"
    ),
    "engine: app.rules price()": "pricing: app.rules price()",
}


# ------------------------------------------------------------------- load generator


class VaryingConnection(bh.RawConnection):
    """``bench_http.RawConnection`` whose request is built anew for every call."""

    make: Callable[[], bytes]

    @classmethod
    async def open_varying(cls, port: int, make: Callable[[], bytes]) -> VaryingConnection:
        connection = await cls.open(port, b"")
        assert isinstance(connection, VaryingConnection)
        connection.make = make
        return connection

    async def request(self) -> tuple[int, bytes]:
        self.payload = self.make()
        return await super().request()


def request_maker(
    port: int, key: str, path: str, reserve: bool, run: str, sku: str = HOT_SKU
) -> Callable[[], bytes]:
    """Bytes of the next request: the 1-line cart of ``sku``, a distinct customer each
    time and, for reservations, a unique ``order_id`` and ``expected_total`` at the
    flash price (a sold-out ``sku`` then loses with 409 ``price_changed``)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Content-Length: {}\r\n\r\n"
    )
    line = f'"lines":[{{"line_id":"1","sku":"{sku}","qty":1,"unit_price":{LIST_PRICE}}}]'
    counter = 0

    def make() -> bytes:
        nonlocal counter
        counter += 1
        customer = f'"customer":{{"id":"c-{run}-{counter}"}}'
        order = (
            f'"order_id":"o-{run}-{sku}-{counter}","expected_total":{FLASH_PRICE},'
            if reserve
            else ""
        )
        body = f"{{{order}{customer},{line}}}".encode()
        return head.format(len(body)).encode() + body

    return make


def reservation_check(status: int, body: bytes) -> bool:
    return (
        status == 201
        and b'"status":"reserved"' in body
        and (m := bh.TOTAL.search(body)) is not None
        and int(m.group(1)) == FLASH_PRICE
    )


def loser_check(status: int, body: bytes) -> bool:
    """A reservation of the sold-out sku: 409 ``price_changed`` with the list-price quote."""
    return (
        status == 409
        and b'"code":"price_changed"' in body
        and (m := bh.TOTAL.search(body)) is not None
        and int(m.group(1)) == LIST_PRICE
    )


def quote_check(status: int, body: bytes) -> bool:
    return (
        status == 200
        and (m := bh.TOTAL.search(body)) is not None
        and int(m.group(1)) == (FLASH_PRICE)
    )


async def drive(
    name: str,
    server: bh.Server,
    pids: Sequence[int],
    make: Callable[[], bytes],
    check: Callable[[int, bytes], bool],
    concurrency: int,
    seconds: float,
    max_requests: int,
) -> bh.Round:
    """``bench_http``'s closed loop, with a request body per call."""
    connections = await asyncio.gather(
        *(VaryingConnection.open_varying(server.port, make) for _ in range(concurrency))
    )

    async def reopen() -> bh.Connection:
        return await VaryingConnection.open_varying(server.port, make)

    return await bh.closed_loop(
        name=name,
        cart="1-line",
        connections=connections,
        reopen=reopen,
        check=check,
        server_cpu=lambda: server.cpu_seconds(pids),
        seconds=seconds,
        max_requests=max_requests,
    )


# ------------------------------------------------------------------- redis-benchmark


def take_command(prefix: str, sha: str) -> list[str]:
    """EVALSHA of take.lua for one new reservation of one ``RAW_SKU`` unit of ``fs-raw``,
    exactly as ``RedisStock._take_slot`` calls it for a flash sale with no window, no
    usage limit, no budget and no per-customer limit (``__rand_int__`` is replaced by
    redis-benchmark, each occurrence with its own random number)."""
    tag = f"{prefix}{{p:{RAW}}}"
    keys = [
        f"{tag}:promotion",
        f"{tag}:customer_uses",
        f"{tag}:open",
        f"{tag}:res:r-__rand_int__",
        f"{tag}:stock:{RAW_SKU}",
        f"{tag}:held:{RAW_SKU}",
    ]
    now = int(time.time() * 1000)
    args = [
        "r-__rand_int__",  # reservation id
        "c-__rand_int__",  # customer id
        str(now),
        str(now + 900_000),  # expires_at: RESERVATION_TTL_SECONDS later
        "",  # window start
        "",  # window end
        "0",  # no use taken (no usage limit)
        "",  # max_uses
        "",  # max_uses_per_customer
        "0",  # budget amount
        "",  # budget
        "1",  # n flash lines
        RAW_SKU,
        "1",  # units
        "",  # per-customer limit
    ]
    return ["EVALSHA", sha, str(len(keys)), *keys, *args]


def redis_benchmark(
    binary: str, port: int, command: Sequence[str], n: int, clients: int, cpus: set[int] | None
) -> tuple[float, float, str]:
    """Runs redis-benchmark once; returns (requests/s, p50 ms, stderr tail)."""
    argv = [binary, "-h", HOST, "-p", str(port), "-n", str(n), "-c", str(clients)]
    argv += ["-r", "2147483647", "--csv", *command]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    rows = [r for r in csv.reader(io.StringIO(done.stdout)) if r and r[0] != "test"]
    if not rows:
        raise SystemExit(f"redis-benchmark printed no result:\n{done.stdout}\n{done.stderr}")
    return float(rows[-1][1]), float(rows[-1][4]), done.stderr[-500:]


# ------------------------------------------------------------------------- set-up


def flash_sale(promotion_id: str, sku: str, stock: int) -> dict[str, Any]:
    return {
        "id": promotion_id,
        "name": f"bench {promotion_id}",
        "benefit": {
            "type": "flash_sale",
            "items": [
                {"sku": sku, "price": FLASH_PRICE, "stock": stock, "per_customer_limit": None}
            ],
        },
    }


def level(client: httpx.Client, promotion_id: str) -> dict[str, int] | None:
    response = client.get(f"/v1/flash-sales/{promotion_id}")
    if response.status_code != 200:
        return None
    item = response.json()["items"][0]
    return {k: item[k] for k in ("initial", "available", "reserved", "sold")}


def wait_loaded(client: httpx.Client, promotion_ids: Sequence[str], deadline_s: float = 30) -> None:
    started = time.monotonic()
    for promotion_id in promotion_ids:
        while level(client, promotion_id) is None:
            if time.monotonic() - started > deadline_s:
                raise SystemExit(f"{promotion_id}: stock not loaded after {deadline_s:.0f}s")
            time.sleep(0.2)


def sample_profile(
    py_spy: str,
    server: bh.Server,
    pids: Sequence[int],
    make: Callable[[], bytes],
    concurrency: int,
    seconds: float,
    path: Path,
    name: str = "reservations",
) -> dict[str, Any]:
    """py-spy the service (GIL holders, 200 Hz) while ``name`` requests run."""
    argv = [
        *(py_spy, "record", "--pid", str(server.proc.pid), "--subprocesses", "--gil"),
        *("--nonblocking", "--rate", "200", "--nolineno", "--format", "raw"),
        *("--duration", str(int(seconds)), "--output", str(path)),
    ]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    result = asyncio.run(
        drive(
            name,
            server,
            pids,
            make,
            loser_check if name == "losing" else reservation_check,
            concurrency,
            seconds + 1,
            10**9,
        )
    )
    _, err = spy.communicate(None, seconds + 60)
    if spy.returncode != 0 or not path.exists():
        return {"error": err.decode(errors="replace")[-2000:]}
    stacks = bh.read_collapsed(path)
    return {
        "file": str(path),
        "samples": sum(stacks.values()),
        "rps_under_profiler": result.rps,
        "categories": {
            RENAME.get(name, name): count for name, count in bh.categorize(stacks).items()
        },
        "inclusive": bh.inclusive(stacks, 30),
        "own": bh.own(stacks, 30),
    }


# -------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_reservations",
        description="Reservations/s of one flash-sale SKU against raw take.lua "
        "(redis-benchmark) and quotes/s, same run.",
    )
    add = parser.add_argument
    add("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--redis-port", type=int, default=6379, help="for redis-benchmark (host 127.0.0.1)")
    add("--stock", type=int, default=1_000_000, help="units of the HTTP flash sale")
    add("--raw-stock", type=int, default=50_000_000, help="units of the redis-benchmark sale")
    add("--concurrency", type=int, default=16, help="keep-alive HTTP connections")
    add("--rounds", type=int, default=4)
    add("--round-seconds", type=float, default=5.0)
    add("--round-max", type=int, default=50_000, help="requests per HTTP round, at most")
    add("--warmup-seconds", type=float, default=1.5)
    add("--serial-seconds", type=float, default=2.0, help="one-connection phase; 0: skip")
    add("--lua-n", type=int, default=200_000, help="EVALSHA calls per redis-benchmark round")
    add("--lua-clients", type=int, default=50, help="redis-benchmark -c")
    add("--profile-seconds", type=float, default=8.0, help="py-spy the service; 0: skip")
    add(
        "--profile-of",
        choices=("reservations", "losing"),
        default="reservations",
        help="which requests run under py-spy",
    )
    add("--workers", type=int, default=1)
    add("--no-pin", action="store_true")
    add("--keep", action="store_true", help="keep the temp dir (service log, py-spy file)")
    add("--json", default="", help="write every number to this file")
    return parser.parse_args(argv)


def pinning(args: argparse.Namespace) -> tuple[set[int] | None, set[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if args.no_pin or len(cpus) < args.workers + 1:
        return None, None
    return set(cpus[: args.workers]), {cpus[args.workers]}


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    binary = shutil.which("redis-benchmark")
    if not binary:
        raise SystemExit("redis-benchmark not found (it comes with redis-server / redis-tools)")
    server_cpus, generator_cpus = pinning(args)
    info = bh.machine()
    token = secrets.token_hex(4)
    schema, prefix = f"bench_res_{token}", f"bench-res-{token}:"
    checkout, admin = "ck-" + secrets.token_hex(16), "ak-" + secrets.token_hex(16)
    port = bh.free_port()
    env = {
        **os.environ,
        "HOST": HOST,
        "PORT": str(port),
        "WORKERS": str(args.workers),
        "PRICING_API_KEYS": f"checkout:{checkout},admin:{admin}",
        "DATABASE_URL": args.database_url,
        "DATABASE_SCHEMA": schema,
        "REDIS_URL": args.redis_url,
        "REDIS_PREFIX": prefix,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(bh.ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    bh.log(
        f"{info['cpus']} CPUs ({info['cpu_model']}), load {info['loadavg'][0]:.2f}; service on "
        f"{sorted(server_cpus) if server_cpus else 'any'}, generator + redis-benchmark on "
        f"{sorted(generator_cpus) if generator_cpus else 'any'}; schema {schema}, prefix {prefix}"
    )
    service = bh.start_server(
        "service", [sys.executable, "-m", "app"], env, workdir, port, server_cpus
    )
    result: dict[str, Any] = {"machine": info, "args": vars(args)}
    try:
        up = bh.wait_until_up(service, "/healthz")
        bh.log(f"service up in {up:.1f}s (pid {service.proc.pid}, port {port})")
        with httpx.Client(
            base_url=service.url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
        ) as client:
            sales = (
                flash_sale(HOT, HOT_SKU, args.stock),
                flash_sale(RAW, RAW_SKU, 1),
                flash_sale(GONE, GONE_SKU, 0),
            )
            for body in sales:
                if body["id"] == RAW:
                    body["benefit"]["items"][0]["stock"] = args.raw_stock
                response = client.post("/v1/admin/promotions", json=body)
                if response.status_code != 201:
                    raise SystemExit(f"create {body['id']}: {response.status_code} {response.text}")
            wait_loaded(client, (HOT, RAW, GONE))
            before = {p: level(client, p) for p in (HOT, RAW)}
        bh.log(f"stock loaded: {before}")

        from redis import Redis

        from app.inventory.redis_stock import lua_source

        with contextlib.closing(Redis.from_url(args.redis_url)) as redis:
            sha = redis.script_load(lua_source("take"))
            command = take_command(prefix, sha)
            # one call by hand: the command is well formed and takes
            probe = [c.replace("__rand_int__", "probe") for c in command[3:]]
            reply = redis.evalsha(sha, int(command[2]), *probe)
            if [x.decode() if isinstance(x, bytes) else x for x in reply][:2] != ["OK", "taken"]:
                raise SystemExit(f"take.lua probe answered {reply!r}")
        bh.log(f"take.lua sha {sha}; probe call taken")

        if generator_cpus:
            os.sched_setaffinity(0, generator_cpus)
        bh._install_uvloop()
        pids = service.pids()
        makers = {
            "reservations": request_maker(port, checkout, "/v1/reservations", True, token),
            "losing": request_maker(port, checkout, "/v1/reservations", True, token, GONE_SKU),
            "quotes": request_maker(port, checkout, "/v1/quote", False, token),
        }
        checks = {"reservations": reservation_check, "losing": loser_check, "quotes": quote_check}

        def http(name: str, concurrency: int, seconds: float, most: int) -> bh.Round:
            return asyncio.run(
                drive(name, service, pids, makers[name], checks[name], concurrency, seconds, most)
            )

        for name in makers:
            warm = http(name, args.concurrency, args.warmup_seconds, args.round_max)
            if warm.failures:
                raise SystemExit(f"{name} warm-up: {warm.first_failure}\n{service.tail()}")
        redis_benchmark(binary, args.redis_port, command, 20_000, args.lua_clients, generator_cpus)

        rounds: dict[str, list[bh.Round]] = {"reservations": [], "losing": [], "quotes": []}
        lua: list[float] = []
        lua_p50: list[float] = []
        orders = [
            ("reservations", "losing", "quotes", "lua"),
            ("lua", "quotes", "losing", "reservations"),
            ("quotes", "lua", "reservations", "losing"),
            ("losing", "reservations", "lua", "quotes"),
        ]
        for number in range(args.rounds):
            for name in orders[number % len(orders)]:
                if name == "lua":
                    rps, p50, _ = redis_benchmark(
                        binary,
                        args.redis_port,
                        command,
                        args.lua_n,
                        args.lua_clients,
                        generator_cpus,
                    )
                    lua.append(rps)
                    lua_p50.append(p50)
                    bh.log(f"round {number + 1}/{args.rounds} raw take.lua {rps:10,.0f} calls/s")
                    continue
                r = http(name, args.concurrency, args.round_seconds, args.round_max)
                rounds[name].append(r)
                bh.log(
                    f"round {number + 1}/{args.rounds} {name:<12} {r.rps:8,.0f} req/s"
                    f"  p50 {bh.percentile(r.samples_ns, 50) / 1e6:6.2f} ms"
                    f"  service CPU {100 * r.server_cpu_s / r.seconds:4.0f}%"
                    + (f"  FAILURES {r.failures}: {r.first_failure}" if r.failures else "")
                )
        summaries = {name: bh.summarize(rs) for name, rs in rounds.items()}
        serial = (
            {n: http(n, 1, args.serial_seconds, 2_000) for n in makers}
            if args.serial_seconds > 0
            else {}
        )
        profile: dict[str, Any] = {}
        if args.profile_seconds > 0:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            if Path(py_spy).exists():
                profile = sample_profile(
                    py_spy,
                    service,
                    pids,
                    makers[args.profile_of],
                    args.concurrency,
                    args.profile_seconds,
                    workdir / f"py-spy-{args.profile_of}.txt",
                    args.profile_of,
                )
            else:
                profile = {"error": "py-spy not found"}

        with httpx.Client(
            base_url=service.url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
        ) as client:
            after = {p: level(client, p) for p in (HOT, RAW)}
        info["loadavg_end"] = os.getloadavg()
        result.update(
            summaries={k: vars(v) for k, v in summaries.items()},
            lua_rps=lua,
            lua_p50_ms=lua_p50,
            before=before,
            after=after,
            serial={
                n: {
                    "requests": r.requests,
                    "p50_ms": bh.percentile(r.samples_ns, 50) / 1e6,
                    "p99_ms": bh.percentile(r.samples_ns, 99) / 1e6,
                    "failures": r.failures,
                }
                for n, r in serial.items()
            },
            profile=profile,
            profile_of=args.profile_of,
        )
        report(args, result, summaries, rounds, generator_cpus, server_cpus, sha)
    finally:
        bh.stop_server(service)
        with contextlib.suppress(Exception):
            asyncio.run(bh._cleanup_postgres(args.database_url, schema))
        with contextlib.suppress(Exception):
            asyncio.run(bh._cleanup_redis(args.redis_url, prefix))
        if args.keep:
            bh.log(f"service log: {service.log_path}")
    return result


def report(
    args: argparse.Namespace,
    result: Mapping[str, Any],
    summaries: Mapping[str, bh.Summary],
    rounds: Mapping[str, Sequence[bh.Round]],
    generator_cpus: set[int] | None,
    server_cpus: set[int] | None,
    sha: str,
) -> None:
    info = result["machine"]
    lua = result["lua_rps"]
    lua_mean = sum(lua) / len(lua)
    res, quo = summaries["reservations"], summaries["quotes"]
    lose = summaries["losing"]
    print(
        f"\nmachine: {info['cpus']} CPUs ({info['cpu_model']}), {info['platform']}, "
        f"Python {info['python']}; load average {info['loadavg'][0]:.2f} at start, "
        f"{info['loadavg_end'][0]:.2f} at end"
    )
    print(f"code: {info['code']}")
    print(
        f"service: WORKERS={args.workers} on CPUs {sorted(server_cpus) if server_cpus else 'any'}"
        f"; generator and redis-benchmark on "
        f"{sorted(generator_cpus) if generator_cpus else 'any'}; PostgreSQL + Redis (loopback)"
    )
    print(
        f"HTTP: {args.concurrency} keep-alive connections, {args.rounds} rounds x "
        f"{args.round_seconds:g}s each; redis-benchmark: -c {args.lua_clients} -n {args.lua_n:,} "
        f"-r 2147483647, {len(lua)} rounds; take.lua sha {sha[:12]}"
    )
    header = f"{'what':<26} {'per second':>11} {'rounds':>34} {'p50 ms':>7} {'p99 ms':>7} "
    header += f"{'svc CPU':>8} {'µs/req':>7} {'c=1 p50':>8}"
    print("\n" + header)
    print("-" * len(header))
    print(
        f"{'raw take.lua (EVALSHA)':<26} {lua_mean:>11,.0f} "
        f"{' / '.join(f'{x:,.0f}' for x in lua):>34} {min(result['lua_p50_ms']):>7.3f}"
    )
    for label, key, s in (
        ("POST /v1/reservations", "reservations", res),
        ("  ... losing (409)", "losing", lose),
        ("POST /v1/quote", "quotes", quo),
    ):
        one = result["serial"].get(key, {})
        print(
            f"{label:<26} {s.rps:>11,.0f} {' / '.join(f'{x:,.0f}' for x in s.round_rps):>34} "
            f"{s.p50_ms:>7.2f} {s.p99_ms:>7.2f} {s.server_cpu_pct:>7.0f}% "
            f"{s.server_cpu_us_per_request:>7,.0f} {one.get('p50_ms', float('nan')):>8.2f}"
        )
    print(
        f"\nratios: reservations / raw Lua = {res.rps / lua_mean:.4f} "
        f"(1/{lua_mean / res.rps:,.0f}); quotes / raw Lua = {quo.rps / lua_mean:.4f} "
        f"(1/{lua_mean / quo.rps:,.0f}); reservations / quotes = {res.rps / quo.rps:.3f}; "
        f"losing reservations / quotes = {lose.rps / quo.rps:.3f}"
    )
    print(
        f"service CPU per request: reservation {res.server_cpu_us_per_request:,.0f} µs, "
        f"losing reservation {lose.server_cpu_us_per_request:,.0f} µs, "
        f"quote {quo.server_cpu_us_per_request:,.0f} µs "
        f"(a reservation adds {res.server_cpu_us_per_request - quo.server_cpu_us_per_request:,.0f}"
        " µs of service CPU)"
    )
    before, after = result["before"], result["after"]
    made = sum(r.requests for r in rounds["reservations"])
    hot_taken = before[HOT]["available"] - after[HOT]["available"]
    raw_taken = before[RAW]["available"] - after[RAW]["available"]
    balanced = all(
        after[p]["available"] + after[p]["reserved"] + after[p]["sold"] == after[p]["initial"]
        for p in (HOT, RAW)
    )
    lua_calls = args.lua_n * len(lua) + 20_000
    print(
        f"check: reservations {res.requests:,} timed ({made:,}), failures {res.failures}"
        f"{' e.g. ' + str(res.first_failure) if res.failures else ''}; losing {lose.requests:,}, "
        f"failures {lose.failures}; quotes {quo.requests:,}, "
        f"failures {quo.failures}{' e.g. ' + str(quo.first_failure) if quo.failures else ''}"
    )
    print(
        f"  {HOT}: {hot_taken:,} units taken over the whole run (warm-up, rounds, c=1 and "
        f"profile phases included); {RAW}: {raw_taken:,} units taken by {lua_calls:,} "
        f"redis-benchmark calls ({lua_calls - raw_taken:,} repeated a random reservation id: "
        f"replays); available + reserved + sold = initial: {'yes' if balanced else 'NO'}"
    )
    profile = result.get("profile") or {}
    if profile:
        bh.print_profile("service", f"{result.get('profile_of', 'reservations')}, 1-line", profile)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-res-"))
    try:
        result = run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result["seconds"] = time.monotonic() - began
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nbenchmark took {result['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
