"""HTTP benchmark: quotes per second of the service against a bare FastAPI baseline.

Run it from the project root::

    .venv/bin/python -m loadtests.bench_http                      # embedded SQLite + fakeredis
    .venv/bin/python -m loadtests.bench_http --help
    .venv/bin/python -m loadtests.bench_http \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        --redis-url redis://127.0.0.1:6379/0                    # against PostgreSQL and Redis
    .venv/bin/python -m loadtests.bench_http --seed-only --url http://HOST:PORT --admin-key KEY

Target (the issue): quote requests per second of ``POST /v1/quote`` at least
0.8x those of a bare FastAPI endpoint that validates the same request body,
same server settings, same run.

What it does, all on loopback, in about 2.5 minutes (``--budget`` 170 s: the
rounds are shortened to fit when loading the rules took long):

1. Starts the real service (``python -m app``) on a free port with a checkout
   and an admin key: embedded (SQLite file in a temp dir, in-process fakeredis)
   by default, or PostgreSQL/Redis with ``--database-url``/``--redis-url`` (in a
   fresh schema and key prefix, both removed afterwards). Loads the engine
   benchmark's marketplace rule set through the admin API (``--size`` 1,000
   promotions: the 24 that touch the heavy cart and a long tail that touches
   nothing; ``loadtests.marketplace``), creates the three coupon codes, and waits
   until quotes come back with the totals this process expects. (Loading
   takes about 80 s: every admin write reloads and re-validates the whole
   rule set, so it grows with the square of ``--size``.)
2. Starts the baseline (``loadtests.baseline_app``): one ``POST /v1/quote`` that
   validates the same ``QuoteBody`` and answers a fixed small JSON, served by
   the service's own ``app.__main__`` with the same environment, so uvicorn gets
   exactly the service's arguments (workers, loop, http, logging, ...).
3. Measures the load generator's ceiling against a canned asyncio server, then
   for each cart (``typical``: 10 lines, 4 searched promotions; ``heavy``: the
   engine benchmark's 10 lines, 20 searched promotions, 3 coupons) runs timed
   rounds of closed-loop load with ``--concurrency`` keep-alive connections,
   baseline and service alternating (ABBA: B S S B B S ...), and a short
   one-connection phase for unloaded latency.
4. Prints requests/s, p50/p99 latency, the server's and the generator's CPU
   (and the server's CPU time per request), the ratio service/baseline per
   cart against the 0.8x target, and whether every service response was 200
   with the expected total (every baseline response 200 with its fixed body).
5. Times the in-process steps of a quote in this process (JSON, ``QuoteBody``,
   ``to_request``, engine, the response JSON (``QuoteResponse.json_of``) to show
   which of them fit in the CPU the target allows per request.

On a machine with at least ``WORKERS`` + 1 CPUs the servers are pinned to the
first ``WORKERS`` CPUs and the generator to the next one (``--no-pin`` to
turn off), so the generator never competes with the server it measures.

The generator (``--client raw``, the default) is a minimal HTTP/1.1
keep-alive client on asyncio streams with uvloop: one pre-encoded request,
responses read by Content-Length. ``--client httpx`` drives the same rounds
with ``httpx.AsyncClient``; its ceiling on one core is below what the
baseline serves, so it would understate the baseline (see docs/performance.md).

``--profile-seconds N`` afterwards samples each server under load with py-spy
(``pip install py-spy`` into the venv; not a project dependency) and prints
where the time goes, by category and by function. ``--json FILE`` writes every
number.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import httpx

from loadtests import marketplace
from loadtests.baseline_app import FIXED_BYTES

TARGET_RATIO = 0.8
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TOTAL = re.compile(rb'"total":(-?\d+)')
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn's workers when WORKERS > 1)."""
        children: dict[int, list[int]] = defaultdict(list)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children[ppid].append(int(entry))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, ()))
        return found

    def cpu_seconds(self, pids: Sequence[int]) -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLK_TCK


def start_server(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    workdir: Path,
    port: int,
    cpus: set[int] | None,
) -> Server:
    log_path = workdir / f"{name}.log"

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pin,
            start_new_session=True,  # our Ctrl-C is not theirs: they are stopped in order
        )
    return Server(name, proc, port, log_path)


def stop_server(server: Server) -> None:
    if server.proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        server.proc.send_signal(signal.SIGINT)
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=5)


def wait_until_up(server: Server, path: str, deadline_s: float = 90.0) -> float:
    """Poll ``path`` until the server answers (any status below 500). Returns seconds."""
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as client:
        while True:
            if server.proc.poll() is not None:
                raise SystemExit(
                    f"{server.name} exited with {server.proc.returncode}:\n{server.tail()}"
                )
            try:
                if client.get(server.url + path).status_code < 500:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            if time.monotonic() - started > deadline_s:
                raise SystemExit(f"{server.name} not up after {deadline_s:.0f}s:\n{server.tail()}")
            time.sleep(0.1)


# -------------------------------------------------------------------- rule loading


async def load_rules(
    url: str,
    admin_key: str,
    bodies: Sequence[Mapping[str, Any]],
    codes: Mapping[str, str],
    concurrency: int,
) -> float:
    """POST every promotion, then the coupon codes; raises on anything but 201."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {admin_key}"}
    queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    done = 0

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60.0) as client:

        async def worker() -> None:
            nonlocal done
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                response = await client.post("/v1/admin/promotions", json=body)
                if response.status_code != 201:
                    raise SystemExit(
                        f"POST /v1/admin/promotions {body['id']}: {response.status_code} "
                        f"{response.text[:2000]}"
                    )
                done += 1
                if done % 250 == 0:
                    log(f"  {done:,}/{len(bodies):,} promotions loaded")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        for code, promotion_id in codes.items():
            response = await client.post(
                f"/v1/admin/promotions/{promotion_id}/codes", json={"code": code}
            )
            if response.status_code != 201:
                raise SystemExit(
                    f"POST codes {code} for {promotion_id}: {response.status_code} "
                    f"{response.text[:2000]}"
                )
    return time.monotonic() - started


async def load_rules_direct(
    env: Mapping[str, str],
    url: str,
    admin_key: str,
    bodies: Sequence[Mapping[str, Any]],
    codes: Mapping[str, str],
) -> float:
    """Write every promotion straight into the service's database in one transaction
    (the repository's bulk write, the one the import API uses: the stored
    documents and one rules version noting every promotion), then create the codes
    through the admin API; the service picks the change up by its rules poll. For
    sizes the one-by-one admin API cannot load in time."""
    from app.api.records import promotion_document
    from app.api.schemas import PromotionBody
    from app.promotions.repository import NewPromotion
    from app.settings import Settings
    from app.storage.db import make_engine
    from app.storage.sql_promotions import SqlPromotionRepository

    started = time.monotonic()
    settings = Settings(
        database_url=env["DATABASE_URL"], database_schema=env.get("DATABASE_SCHEMA", "")
    )
    rows = []
    for body in bodies:
        document = promotion_document(PromotionBody.model_validate(body))
        rows.append(
            NewPromotion(
                id=document.id,
                status=document.status,
                trigger=document.trigger,
                body=document.to_stored(),
            )
        )
    engine = make_engine(settings)
    try:
        await SqlPromotionRepository(engine, timeout=120.0).import_many(
            rows, replace=False, by="bench"
        )
    finally:
        await engine.dispose()
    log(f"  {len(rows):,} promotions written to the database")
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60.0) as client:
        for code, promotion_id in codes.items():
            for _ in range(100):  # until the service's poll has seen the promotion
                response = await client.post(
                    f"/v1/admin/promotions/{promotion_id}/codes", json={"code": code}
                )
                if response.status_code not in (404, 503):  # not seen yet, or reloading
                    break
                await asyncio.sleep(0.5)
            if response.status_code != 201:
                raise SystemExit(
                    f"POST codes {code} for {promotion_id}: {response.status_code} "
                    f"{response.text[:2000]}"
                )
    return time.monotonic() - started


async def wait_live(
    url: str,
    key: str,
    carts: Mapping[str, bytes],
    expected: Mapping[str, int],
    workers: int,
    deadline_s: float = 30.0,
) -> float:
    """Quote each cart until it comes back with the expected total, several times in a row
    (every worker must have the rules)."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    need = 5 * workers
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0) as client:
        for name, payload in carts.items():
            streak, last = 0, ""
            while streak < need:
                response = await client.post("/v1/quote", content=payload)
                total = response.json().get("total") if response.status_code == 200 else None
                if total == expected[name]:
                    streak += 1
                    continue
                streak, last = 0, f"{response.status_code} {response.text[:500]}"
                if time.monotonic() - started > deadline_s:
                    raise SystemExit(
                        f"{name} cart: expected total {expected[name]}, the service answers {last}"
                    )
                await asyncio.sleep(0.2)
    return time.monotonic() - started


# ------------------------------------------------------------------- load generator


class ProtocolError(Exception):
    pass


class Connection(Protocol):
    async def request(self) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class RawConnection:
    """One keep-alive HTTP/1.1 connection sending one pre-encoded request."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.payload = payload

    @classmethod
    async def open(cls, port: int, payload: bytes) -> RawConnection:
        reader, writer = await asyncio.open_connection(HOST, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, payload)

    async def request(self) -> tuple[int, bytes]:
        self.writer.write(self.payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at < 0:
            raise ProtocolError(f"no content-length in {head[:200]!r}")
        end = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17 : end])
        body = await self.reader.readexactly(length) if length else b""
        if b"\r\nconnection: close" in lower:
            raise ProtocolError("the server closed the connection")
        return int(head[9:12]), body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class HttpxConnection:
    """One task's share of an ``httpx.AsyncClient`` with as many connections as tasks."""

    def __init__(self, client: httpx.AsyncClient, payload: bytes, owns: bool) -> None:
        self.client = client
        self.payload = payload
        self.owns = owns

    async def request(self) -> tuple[int, bytes]:
        response = await self.client.post("/v1/quote", content=self.payload)
        return response.status_code, response.content

    async def close(self) -> None:
        if self.owns:
            await self.client.aclose()


def raw_payload(port: int, key: str, body: bytes) -> bytes:
    head = (
        f"POST /v1/quote HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Target:
    name: str  # "baseline", "service", "ceiling"
    port: int
    key: str
    check: Callable[[int, bytes], bool]
    server: Server | None = None
    pids: list[int] = field(default_factory=list)


async def open_connections(
    client: str, target: Target, body: bytes, count: int
) -> list[Connection]:
    if client == "raw":
        payload = raw_payload(target.port, target.key, body)
        return list(
            await asyncio.gather(*(RawConnection.open(target.port, payload) for _ in range(count)))
        )
    shared = httpx.AsyncClient(
        base_url=f"http://{HOST}:{target.port}",
        headers={"Authorization": f"Bearer {target.key}", "Content-Type": "application/json"},
        limits=httpx.Limits(max_connections=count, max_keepalive_connections=count),
        timeout=60.0,
    )
    return [HttpxConnection(shared, body, owns=i == 0) for i in range(count)]


@dataclass
class Round:
    target: str
    cart: str
    concurrency: int
    requests: int
    seconds: float
    server_cpu_s: float
    generator_cpu_s: float
    failures: int
    samples_ns: list[int] = field(repr=False)
    first_failure: str | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def drive(
    client: str,
    target: Target,
    cart: str,
    body: bytes,
    concurrency: int,
    seconds: float,
    max_requests: int,
) -> Round:
    """Closed loop: ``concurrency`` connections, each sending its next request as soon as
    the previous answer is in, until ``seconds`` or ``max_requests``."""
    connections = await open_connections(client, target, body, concurrency)
    if client == "httpx":  # open the pool's connections before the clock starts
        await asyncio.gather(*(c.request() for c in connections))

    async def reopen() -> Connection:
        return (await open_connections(client, target, body, 1))[0]

    server = target.server
    return await closed_loop(
        name=target.name,
        cart=cart,
        connections=connections,
        reopen=reopen,
        check=target.check,
        server_cpu=(lambda: server.cpu_seconds(target.pids)) if server else (lambda: 0.0),
        seconds=seconds,
        max_requests=max_requests,
    )


async def closed_loop(
    *,
    name: str,
    cart: str,
    connections: Sequence[Connection],
    reopen: Callable[[], Awaitable[Connection]],
    check: Callable[[int, bytes], bool],
    server_cpu: Callable[[], float],
    seconds: float,
    max_requests: int,
) -> Round:
    """The load generator's loop: each connection sends its next request as soon as the
    previous answer is in, until ``seconds`` or ``max_requests``; a broken connection
    counts a failure and is replaced by ``reopen()``."""
    samples: list[int] = []
    failures = 0
    first_failure: str | None = None
    issued = 0
    perf = time.perf_counter_ns
    cpu_before = server_cpu()
    generator_cpu = time.process_time()
    started = perf()
    stop_at = started + int(seconds * 1e9)
    live = list(connections)

    async def worker(slot: int) -> None:
        nonlocal issued, failures, first_failure
        while issued < max_requests and perf() < stop_at:
            issued += 1
            sent = perf()
            try:
                status, answer = await live[slot].request()
            except (OSError, asyncio.IncompleteReadError, ProtocolError, httpx.HTTPError) as exc:
                failures += 1
                first_failure = first_failure or f"{type(exc).__name__}: {exc}"
                await live[slot].close()
                live[slot] = await reopen()
                continue
            samples.append(perf() - sent)
            if not check(status, answer):
                failures += 1
                first_failure = first_failure or f"{status} {answer[:300]!r}"

    try:
        async with asyncio.timeout(seconds + 60):
            await asyncio.gather(*(worker(slot) for slot in range(len(live))))
    finally:
        elapsed = (perf() - started) / 1e9
        generator_cpu = time.process_time() - generator_cpu
        cpu_used = server_cpu() - cpu_before
        for connection in live:
            await connection.close()
    return Round(
        target=name,
        cart=cart,
        concurrency=len(connections),
        requests=len(samples),
        seconds=elapsed,
        server_cpu_s=cpu_used,
        generator_cpu_s=generator_cpu,
        failures=failures,
        samples_ns=samples,
        first_failure=first_failure,
    )


# ---------------------------------------------------------------------- statistics


def percentile(values: Sequence[int], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


@dataclass
class Summary:
    target: str
    cart: str
    rounds: int
    requests: int
    seconds: float
    rps: float
    round_rps: list[float]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    server_cpu_pct: float
    server_cpu_us_per_request: float
    generator_cpu_pct: float
    failures: int
    first_failure: str | None


def summarize(rounds: Sequence[Round]) -> Summary:
    samples = [s for r in rounds for s in r.samples_ns]
    seconds = sum(r.seconds for r in rounds)
    requests = sum(r.requests for r in rounds)
    return Summary(
        target=rounds[0].target,
        cart=rounds[0].cart,
        rounds=len(rounds),
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        round_rps=[r.rps for r in rounds],
        p50_ms=percentile(samples, 50) / 1e6,
        p90_ms=percentile(samples, 90) / 1e6,
        p99_ms=percentile(samples, 99) / 1e6,
        server_cpu_pct=100 * sum(r.server_cpu_s for r in rounds) / seconds if seconds else 0.0,
        server_cpu_us_per_request=1e6 * sum(r.server_cpu_s for r in rounds) / requests
        if requests
        else 0.0,
        generator_cpu_pct=100 * sum(r.generator_cpu_s for r in rounds) / seconds
        if seconds
        else 0.0,
        failures=sum(r.failures for r in rounds),
        first_failure=next((r.first_failure for r in rounds if r.first_failure), None),
    )


# ------------------------------------------------------------------------ profiling


CATEGORIES: tuple[tuple[tuple[str, ...], str], ...] = (
    # (substrings of py-spy frames "function (short/path.py)", category). A sample goes to
    # the first category, in this order, with a frame anywhere in its stack matching one
    # of the substrings (a substring starting with "=" only matches the innermost frame:
    # for middleware that wraps every request): the specific work first, the framework
    # layers around it last.
    # the compiled engine (mypyc) has no Python frames: its samples end in _run_engine
    (("(app/rules/", "_run_engine ("), "engine: app.rules price()"),
    (("(app/api/wording.py)",), "response: wording (descriptions, hints, messages)"),
    (
        ("QuoteResponse.from_quote (", "QuoteResponse.content (", "_line_content ("),
        "response: QuoteResponse content (dicts, or models for from_quote)",
    ),
    (
        ("(fakeredis/", "(redis/", "(lupa", "(app/inventory/"),
        "counters: stock/usage reads (redis-py; fakeredis when REDIS_URL is empty)",
    ),
    (
        ("(sqlalchemy/", "(aiosqlite/", "(asyncpg/", "(app/storage/"),
        "storage: coupon-code lookup (SQLAlchemy)",
    ),
    (("serialize_response (",), "FastAPI: response_model validation + JSON serialization"),
    (("request_body_to_args (",), "request: QuoteBody validation (pydantic)"),
    (("Request.json (", "Request.body (", "JSONDecoder"), "request: body read + JSON parse"),
    (("(app/api/auth.py)", "(fastapi/security/", "compare_digest"), "auth dependency"),
    (("solve_dependencies (",), "FastAPI: dependency resolution"),
    (
        ("(app/quoting/", "(app/api/routes/", "(app/api/records.py)", "(app/coupons/"),
        "quote glue (to_request, ...)",
    ),
    (("(logging/", "(uvicorn/logging.py)"), "uvicorn access log"),
    (("(prometheus_client/", "=(app/api/middleware.py)"), "metrics middleware"),
    (
        ("(app/promotions/snapshot.py)", "(app/inventory/sweeper.py)"),
        "background tasks (rules poll, sweeper)",
    ),
    (("Response.__call__ (", "RequestResponseCycle.send ("), "response: headers + write"),
    (("HttpToolsProtocol", "H11Protocol"), "uvicorn: HTTP parsing, connection handling"),
    (("(starlette/", "(fastapi/"), "Starlette/FastAPI: routing + middleware"),
    (("(asyncio/", "(uvloop", "(anyio/", "(threading.py)"), "event loop, threads"),
)


def read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def categorize(stacks: Counter[tuple[str, ...]]) -> dict[str, int]:
    out: Counter[str] = Counter()

    def matches(needle: str, joined: str, innermost: str) -> bool:
        return needle[1:] in innermost if needle.startswith("=") else needle in joined

    for stack, count in stacks.items():
        joined = ";".join(stack)
        category = next(
            (
                name
                for needles, name in CATEGORIES
                if any(matches(n, joined, stack[-1]) for n in needles)
            ),
            "other",
        )
        out[category] += count
    return dict(out.most_common())


def inclusive(stacks: Counter[tuple[str, ...]], top: int) -> list[tuple[str, int]]:
    """Samples with each function of the project (``app/``) on the stack."""
    out: Counter[str] = Counter()
    for stack, count in stacks.items():
        for frame in {f for f in stack[1:] if "(app/" in f and "(app/__main__.py)" not in f}:
            out[frame] += count
    return out.most_common(top)


def own(stacks: Counter[tuple[str, ...]], top: int) -> list[tuple[str, int]]:
    """Samples by the innermost Python function (own time)."""
    out: Counter[str] = Counter()
    for stack, count in stacks.items():
        out[stack[-1]] += count
    return out.most_common(top)


async def profile_target(
    py_spy: str,
    client: str,
    target: Target,
    cart: str,
    body: bytes,
    concurrency: int,
    seconds: float,
    out_dir: Path,
) -> dict[str, Any]:
    assert target.server is not None
    path = out_dir / f"py-spy-{target.name}-{cart}.txt"
    spy = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load, not per request
        [
            py_spy,
            "record",
            "--pid",
            str(target.server.proc.pid),
            "--subprocesses",
            "--gil",  # only threads holding the GIL: CPU work, not idle pool threads
            "--nonblocking",  # do not pause the server to sample it
            "--rate",
            "200",
            "--nolineno",
            "--format",
            "raw",
            "--duration",
            str(int(seconds)),
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    await asyncio.sleep(0.5)
    result = await drive(client, target, cart, body, concurrency, seconds + 1, 10**9)
    _, err = await asyncio.to_thread(spy.communicate, None, seconds + 60)
    if spy.returncode != 0 or not path.exists():
        return {"error": err.decode(errors="replace")[-2000:]}
    stacks = read_collapsed(path)
    samples = sum(stacks.values())
    return {
        "file": str(path),
        "samples": samples,
        "rps_under_profiler": result.rps,
        "categories": categorize(stacks),
        "inclusive": inclusive(stacks, 30),
        "own": own(stacks, 30),
    }


# ------------------------------------------------------------- in-process step costs


def step_costs(
    rule_bodies: Sequence[Mapping[str, Any]], bodies: Mapping[str, bytes], seconds: float
) -> dict[str, dict[str, float]]:
    """Median µs of each in-process step of a quote, in this process, per cart.

    The steps the service runs for a quote except the I/O (coupon-code lookup,
    counter reads) and the framework around them: JSON parse, ``QuoteBody``
    validation (the baseline does these two as well), ``to_request``, the engine
    (``app.rules.engine.price``, readings of a fresh service) and the response JSON
    (``QuoteResponse.json_of``: plain content, wording, one dump; what the route sends).
    """
    import statistics
    from zoneinfo import ZoneInfo

    from app.api.records import promotion_document
    from app.api.schemas import PromotionBody, QuoteBody, QuoteResponse
    from app.rules.engine import price
    from app.rules.model import PresentedCoupon
    from app.rules.ruleset import RuleSet

    tz = ZoneInfo(marketplace.DEFAULT_TIMEZONE)
    rules = RuleSet(
        [
            promotion_document(PromotionBody.model_validate(b)).to_record(default_timezone=tz)
            for b in rule_bodies
        ],
        version="steps",
    )
    perf = time.perf_counter_ns
    out: dict[str, dict[str, float]] = {}
    for cart, payload in bodies.items():
        timings: dict[str, list[int]] = defaultdict(list)
        deadline = perf() + int(seconds * 1e9)
        runs = 0
        while runs < 5 or (perf() < deadline and runs < 2_000):
            runs += 1
            t0 = perf()
            raw = json.loads(payload)
            t1 = perf()
            body = QuoteBody.model_validate(raw)
            t2 = perf()
            presented = tuple(
                PresentedCoupon(code=c, promotion_id=marketplace.COUPON_CODES.get(c))
                for c in body.coupon_codes
            )
            request = body.to_request(at=marketplace.AT, coupons=presented)
            t3 = perf()
            quote = price(rules, request)
            t4 = perf()
            QuoteResponse.json_of(quote)
            t5 = perf()
            for name, start, end in (
                ("parse JSON", t0, t1),
                ("QuoteBody", t1, t2),
                ("to_request", t2, t3),
                ("engine", t3, t4),
                ("response", t4, t5),
                ("total", t0, t5),
            ):
                timings[name].append(end - start)
        out[cart] = {name: statistics.median(v) / 1000 for name, v in timings.items()}
        out[cart]["runs"] = runs
    return out


def print_steps(steps: Mapping[str, Mapping[str, float]]) -> None:
    names = ("parse JSON", "QuoteBody", "to_request", "engine", "response", "total")
    print("\nin-process steps of a quote (this process, median µs; no I/O, no framework):")
    print(f"{'cart':<8} {'runs':>5} " + " ".join(f"{n:>11}" for n in names))
    for cart, costs in steps.items():
        print(
            f"{cart:<8} {int(costs['runs']):>5} " + " ".join(f"{costs[n]:>11,.0f}" for n in names)
        )
    print(
        "parse JSON + QuoteBody is what the baseline does too; response = "
        "QuoteResponse.json_of (content, wording, JSON)"
    )


# -------------------------------------------------------------------------- report


def code_version() -> str:
    """HEAD and a digest of the working tree's app/ sources (others may be editing them)."""
    import hashlib

    head = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    digest = hashlib.sha256()
    for path in sorted((ROOT / "app").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".lua", ".ini", ".mako"):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    # the servers import app with the same environment: the same engine build, unless
    # build/engine changes while they start
    engine = getattr(sys.modules["app"], "native", None)
    build = engine.ENGINE if engine is not None else "pure (no app/native.py)"
    return f"HEAD {head}, app/ sources sha256 {digest.hexdigest()[:12]}, engine {build}"


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn", "uvloop"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    for package in ("httptools", "httpx"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "versions": versions,
        "code": code_version(),
    }


def print_report(
    summaries: Mapping[tuple[str, str], Summary],
    serial: Mapping[tuple[str, str], Round],
    ceilings: Mapping[str, Round],
    carts: Sequence[str],
    expected: Mapping[str, int],
    concurrency: int,
) -> dict[str, Any]:
    verdict: dict[str, Any] = {}
    header = (
        f"{'cart':<8} {'target':<9} {'rounds':>6} {'requests':>8} {'req/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'srv CPU':>8} {'µs/req':>7} {'gen CPU':>8} {'c=1 p50':>8} "
        f"{'c=1 p99':>8}"
    )
    print(f"\nclosed loop, {concurrency} keep-alive connections")
    print(header)
    print("-" * len(header))
    for cart in carts:
        for name in ("baseline", "service"):
            s = summaries[(cart, name)]
            one = serial.get((cart, name))
            one_p50 = percentile(one.samples_ns, 50) / 1e6 if one else float("nan")
            one_p99 = percentile(one.samples_ns, 99) / 1e6 if one else float("nan")
            print(
                f"{cart:<8} {name:<9} {s.rounds:>6} {s.requests:>8,} {s.rps:>9,.0f} "
                f"{s.p50_ms:>8.2f} {s.p99_ms:>8.2f} {s.server_cpu_pct:>7.0f}% "
                f"{s.server_cpu_us_per_request:>7,.0f} "
                f"{s.generator_cpu_pct:>7.0f}% {one_p50:>8.2f} {one_p99:>8.2f}"
            )
        if cart in ceilings:
            c = ceilings[cart]
            print(
                f"{cart:<8} {'ceiling':<9} {1:>6} {c.requests:>8,} {c.rps:>9,.0f} "
                f"{percentile(c.samples_ns, 50) / 1e6:>8.2f} "
                f"{percentile(c.samples_ns, 99) / 1e6:>8.2f} "
                f"{100 * c.server_cpu_s / c.seconds:>7.0f}% {'':>7} "
                f"{100 * c.generator_cpu_s / c.seconds:>7.0f}%"
            )
    print(
        "µs/req: server CPU time (user + system, from /proc) per answered request; "
        "c=1: one connection, unloaded latency"
    )
    print(
        "ceiling: the same generator against a canned asyncio server (no framework); "
        "whichever side is at 100% CPU limits it, so the generator can measure at least this"
    )
    print()
    all_ok = True
    for cart in carts:
        base, svc = summaries[(cart, "baseline")], summaries[(cart, "service")]
        ratio = svc.rps / base.rps if base.rps else float("nan")
        pairs = [s / b for s, b in zip(svc.round_rps, base.round_rps, strict=True) if b]
        met = ratio >= TARGET_RATIO
        checks = svc.failures == 0 and base.failures == 0
        all_ok &= met and checks
        ceiling = ceilings.get(cart)
        headroom = (
            f"; baseline at {base.rps / ceiling.rps:.0%} of the generator ceiling"
            if ceiling and ceiling.rps
            else ""
        )
        print(
            f"{cart}: service/baseline = {svc.rps:,.0f}/{base.rps:,.0f} req/s = {ratio:.3f}x "
            f"(rounds {min(pairs):.3f}–{max(pairs):.3f}x; target ≥ {TARGET_RATIO}x: "
            f"{'met' if met else 'NOT met'}){headroom}"
        )
        print(
            f"  check: {svc.requests:,} service responses, "
            f"{'all 200 with total ' + str(expected[cart]) if svc.failures == 0 else 'FAILURES: ' + str(svc.failures) + ' e.g. ' + str(svc.first_failure)}; "  # noqa: E501
            f"{base.requests:,} baseline responses, "
            f"{'all 200 with the fixed body' if base.failures == 0 else 'FAILURES: ' + str(base.failures) + ' e.g. ' + str(base.first_failure)}"  # noqa: E501
        )
        allowed = base.server_cpu_us_per_request * (1 / TARGET_RATIO - 1)
        extra = svc.server_cpu_us_per_request - base.server_cpu_us_per_request
        print(
            f"  CPU per request: baseline {base.server_cpu_us_per_request:,.0f} µs, service "
            f"{svc.server_cpu_us_per_request:,.0f} µs: the service adds {extra:,.0f} µs where "
            f"{TARGET_RATIO}x allows {allowed:,.0f} µs"
        )
        verdict[cart] = {
            "ratio": ratio,
            "round_ratios": pairs,
            "met": met,
            "checks_ok": checks,
            "extra_cpu_us": extra,
            "allowed_extra_cpu_us": allowed,
        }
    verdict["all_ok"] = all_ok
    return verdict


def print_profile(name: str, cart: str, profile: Mapping[str, Any]) -> None:
    print(f"\n--- py-spy: {name}, {cart} cart ---")
    if "error" in profile:
        print(f"py-spy failed: {profile['error']}")
        return
    samples = profile["samples"] or 1
    rate = profile["rps_under_profiler"]
    print(
        f"{profile['samples']:,} samples at 200 Hz, GIL holders only ({profile['file']})"
        + (f"; {rate:,.0f} req/s while sampled" if rate == rate else "")
    )
    print("by category (first match in CATEGORIES order):")
    for category, count in profile["categories"].items():
        print(f"  {100 * count / samples:5.1f}%  {category}")
    print("project functions, inclusive (on the stack):")
    for frame, count in profile["inclusive"][:15]:
        print(f"  {100 * count / samples:5.1f}%  {frame}")
    print("own time (innermost Python function):")
    for frame, count in profile["own"][:15]:
        print(f"  {100 * count / samples:5.1f}%  {frame}")


# ----------------------------------------------------------------------------- main


@dataclass
class Plan:
    carts: list[str]
    concurrency: int
    rounds: int
    round_seconds: float
    round_max: int
    warmup_seconds: float
    serial_seconds: float
    serial_max: int
    ceiling_seconds: float
    client: str

    def seconds(self, round_seconds: float | None = None) -> float:
        """About how long ``measure`` takes (0.2 s per phase for connecting and draining)."""
        each = round_seconds if round_seconds is not None else self.round_seconds
        phases = 1 + 2 + 2 * self.rounds + 2
        per_cart = (
            self.ceiling_seconds
            + 2 * self.warmup_seconds
            + 2 * self.rounds * each
            + 2 * self.serial_seconds
            + 0.2 * phases
        )
        return len(self.carts) * per_cart

    def fit(self, available: float, shortest: float = 1.0) -> str | None:
        """Shorten the rounds to fit ``available`` seconds (not below ``shortest``)."""
        if self.seconds() <= available:
            return None
        fixed = self.seconds(0.0)
        fitted = max(shortest, (available - fixed) / (len(self.carts) * 2 * self.rounds))
        note = (
            f"time budget: rounds shortened from {self.round_seconds:g}s to {fitted:.1f}s "
            f"({available:.0f}s left for measuring)"
        )
        self.round_seconds = round(fitted, 1)
        return note


def _pinning(args: argparse.Namespace) -> tuple[set[int] | None, set[int] | None]:
    if args.no_pin:
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < args.workers + 1:
        log(f"not pinning: {len(cpus)} CPUs for {args.workers} worker(s) + the generator")
        return None, None
    return set(cpus[: args.workers]), {cpus[args.workers]}


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class Measured:
    summaries: dict[tuple[str, str], Summary] = field(default_factory=dict)
    serial: dict[tuple[str, str], Round] = field(default_factory=dict)
    ceilings: dict[str, Round] = field(default_factory=dict)


async def measure(
    plan: Plan,
    targets: Mapping[str, Target],
    ceiling: Target | None,
    bodies: Mapping[str, bytes],
    expected: Mapping[str, int],
) -> Measured:
    """Per cart: the generator's ceiling, a warm-up of both, then ``plan.rounds`` rounds of
    each, alternating ABBA (B S, S B, B S, ...), then the one-connection phase."""
    out = Measured()
    for cart in plan.carts:
        body = bodies[cart]
        targets["service"].check = service_check(expected[cart])

        async def run(target: Target, concurrency: int, seconds: float, most: int) -> Round:
            return await drive(plan.client, target, cart, body, concurrency, seconds, most)  # noqa: B023

        if ceiling is not None and plan.ceiling_seconds > 0:
            out.ceilings[cart] = await run(ceiling, plan.concurrency, plan.ceiling_seconds, 10**7)
            log(f"{cart}: generator ceiling at least {out.ceilings[cart].rps:,.0f} req/s")
        for name in ("baseline", "service"):
            warm = await run(targets[name], plan.concurrency, plan.warmup_seconds, plan.round_max)
            if warm.failures:
                raise SystemExit(f"{name}, {cart} cart, warm-up: {warm.first_failure}")
        rounds: dict[str, list[Round]] = defaultdict(list)
        for number in range(plan.rounds):
            order = ("baseline", "service") if number % 2 == 0 else ("service", "baseline")
            for name in order:
                result = await run(
                    targets[name], plan.concurrency, plan.round_seconds, plan.round_max
                )
                rounds[name].append(result)
                log(
                    f"{cart} round {number + 1}/{plan.rounds} {name:<8} {result.rps:9,.0f} req/s"
                    f"  p50 {percentile(result.samples_ns, 50) / 1e6:7.2f} ms"
                    f"  server CPU {100 * result.server_cpu_s / result.seconds:4.0f}%"
                    + (f"  FAILURES {result.failures}" if result.failures else "")
                )
        for name, results in rounds.items():
            out.summaries[(cart, name)] = summarize(results)
        if plan.serial_seconds > 0:
            for name in ("baseline", "service"):
                out.serial[(cart, name)] = await run(
                    targets[name], 1, plan.serial_seconds, plan.serial_max
                )
    return out


def service_check(expected_total: int) -> Callable[[int, bytes], bool]:
    def check(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        found = TOTAL.search(body)
        return found is not None and int(found.group(1)) == expected_total

    return check


def fixed_body_check(status: int, body: bytes) -> bool:
    return status == 200 and body == FIXED_BYTES


def _install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_http",
        description="Quote requests/s of the service against a bare FastAPI endpoint "
        "validating the same body, same server settings, same run.",
    )
    add = parser.add_argument
    add("--size", type=int, default=marketplace.DEFAULT_SIZE, help="promotions to load")
    add("--seed", type=int, default=marketplace.DEFAULT_SEED, help="long-tail generator seed")
    add("--carts", default="typical,heavy", help="comma-separated: typical,heavy")
    add(
        "--load",
        choices=["api", "direct"],
        default="api",
        help="api: POST each promotion; direct: write them to the database in one "
        "transaction (large sizes), codes through the API",
    )
    add("--concurrency", type=int, default=16, help="keep-alive connections (default: 16)")
    add("--rounds", type=int, default=4, help="timed rounds per target and cart (default: 4)")
    add("--round-seconds", type=float, default=3.0, help="length of a round (default: 3)")
    add("--round-max", type=int, default=100_000, help="requests per round, at most")
    add("--warmup-seconds", type=float, default=1.0)
    add("--serial-seconds", type=float, default=1.0, help="one-connection phase; 0: skip")
    add("--serial-max", type=int, default=300, help="requests in the one-connection phase")
    add("--ceiling-seconds", type=float, default=1.5, help="generator ceiling phase; 0: skip")
    add("--steps-seconds", type=float, default=1.0, help="in-process step costs; 0: skip")
    add("--client", choices=("raw", "httpx"), default="raw", help="load generator")
    add("--workers", type=int, default=int(os.environ.get("WORKERS", "1")), help="WORKERS")
    add("--database-url", default="", help="default: SQLite in a temp dir")
    add("--redis-url", default="", help="default: in-process fakeredis")
    add("--load-concurrency", type=int, default=4, help="admin requests in flight")
    add("--budget", type=float, default=170.0, help="total seconds; rounds shrink to fit")
    add("--no-pin", action="store_true", help="do not pin the servers and the generator")
    add("--profile-seconds", type=float, default=0.0, help="py-spy each server this long")
    add("--profile-dir", default="", help="keep the py-spy stacks here")
    add("--json", default="", help="write every number to this file")
    add("--summarize", nargs="+", default=[], help="only summarize saved py-spy raw files")
    add("--keep", action="store_true", help="keep the temp dir (server logs, database)")
    add("--check", action="store_true", help="exit 1 unless the target is met")
    add("--seed-only", action="store_true", help="load the rule set into --url and exit")
    add("--url", default="", help="with --seed-only: the service's base URL")
    add("--admin-key", default="", help="with --seed-only: an admin key")
    return parser.parse_args(argv)


def seed_only(args: argparse.Namespace) -> int:
    if not args.url or not args.admin_key:
        raise SystemExit("--seed-only needs --url and --admin-key")
    bodies = marketplace.rule_set(args.size, args.seed)
    log(f"loading {len(bodies):,} promotions into {args.url}")
    took = asyncio.run(
        load_rules(
            args.url, args.admin_key, bodies, marketplace.COUPON_CODES, args.load_concurrency
        )
    )
    log(f"loaded in {took:.1f}s")
    for name, build in marketplace.CARTS.items():
        quote = marketplace.expected_quote(bodies, build())
        print(f"{name} cart: expected total {quote.total} (subtotal {quote.subtotal})")
    return 0


async def _cleanup_postgres(url: str, schema: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


async def _cleanup_redis(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def server_env(args: argparse.Namespace, workdir: Path, keys: str, token: str) -> dict[str, str]:
    """The environment of all three servers (each gets its own PORT)."""
    env = {
        **os.environ,
        "HOST": HOST,
        "WORKERS": str(args.workers),
        "PRICING_API_KEYS": keys,
        "DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{workdir / 'pricing.db'}",
        "REDIS_URL": args.redis_url,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    if args.database_url.startswith("postgresql"):
        env["DATABASE_SCHEMA"] = f"bench_http_{token}"  # fresh tables; dropped afterwards
    if args.redis_url:
        env["REDIS_PREFIX"] = f"bench-http-{token}:"  # fresh keys; deleted afterwards
    return env


def launch(
    args: argparse.Namespace, env: Mapping[str, str], workdir: Path, cpus: set[int] | None
) -> dict[str, Server]:
    commands = {
        "service": [sys.executable, "-m", "app"],
        "baseline": [sys.executable, "-m", "loadtests.baseline_app"],
    }
    if args.ceiling_seconds > 0:
        commands["canned"] = [sys.executable, "-m", "loadtests.baseline_app", "--canned"]
    servers: dict[str, Server] = {}
    for name, argv in commands.items():
        port = free_port()
        servers[name] = start_server(name, argv, {**env, "PORT": str(port)}, workdir, port, cpus)
    return servers


def profile_all(
    args: argparse.Namespace,
    targets: Mapping[str, Target],
    bodies: Mapping[str, bytes],
    expected: Mapping[str, int],
    workdir: Path,
) -> dict[str, Any]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("\n--profile-seconds: py-spy not found (.venv/bin/pip install py-spy)")
        return {}
    directory = Path(args.profile_dir) if args.profile_dir else workdir
    directory.mkdir(parents=True, exist_ok=True)
    profiles: dict[str, Any] = {}
    for cart, body in bodies.items():
        targets["service"].check = service_check(expected[cart])
        for name in ("service", "baseline"):
            found = asyncio.run(
                profile_target(
                    py_spy,
                    args.client,
                    targets[name],
                    cart,
                    body,
                    args.concurrency,
                    args.profile_seconds,
                    directory,
                )
            )
            profiles[f"{name}/{cart}"] = found
            print_profile(name, cart, found)
    return profiles


def run(args: argparse.Namespace, plan: Plan, workdir: Path, began: float) -> dict[str, Any]:
    server_cpus, generator_cpus = _pinning(args)
    info = machine()
    log(
        f"{info['cpus']} CPUs ({info['cpu_model']}), load {info['loadavg'][0]:.2f}; "
        f"servers on CPUs {sorted(server_cpus) if server_cpus else 'any'}, "
        f"generator on {sorted(generator_cpus) if generator_cpus else 'any'}"
    )
    rule_bodies = marketplace.rule_set(args.size, args.seed)
    bodies = {
        name: json.dumps(marketplace.CARTS[name](), separators=(",", ":")).encode()
        for name in plan.carts
    }
    expected = {
        name: marketplace.expected_quote(rule_bodies, json.loads(bodies[name])).total
        for name in plan.carts
    }
    log(f"rule set: {len(rule_bodies):,} promotions; expected totals {expected}")

    checkout_key, admin_key = "ck-" + secrets.token_hex(16), "ak-" + secrets.token_hex(16)
    env = server_env(
        args, workdir, f"checkout:{checkout_key},admin:{admin_key}", secrets.token_hex(4)
    )
    servers = launch(args, env, workdir, server_cpus)
    try:
        service, baseline = servers["service"], servers["baseline"]
        up = wait_until_up(service, "/healthz")
        wait_until_up(baseline, "/healthz")  # 404: it has no such route, but it answers
        if "canned" in servers:
            wait_until_up(servers["canned"], "/")
        log(f"service up in {up:.1f}s (pid {service.proc.pid}, port {service.port})")
        launched = next(
            (
                line
                for line in baseline.log_path.read_text(errors="replace").splitlines()
                if line.startswith("baseline:")
            ),
            "baseline: launch line missing",
        )
        log(launched)

        if generator_cpus:
            os.sched_setaffinity(0, generator_cpus)
        _install_uvloop()
        codes = marketplace.COUPON_CODES
        if args.load == "direct":
            loaded = asyncio.run(load_rules_direct(env, service.url, admin_key, rule_bodies, codes))
        else:
            loaded = asyncio.run(
                load_rules(service.url, admin_key, rule_bodies, codes, args.load_concurrency)
            )
        log(
            f"{len(rule_bodies):,} promotions and {len(codes)} codes loaded ({args.load}) "
            f"in {loaded:.1f}s"
        )
        try:
            live = asyncio.run(
                wait_live(
                    service.url,
                    checkout_key,
                    bodies,
                    expected,
                    args.workers,
                    deadline_s=30 + len(rule_bodies) / 100,  # a reload per rules write
                )
            )
        except SystemExit:
            log(f"service log:\n{service.tail()}")
            raise
        log(f"rules live: quotes as expected after {live:.1f}s")

        profile_cost = (
            2 * len(plan.carts) * (args.profile_seconds + 3) if args.profile_seconds else 0
        )
        steps_cost = len(plan.carts) * (args.steps_seconds + 0.5) if args.steps_seconds else 0
        spent = time.monotonic() - began
        note = plan.fit(args.budget - spent - 10 - profile_cost - steps_cost)
        if note:
            log(note)

        targets = {
            "baseline": Target("baseline", baseline.port, checkout_key, fixed_body_check, baseline),
            "service": Target("service", service.port, checkout_key, service_check(0), service),
        }
        canned = servers.get("canned")
        ceiling = (
            Target("ceiling", canned.port, checkout_key, fixed_body_check, canned)
            if canned
            else None
        )
        for target in (*targets.values(), *([ceiling] if ceiling else [])):
            assert target.server is not None
            target.pids = target.server.pids()
        measured = asyncio.run(measure(plan, targets, ceiling, bodies, expected))

        info["loadavg_end"] = os.getloadavg()
        storage = " + ".join(
            (
                "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite",
                "Redis" if args.redis_url else "fakeredis",
            )
        )
        print(
            f"\nmachine: {info['cpus']} CPUs ({info['cpu_model']}), {info['platform']}, "
            f"Python {info['python']}; load average {info['loadavg'][0]:.2f} at start, "
            f"{info['loadavg_end'][0]:.2f} at end"
        )
        print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
        print(f"code: {info['code']}")
        print(
            f"servers: WORKERS={args.workers}, pinned to CPUs "
            f"{sorted(server_cpus) if server_cpus else 'any'}; generator ({args.client}) on "
            f"{sorted(generator_cpus) if generator_cpus else 'any'}; storage: {storage}; "
            f"{len(rule_bodies):,} promotions loaded ({args.load}) in {loaded:.1f}s"
        )
        print(launched)
        if note:
            print(note)
        verdict = print_report(
            measured.summaries,
            measured.serial,
            measured.ceilings,
            plan.carts,
            expected,
            args.concurrency,
        )
        steps = step_costs(rule_bodies, bodies, args.steps_seconds) if args.steps_seconds else {}
        if steps:
            print_steps(steps)
        profiles = (
            profile_all(args, targets, bodies, expected, workdir) if args.profile_seconds else {}
        )
    finally:
        for server in reversed(list(servers.values())):
            stop_server(server)
        if args.database_url.startswith("postgresql"):
            with contextlib.suppress(Exception):
                asyncio.run(_cleanup_postgres(args.database_url, env["DATABASE_SCHEMA"]))
        if args.redis_url:
            with contextlib.suppress(Exception):
                asyncio.run(_cleanup_redis(args.redis_url, env["REDIS_PREFIX"]))
    return {
        "machine": info,
        "plan": asdict(plan),
        "expected": expected,
        "baseline_launch": launched,
        "load_seconds": loaded,
        "summaries": {f"{c}/{t}": asdict(s) for (c, t), s in measured.summaries.items()},
        "serial": {
            f"{c}/{t}": {
                "requests": r.requests,
                "p50_ms": percentile(r.samples_ns, 50) / 1e6,
                "p99_ms": percentile(r.samples_ns, 99) / 1e6,
            }
            for (c, t), r in measured.serial.items()
        },
        "ceilings": {
            c: {
                "rps": r.rps,
                "server_cpu_pct": 100 * r.server_cpu_s / r.seconds,
                "generator_cpu_pct": 100 * r.generator_cpu_s / r.seconds,
            }
            for c, r in measured.ceilings.items()
        },
        "verdict": verdict,
        "steps_us": steps,
        "profiles": profiles,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seed_only:
        return seed_only(args)
    if args.summarize:
        for name in args.summarize:
            stacks = read_collapsed(Path(name))
            summary = {
                "file": name,
                "samples": sum(stacks.values()),
                "rps_under_profiler": float("nan"),
                "categories": categorize(stacks),
                "inclusive": inclusive(stacks, 30),
                "own": own(stacks, 30),
            }
            print_profile(Path(name).stem, "saved", summary)
        return 0
    began = time.monotonic()
    carts = [c.strip() for c in args.carts.split(",") if c.strip()]
    unknown = set(carts) - set(marketplace.CARTS)
    if unknown:
        raise SystemExit(f"unknown carts {sorted(unknown)}; known: {sorted(marketplace.CARTS)}")
    plan = Plan(
        carts=carts,
        concurrency=args.concurrency,
        rounds=args.rounds,
        round_seconds=args.round_seconds,
        round_max=args.round_max,
        warmup_seconds=args.warmup_seconds,
        serial_seconds=args.serial_seconds,
        serial_max=args.serial_max,
        ceiling_seconds=args.ceiling_seconds,
        client=args.client,
    )
    with workspace(args.keep) as workdir:
        result = run(args, plan, workdir, began)
    result["seconds"] = time.monotonic() - began
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nbenchmark took {result['seconds']:.0f}s")
    return 0 if result["verdict"]["all_ok"] or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
