"""One command for a peak rehearsal: start the stack, seed it, run a scenario
headless, draw it, judge it.

    .venv/bin/python -m loadtests.run flash-sale --users 100 --duration 60s
    .venv/bin/python -m loadtests.run browse --users 40 --duration 2m --shape step
    .venv/bin/python -m loadtests.run checkout --stack real \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m loadtests.run redis-outage --users 60 --duration 90s

Scenarios (``loadtests/scenarios.py``): ``browse``, ``flash-sale``,
``coupon-grab``, ``checkout``, ``redis-outage`` (the flash sale while Redis is
killed a third into the run and started again, empty, at two thirds). Shapes
(``loadtests/shapes/``): ``step``, ``spike``, ``soak``; each scenario has its own
default.

Stacks: ``embedded`` (default): ``python -m app`` on SQLite in the output folder
and the in-process Redis; ``real``: PostgreSQL (``--database-url``, a fresh
schema dropped at the end) and a ``redis-server`` of its own on a free port (or
``--redis-url``). ``redis-outage`` always starts its own ``redis-server``: it
has to kill it.

Writes to ``--out`` (default ``loadtests/results/SCENARIO-TIME``):
``report.html`` (locust's), ``locust_*.csv``, ``chart.png`` (throughput,
latency percentiles and errors over time), ``summary.json`` and ``summary.md``,
``service.log`` (the service's JSON log), ``catalogue.json`` and the users'
``ledger.json``. Exit status 0 when every check passed: p99 latency and error
ratio within ``--max-p99-ms`` and ``--max-error-ratio``, and for the stock
scenarios no oversell and no lost unit in any ``/v1/flash-sales/{id}`` read
afterwards (``available + reserved + sold == initial``, units sold equal to
the units the users paid for), every claim counted (``coupon-grab``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loadtests.catalogue import Catalogue, seed

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT_KEY = "lt-checkout-key"
ADMIN_KEY = "lt-admin-key"


@dataclass(frozen=True)
class Scenario:
    user: str
    shape: str
    max_p99_ms: float
    max_error_ratio: float
    stock: bool = False  # check flash-sale stock afterwards
    outage: bool = False
    hot_stock: int = 100


SCENARIOS = {
    "browse": Scenario("BrowseUser", "step", 1000, 0.01),
    "flash-sale": Scenario("FlashSaleUser", "spike", 3000, 0.01, stock=True),
    "coupon-grab": Scenario("CouponGrabUser", "spike", 2000, 0.01),
    "checkout": Scenario("CheckoutUser", "step", 3000, 0.01, stock=True),
    # Redis away for a third of the run: reservations answer 503 meanwhile
    "redis-outage": Scenario(
        "FlashSaleUser", "soak", 5000, 0.6, stock=True, outage=True, hot_stock=1000
    ),
}
SHAPES = ("step", "spike", "soak")


def log(message: str) -> None:
    print(f"[loadtests.run {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def seconds(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h`` → seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smh]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"a duration like 60s, 2m or 90: {text!r}")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ----------------------------------------------------------------------- the stack


@dataclass
class RedisServer:
    port: int
    out: Path
    process: subprocess.Popen[bytes] | None = None
    events: list[tuple[str, float]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        log_file = (self.out / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    self.events.append(("redis up", time.time()))
                    return
            time.sleep(0.05)
        raise SystemExit(f"redis-server did not listen on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            self.events.append(("redis killed", time.time()))


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def service(args: argparse.Namespace, out: Path, redis_url: str) -> Iterator[Service]:
    port = args.port or free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PRICING_API_KEYS": f"checkout:{CHECKOUT_KEY},admin:{ADMIN_KEY}",
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"lt{uuid.uuid4().hex[:8]}:",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": args.log_level,
    }
    schema = ""
    if args.stack == "real":
        schema = f"lt_{uuid.uuid4().hex[:10]}"
        env |= {"DATABASE_URL": args.database_url, "DATABASE_SCHEMA": schema}
    else:
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{out / 'pricing.db'}"
    for item in args.service_env:
        name, _, value = item.partition("=")
        env[name] = value
    log_file = (out / "service.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the service exited with {process.returncode}: see {out}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the service was not ready in 60 s: see {out}/service.log")
            time.sleep(0.2)
        log(f"service ready on {url} ({args.stack} stack)")
        yield Service(url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_file.close()
        if schema:
            asyncio.run(_drop_schema(args.database_url, schema))


async def _drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# ----------------------------------------------------------------------- locust


def run_locust(
    args: argparse.Namespace, scenario: Scenario, url: str, out: Path, shape: str
) -> int:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOADTEST_CATALOGUE": str(out / "catalogue.json"),
        "LOADTEST_LEDGER": str(out / "ledger.json"),
        "LOADTEST_REQUESTS": str(out / "requests.csv"),
        "LOADTEST_USERS": str(args.users),
        "LOADTEST_SECONDS": str(args.duration),
        "LOADTEST_RUN": out.name,
        "PRICING_KEY": CHECKOUT_KEY,
        "THINK_MIN": str(args.think[0]),
        "THINK_MAX": str(args.think[1]),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{ROOT / 'loadtests' / 'scenarios.py'},{ROOT / 'loadtests' / 'shapes' / shape}.py",
        "--headless",
        "--host",
        url,
        "--run-time",
        f"{int(args.duration) + 10}s",
        "--stop-timeout",
        "5",
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        scenario.user,
    ]
    with (out / "locust.log").open("wb") as locust_log:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=locust_log,
            stderr=subprocess.STDOUT,
            timeout=args.duration + 120,
            check=False,
        )
    return done.returncode


# ----------------------------------------------------------------------- checks


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def read_stats(out: Path) -> dict[str, Any]:
    with (out / "locust_stats.csv").open() as f:
        rows = list(csv.DictReader(f))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    requests = int(total["Request Count"])
    failures = int(total["Failure Count"])
    return {
        "requests": requests,
        "failures": failures,
        "error_ratio": failures / requests if requests else 0.0,
        "rps": float(total["Requests/s"]),
        "p50_ms": float(total["50%"] or 0),
        "p95_ms": float(total["95%"] or 0),
        "p99_ms": float(total["99%"] or 0),
        "by_name": {
            r["Name"]: {
                "requests": int(r["Request Count"]),
                "failures": int(r["Failure Count"]),
                "p99_ms": float(r["99%"] or 0),
            }
            for r in rows
            if r["Name"] != "Aggregated"
        },
    }


def check_stock(
    client: httpx.Client, catalogue: Catalogue, ledger: dict[str, Any], *, rush: bool
) -> list[Check]:
    """Read every flash sale after the run: nothing oversold, nothing lost; after a
    rush (the flash-sale users are the only buyers of the hot SKUs), the hot SKUs'
    units sold are the units the users paid for, and those reserved the ones they
    hold."""
    checks: list[Check] = []
    items = catalogue.hot if rush else [*catalogue.hot, *catalogue.open_flash]
    sold_by_users = ledger.get("flash_sold", {})
    held_by_users = ledger.get("flash_reserved", {})
    unknown = ledger.get("flash_unknown", {})
    for promotion_id in dict.fromkeys(i.promotion_id for i in items):
        deadline = time.monotonic() + 30
        while True:  # after a Redis restart the counters are rebuilt from the ledger first
            response = client.get(f"/v1/flash-sales/{promotion_id}")
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if response.status_code != 200:
            checks.append(Check(f"stock {promotion_id}", False, f"read: {response.status_code}"))
            continue
        for item in response.json()["items"]:
            key = f"{promotion_id}|{item['sku']}"
            initial, available = item["initial"], item["available"]
            reserved, sold = item["reserved"], item["sold"]
            problems = []
            if reserved + sold > initial or min(available, reserved, sold) < 0:
                problems.append("OVERSOLD")
            if available + reserved + sold != initial:
                problems.append(f"LOST {initial - available - reserved - sold} units")
            is_hot = rush and any(h.promotion_id == promotion_id for h in catalogue.hot)
            if is_hot and sold != sold_by_users.get(key, 0):
                problems.append(f"sold {sold} but the users paid for {sold_by_users.get(key, 0)}")
            held, maybe = held_by_users.get(key, 0), unknown.get(key, 0)
            if is_hot and not held <= reserved <= held + maybe:
                problems.append(f"reserved {reserved}, the users hold {held} (+{maybe} unanswered)")
            checks.append(
                Check(
                    f"stock {promotion_id} {item['sku']}",
                    not problems,
                    f"initial {initial} = available {available} + reserved {reserved} + "
                    f"sold {sold}" + (f": {'; '.join(problems)}" if problems else ""),
                )
            )
    return checks


def check_claims(client: httpx.Client, catalogue: Catalogue, ledger: dict[str, Any]) -> list[Check]:
    checks = []
    for promotion_id, limit in catalogue.claimable.items():
        stats = client.get(f"/v1/admin/promotions/{promotion_id}/stats").json()
        got = ledger.get("claims", {}).get(promotion_id, 0)
        ok = stats["claims"] == got and stats["claims"] <= limit
        checks.append(
            Check(
                f"claims {promotion_id}",
                ok,
                f"{stats['claims']} claimed of {limit}; the users got {got}",
            )
        )
    return checks


# ----------------------------------------------------------------------- charts


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def draw(out: Path, title: str, events: list[tuple[str, float]]) -> Path | None:
    """Throughput, latency percentiles and errors over time, per second, from every
    request the users made (``requests.csv``), and the users locust ran
    (``locust_stats_history.csv``)."""
    path = out / "requests.csv"
    if not path.exists():
        return None
    with path.open() as f:
        made = [(float(r["time"]), float(r["ms"]), int(r["failed"])) for r in csv.DictReader(f)]
    if not made:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(t for t, _, _ in made)
    buckets: dict[int, list[tuple[float, int]]] = {}
    for t, ms, failed in made:
        buckets.setdefault(int(t - t0), []).append((ms, failed))
    seconds_ = list(range(max(buckets) + 1))
    done = [len(buckets.get(s, [])) for s in seconds_]
    failed_ = [sum(f for _, f in buckets.get(s, [])) for s in seconds_]
    lat: dict[str, list[float]] = {"p50": [], "p95": [], "p99": []}
    for s in seconds_:
        ordered = sorted(ms for ms, _ in buckets.get(s, []))
        for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            lat[name].append(_quantile(ordered, q) if ordered else float("nan"))
    users_t: list[float] = []
    users_n: list[float] = []
    history = out / "locust_stats_history.csv"
    if history.exists():
        with history.open() as f:
            for r in csv.DictReader(f):
                if r["Name"] == "Aggregated":
                    users_t.append(int(r["Timestamp"]) - t0)
                    users_n.append(float(r["User Count"]))

    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(8, 7), sharex=True, dpi=80)
    ax1.plot(seconds_, done, label="requests/s")
    ax1.plot(seconds_, failed_, label="failures/s", color="tab:red")
    ax1.set_ylabel("per second")
    ax1.legend(loc="upper left", fontsize=8)
    if users_t:
        users = ax1.twinx()
        users.plot(users_t, users_n, color="grey", linestyle=":", label="users")
        users.set_ylabel("users (dotted)")
    for name, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        ax2.plot(seconds_, lat[name], label=name, linestyle=style)
    ax2.set_ylabel("latency, ms")
    ax2.legend(loc="upper left", fontsize=8)
    ax3.bar(
        seconds_,
        [f / d * 100 if d else 0 for f, d in zip(failed_, done, strict=True)],
        color="tab:red",
        label="failed %",
    )
    ax3.set_ylabel("failed, % of the second's requests")
    ax3.set_ylim(0, 100)
    ax3.set_xlabel("seconds since the first request")
    ax3.legend(loc="upper left", fontsize=8)
    for name, at in events:
        for ax in (ax1, ax2, ax3):
            ax.axvline(at - t0, color="black", linewidth=0.8)
        ax3.annotate(name, (at - t0, 50), fontsize=8, rotation=90, va="center", ha="right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    chart = out / "chart.png"
    fig.savefig(chart)
    plt.close(fig)
    return chart


# ----------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--users", type=int, default=50, help="peak users (default 50)")
    parser.add_argument("--duration", type=seconds, default=60.0, help="60s, 2m... (default 60s)")
    parser.add_argument("--shape", choices=SHAPES, help="default: the scenario's own")
    parser.add_argument("--stack", choices=("embedded", "real"), default="embedded")
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="the real stack's PostgreSQL (a fresh schema in it, dropped afterwards)",
    )
    parser.add_argument("--redis-url", default="", help="the real stack's Redis (default: own)")
    parser.add_argument("--port", type=int, default=0, help="the service's port (default free)")
    parser.add_argument("--redis-port", type=int, default=0, help="own redis-server's port")
    parser.add_argument("--out", type=Path, help="default loadtests/results/SCENARIO-TIME")
    parser.add_argument("--max-p99-ms", type=float, help="default: the scenario's own")
    parser.add_argument("--max-error-ratio", type=float, help="default: the scenario's own")
    parser.add_argument("--skus", type=int, default=3000)
    parser.add_argument("--promotions", type=int, default=300)
    parser.add_argument("--hot-stock", type=int, help="units per hot flash-sale SKU")
    parser.add_argument("--claims", type=int, default=500, help="max_claims per coupon")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(0.05, 0.5),
        metavar=("MIN", "MAX"),
        help="seconds between a user's steps",
    )
    parser.add_argument("--log-level", default="info", help="the service's LOG_LEVEL")
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more environment for the service (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    scenario = SCENARIOS[args.scenario]
    shape = args.shape or scenario.shape
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out: Path = args.out or ROOT / "loadtests" / "results" / f"{args.scenario}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    max_p99 = args.max_p99_ms if args.max_p99_ms is not None else scenario.max_p99_ms
    max_errors = (
        args.max_error_ratio if args.max_error_ratio is not None else scenario.max_error_ratio
    )
    redis: RedisServer | None = None
    started = time.time()
    with ExitStack() as stack:
        redis_url = args.redis_url
        if scenario.outage or (args.stack == "real" and not redis_url):
            redis = RedisServer(args.redis_port or free_port(), out)
            redis.start()
            stack.callback(redis.kill)
            redis_url = redis.url
        running = stack.enter_context(service(args, out, redis_url))
        catalogue = Catalogue.make(
            args.seed,
            skus=args.skus,
            promotions=args.promotions,
            claims=args.claims,
            hot_stock=args.hot_stock or scenario.hot_stock,
        )
        catalogue.save(out / "catalogue.json")
        took = time.monotonic()
        seed(running.url, ADMIN_KEY, catalogue)
        log(
            f"seeded {len(catalogue.promotions)} promotions, {len(catalogue.skus)} skus "
            f"in {time.monotonic() - took:.1f} s"
        )
        if scenario.outage and redis is not None:
            outage = redis

            def cut() -> None:
                time.sleep(args.duration / 3)
                log("killing redis-server")
                outage.kill()
                time.sleep(args.duration / 3)
                log("starting redis-server again (empty)")
                outage.start()

            threading.Thread(target=cut, daemon=True).start()
        log(f"locust: {args.scenario}, {args.users} users, {args.duration:.0f} s, shape {shape}")
        code = run_locust(args, scenario, running.url, out, shape)
        ledger = (
            json.loads((out / "ledger.json").read_text()) if (out / "ledger.json").exists() else {}
        )
        checks: list[Check] = []
        if code != 0:
            checks.append(Check("locust ran", False, f"exit status {code}: see locust.log"))
        try:
            stats = read_stats(out)
        except (OSError, StopIteration, KeyError, ValueError) as exc:
            stats = {"requests": 0, "failures": 0, "error_ratio": 0.0, "rps": 0.0,
                     "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "by_name": {}}  # fmt: skip
            checks.append(Check("locust's statistics", False, f"unreadable: {exc!r}"))
        checks.append(
            Check("requests made", stats["requests"] > 0, f"{stats['requests']} requests")
        )
        checks.append(
            Check(
                "p99 latency",
                stats["p99_ms"] <= max_p99,
                f"{stats['p99_ms']:.0f} ms (at most {max_p99:.0f})",
            )
        )
        checks.append(
            Check(
                "error ratio",
                stats["error_ratio"] <= max_errors,
                f"{stats['error_ratio']:.2%} (at most {max_errors:.2%})",
            )
        )
        admin = stack.enter_context(
            httpx.Client(
                base_url=running.url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )
        )
        if scenario.stock:
            time.sleep(1)  # the last confirms land
            checks += check_stock(admin, catalogue, ledger, rush=args.scenario != "checkout")
        if args.scenario == "coupon-grab":
            checks += check_claims(admin, catalogue, ledger)
        if scenario.outage and redis is not None:
            back = next((at for name, at in redis.events[1:] if name == "redis up"), None)
            after = [t for t in ledger.get("successes_at", []) if back and t > back]
            checks.append(
                Check(
                    "reservations after Redis came back",
                    bool(after),
                    f"{len(after)} flash-sale reservations made after the restart",
                )
            )
    events = [(name, at) for name, at in (redis.events[1:3] if redis else [])]
    chart = draw(out, f"{args.scenario}: {args.users} users, {shape}, {args.stack} stack", events)
    passed = all(c.passed for c in checks)
    summary = {
        "scenario": args.scenario,
        "users": args.users,
        "duration_s": args.duration,
        "shape": shape,
        "stack": args.stack,
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "passed": passed,
        "stats": stats,
        "ledger": {k: v for k, v in ledger.items() if k != "successes_at"},
        "checks": [c.__dict__ for c in checks],
        "chart": chart.name if chart else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    lines = [
        f"# {args.scenario}: {'PASS' if passed else 'FAIL'}",
        "",
        f"{args.users} users, {args.duration:.0f} s, shape {shape}, {args.stack} stack; "
        f"{stats['requests']} requests, {stats['rps']:.0f}/s, p50 {stats['p50_ms']:.0f} ms, "
        f"p95 {stats['p95_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms, "
        f"errors {stats['error_ratio']:.2%}",
        "",
        *[f"- {'ok  ' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in checks],
        "",
    ]
    (out / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"outputs: {out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
