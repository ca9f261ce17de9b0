"""Redis for the integration tests: the shared server, a throw-away local
cluster, a proxy that loses replies, and the stock race both tiers run.

Kept out of a conftest on purpose: the inventory test modules import what
they need from here, so other integration suites are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.inventory.redis_stock import RedisStock
from app.inventory.stock import FlashTake, PromotionTake, TakeResult
from app.rules.model import FlashItem

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# ------------------------------------------------------------------ shared server


def unique_prefix() -> str:
    """A key prefix no other test (or run) uses."""
    return f"test:inv:{uuid.uuid4().hex[:12]}:"


async def delete_prefix(client: Redis | RedisCluster, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    for key in keys:  # one by one: keys of many slots
        await client.delete(key)


def require_redis(url: str = REDIS_URL) -> None:
    """Fail loudly (not skip) when the shared Redis is down: ``make services``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RuntimeError(
            f"Redis is not reachable at {url} ({exc}); start it with `make services`"
        ) from exc
    finally:
        client.close()


# ------------------------------------------------------------------ local cluster


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """Loopback ports ``p`` with ``p`` and its cluster bus port ``p + 10000`` free."""
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(20000, 30000)
        if port not in ports and _port_free(port) and _port_free(port + 10000):
            ports.append(port)
    return ports


@dataclass
class LocalCluster:
    """A 3-primary Redis Cluster on loopback ports, in ``workdir``."""

    workdir: Path
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("redis-server") and shutil.which("redis-cli"))

    def start(
        self, nodes: int = 3, timeout: float = 20.0, ports: Sequence[int] | None = None
    ) -> None:
        """On ``ports`` when given (each ``p`` and its bus port ``p + 10000`` free), else
        on free ports of 20000-29999."""
        self.ports = list(ports) if ports is not None else free_cluster_ports(nodes)
        nodes = len(self.ports)
        for port in self.ports:
            log = (self.workdir / f"redis-{port}.log").open("wb")
            with log:
                self.processes.append(
                    subprocess.Popen(
                        [
                            "redis-server",
                            "--port", str(port),
                            "--bind", "127.0.0.1",
                            "--cluster-enabled", "yes",
                            "--cluster-config-file", f"nodes-{port}.conf",
                            "--cluster-node-timeout", "5000",
                            "--dir", str(self.workdir),
                            "--save", "",
                            "--appendonly", "no",
                            "--daemonize", "no",
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip
        deadline = time.monotonic() + timeout
        for port in self.ports:
            self._wait(partial(self._answers, port, ("PONG",), "ping"), deadline, f"{port} up")
        subprocess.run(
            [
                "redis-cli",
                "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )  # fmt: skip
        want = ("cluster_state:ok", "cluster_slots_ok:16384", f"cluster_known_nodes:{nodes}")
        for port in self.ports:
            self._wait(
                partial(self._answers, port, want, "cluster", "info"),
                deadline,
                f"{port}: {', '.join(want)}",
            )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()

    @staticmethod
    def _cli(port: int, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return done.stdout.strip()

    @classmethod
    def _answers(cls, port: int, want: Sequence[str], *command: str) -> bool:
        said = cls._cli(port, *command)
        return all(w in said for w in want)

    def _wait(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a redis-server of the test cluster died; see {self.workdir}")
            if ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"test cluster: {what} not reached; logs in {self.workdir}")


@contextlib.contextmanager
def local_cluster(workdir: Path, ports: Sequence[int] | None = None) -> Iterator[LocalCluster]:
    cluster = LocalCluster(workdir)
    try:
        cluster.start(ports=ports)
        yield cluster
    finally:
        cluster.stop()


# ------------------------------------------------------------- reply-losing proxy


class ReplyDroppingProxy:
    """A TCP proxy to Redis that, once armed, forwards the next EVALSHA but drops
    the connection instead of passing its reply back.

    The script has run on the server; the client sees a lost connection and
    (redis-py's default ``Retry``) sends the same command again: the double
    execution the scripts must survive.
    """

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.armed = False
        self.dropped = 0
        self.port = 0

    async def __aenter__(self) -> ReplyDroppingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        ureader, uwriter = await asyncio.open_connection(*self._upstream)
        drop_next_reply = asyncio.Event()

        async def upstream() -> None:
            while data := await creader.read(65536):
                if self.armed and b"EVALSHA" in data.upper():
                    self.armed = False
                    drop_next_reply.set()
                uwriter.write(data)
                await uwriter.drain()

        async def downstream() -> None:
            while data := await ureader.read(65536):
                if drop_next_reply.is_set():
                    self.dropped += 1
                    return  # the script ran; its reply is lost with the connection
                cwriter.write(data)
                await cwriter.drain()

        pumps = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (cwriter, uwriter):
                w.close()
                with contextlib.suppress(OSError, ConnectionError):
                    await w.wait_closed()


# ----------------------------------------------------------------------- the race

T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)


@dataclass
class RaceOutcome:
    results: list[tuple[str, TakeResult]]  # (customer, result) per take
    codes: Counter[str]
    samples: int
    violations: list[dict[str, int]]
    settled: Counter[str]  # confirmed / released (or what went wrong) per winner

    @property
    def winners(self) -> list[str]:
        return [customer for customer, result in self.results if result.ok]


def race_customers(takes: int, distinct: int, seed: int) -> list[str]:
    """``takes`` customer ids: ``distinct`` different ones, the rest repeats, shuffled."""
    rng = random.Random(seed)
    customers = [f"c{n}" for n in range(distinct)]
    customers += [rng.choice(customers) for _ in range(takes - distinct)]
    rng.shuffle(customers)
    return customers


@contextlib.asynccontextmanager
async def invariant_sampler(
    client: Redis | RedisCluster, stock_key: str
) -> AsyncIterator[tuple[list[int], list[dict[str, int]]]]:
    """Reads the stock hash (atomically: one HGETALL) over and over while the body
    runs; every reading that breaks ``available + reserved + sold == initial`` (or
    goes negative) is collected."""
    samples = [0]
    violations: list[dict[str, int]] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            raw: dict[Any, Any] = await client.hgetall(stock_key)
            level = {k.decode(): int(v) for k, v in raw.items() if k != b"limit"}
            samples[0] += 1
            if (
                level["available"] + level["reserved"] + level["sold"] != level["initial"]
                or min(level.values()) < 0
            ):
                violations.append(level)
            await asyncio.sleep(0.001)

    task = asyncio.create_task(sample())
    try:
        yield samples, violations
    finally:
        stop.set()
        await task


async def run_race(
    stock: RedisStock,
    *,
    sampler: Redis | RedisCluster,
    promotion_id: str,
    units: int = 100,
    takes: int = 2000,
    distinct: int = 1500,
    concurrency: int | None = None,
    seed: int = 1111,
) -> RaceOutcome:
    """``takes`` concurrent one-unit takes of an sku with ``units`` in stock and a
    per-customer limit of 1; then half the winners confirm while the other half
    cancel, all at once. A sampler checks the invariant the whole time."""
    sku = "RACE-1"
    await stock.load_stock(promotion_id, [FlashItem(sku, 999, units, 1)], now=T0)
    customers = race_customers(takes, distinct, seed)
    gate = asyncio.Semaphore(concurrency or takes)

    async def take(n: int, customer: str) -> tuple[str, TakeResult]:
        async with gate:
            result = await stock.take(
                f"race-{n}",
                customer_id=customer,
                takes=[PromotionTake(promotion_id, flash=(FlashTake(sku, 1, 1),))],
                now=T0,
                expires_at=T0 + timedelta(minutes=15),
            )
        return customer, result

    stock_key = stock.keys.promotion(promotion_id).stock(sku)
    async with invariant_sampler(sampler, stock_key) as (samples, violations):
        results = await asyncio.gather(*(take(n, c) for n, c in enumerate(customers)))
        winners = [f"race-{n}" for n, (_, r) in enumerate(results) if r.ok]

        async def settle(n: int, reservation_id: str) -> str:
            async with gate:
                if n % 2 == 0:
                    done = await stock.confirm(reservation_id, promotion_ids=[promotion_id], now=T0)
                    return "confirmed" if done.ok else f"confirm:{done.code}"
                gone = await stock.release(reservation_id, promotion_ids=[promotion_id], now=T0)
                return "released" if gone.ok else f"release:{gone.code}"

        settled = Counter(await asyncio.gather(*(settle(n, rid) for n, rid in enumerate(winners))))
    return RaceOutcome(
        results=list(results),
        codes=Counter(r.code.value for _, r in results),
        samples=samples[0],
        violations=violations,
        settled=settled,
    )


def slots_of(promotion_ids: Sequence[str], prefix: str) -> set[int]:
    from redis.crc import key_slot

    return {key_slot(f"{prefix}{{p:{pid}}}:x".encode()) for pid in promotion_ids}
