"""Load shedding in front of the process: the balancer of docker-compose.yml, run for real.

``ops/nginx/nginx.conf`` (with ``templates/in_flight.conf.template`` rendered
as the nginx image renders it) runs in a real nginx in front of a real
``python -m app``; only the addresses and file paths are the test's own. A
burst far beyond the balancer's bound gets the service's ``overloaded``
problem at once from nginx, the service never sees the excess, and the quotes
it admitted take as long inside the service as they do without the burst.

The in-process bound alone cannot give that on one event loop: there every
refused request still costs the loop its accept, parse and answer while the
admitted ones wait (``test_faults.py``'s overload test, docs/resilience.md).
To show the split a deployment has (the balancer on its own CPU), nginx and
this test's load run on CPU 1 and the service on CPU 0 when the machine has
two CPUs or more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from tests.conftest import CHECKOUT
from tests.integration.processes import ROOT, free_port, services

pytestmark = pytest.mark.slow

NGINX = ROOT / "ops" / "nginx"
BOUND = 4  # LB_MAX_IN_FLIGHT of this test
BURST = 150
BURSTS = 5


def render(workdir: Path, *, listen: int, upstream: int, bound: int) -> Path:
    """ops/nginx as the image would run it, on the test's ports and paths."""
    conf = (NGINX / "nginx.conf").read_text()
    replaced = {
        "listen 8080;": f"listen 127.0.0.1:{listen};",
        "http://pricing:8000": f"http://127.0.0.1:{upstream}",
        "pid /tmp/nginx.pid;": f"pid {workdir}/nginx.pid;",
        "/tmp/client_body": f"{workdir}/client_body",
        "/tmp/proxy": f"{workdir}/proxy",
    }
    for old, new in replaced.items():
        assert old in conf, f"ops/nginx/nginx.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    (workdir / "nginx.conf").write_text(conf)
    template = (NGINX / "templates" / "in_flight.conf.template").read_text()
    assert "${LB_MAX_IN_FLIGHT}" in template
    (workdir / "conf.d").mkdir()
    (workdir / "conf.d" / "in_flight.conf").write_text(
        template.replace("${LB_MAX_IN_FLIGHT}", str(bound))
    )
    return workdir / "nginx.conf"


def pinned(cpu: int) -> list[str]:
    """``taskset`` onto ``cpu`` when there are two CPUs or more and taskset is here."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


@contextlib.contextmanager
def nginx(workdir: Path, *, upstream: int, bound: int) -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light): the balancer is not run")
    port = free_port()
    conf = render(workdir, listen=port, upstream=upstream, bound=bound)
    check = subprocess.run(
        [binary, "-t", "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [*pinned(1), binary, "-p", str(workdir), "-c", str(conf), "-e",
         str(workdir / "error.log"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (workdir / "error.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Served(NamedTuple):
    quotes: float  # answered by the service
    shed: float  # refused by the service itself


async def metrics(client: httpx.AsyncClient) -> Served:
    """The quotes the service answered and the requests it shed, from its /metrics."""
    quotes = shed = 0.0
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("pricing_http_shed_total "):
            shed = float(line.rsplit(" ", 1)[1])
        elif line.startswith("pricing_http_request_duration_seconds_count{") and (
            'route="/v1/quote"' in line
        ):
            quotes = float(line.rsplit(" ", 1)[1])
    return Served(quotes, shed)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


class Connections:
    """Keep-alive HTTP/1.1 connections opened first, so that a burst is a burst: every
    request is written within a few milliseconds (a client library on this machine's
    two CPUs opens and sends one connection at a time, slower than a quote is served)."""

    def __init__(self, port: int, payload: bytes) -> None:
        self.port = port
        self.payload = payload
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open(self, n: int) -> None:
        while len(self.streams) < n:
            self.streams.append(await asyncio.open_connection("127.0.0.1", self.port))

    async def send(self, n: int) -> list[Answer]:
        await self.open(n)
        started = time.perf_counter()
        for _, writer in self.streams[:n]:
            writer.write(self.payload)
        return await asyncio.gather(*(self._read(r, started) for r, _ in self.streams[:n]))

    @staticmethod
    async def _read(reader: asyncio.StreamReader, started: float) -> Answer:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head.strip().split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers["content-length"]))
        assert headers.get("connection", "").lower() != "close", head
        return Answer(int(status_line[9:12]), headers, body, time.perf_counter() - started)

    async def close(self) -> None:
        for _, writer in self.streams:
            writer.close()


def request(body: dict[str, object]) -> bytes:
    content = json.dumps(body).encode()
    auth = "".join(f"{k}: {v}\r\n" for k, v in CHECKOUT.items())
    return (
        f"POST /v1/quote HTTP/1.1\r\nHost: pricing\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n\r\n"
    ).encode() + content


async def test_the_balancer_sheds_a_burst_and_the_service_keeps_its_latency(
    tmp_path: Path,
) -> None:
    payload = request({"currency": "CNY", "lines": [{"sku": "F", "qty": 1, "unit_price": 3000}]})
    async with services(tmp_path, MAX_IN_FLIGHT_REQUESTS="64") as start:
        direct, process = await start("front")
        if pinned(0):
            os.sched_setaffinity(process.pid, {0})
        mine = os.sched_getaffinity(0)
        with nginx(tmp_path, upstream=int(direct.base_url.port or 0), bound=BOUND) as url:
            if pinned(1):
                os.sched_setaffinity(0, {1})
            front = Connections(int(url.rsplit(":", 1)[1]), payload)
            try:
                await front.open(BURST)
                for _ in range(10):  # warm: the balancer's and the service's first requests
                    assert [a.status for a in await front.send(1)] == [200]
                # and every connection's first request (the first burst through fresh
                # connections took ~160 ms at the client, every answer alike)
                warm = await front.send(BURST)
                alone = [(await front.send(1))[0] for _ in range(20)]
                before = await metrics(direct)
                # unloaded: the bound's worth at a time, nothing beyond it
                at_bound = [a for _ in range(20) for a in await front.send(BOUND)]
                unloaded = await metrics(direct)
                answers: list[Answer] = []
                for _ in range(BURSTS):
                    answers += await front.send(BURST)
                    health = await direct.get("/healthz")
                    assert health.status_code == 200
                burst = await metrics(direct)
                async with httpx.AsyncClient(base_url=url, timeout=5) as probe:
                    assert (await probe.get("/healthz")).status_code == 200  # not bounded
            finally:
                await front.close()
                os.sched_setaffinity(0, mine)

    assert {a.status for a in alone + at_bound} == {200}
    admitted = [a for a in answers if a.status == 200]
    shed = [a for a in answers if a.status != 200]
    assert len(admitted) >= BURSTS * BOUND, "each burst admits at least the bound's worth"
    assert len(shed) >= BURSTS * BURST // 2, f"only {len(shed)} of {len(answers)} were shed"
    for answer in shed:
        assert answer.status == 503, answer
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "1"
        problem = json.loads(answer.body)
        assert problem["code"] == "overloaded"
        assert problem["status"] == 503
        assert set(problem) == {"type", "title", "status", "detail", "code"}
    # the service saw only what the balancer admitted: it refused nothing itself, and
    # answered exactly the admitted quotes
    assert burst.shed == before.shed, "the service had to shed: the balancer let the excess through"
    assert burst.quotes - unloaded.quotes == len(admitted)
    # each quote's time inside the service, from its access log, in the order answered
    inside = [
        line["duration_ms"]
        for line in map(json.loads, (tmp_path / "front.log").read_text().splitlines())
        if line.get("route") == "/v1/quote"
    ]
    warmed = sum(1 for a in warm if a.status == 200)
    assert len(inside) == 10 + warmed + len(alone) + len(at_bound) + len(admitted)
    in_burst = inside[-len(admitted) :]
    inside_at_bound = inside[-len(admitted) - len(at_bound) : -len(admitted)]
    inside_alone = inside[10 + warmed : 10 + warmed + len(alone)]
    print(
        f"inside the service, median (p90) per quote: {summary(inside_alone)} alone, "
        f"{summary(inside_at_bound)} with {BOUND} at a time, {summary(in_burst)} admitted "
        f"during {BURSTS} bursts of {BURST} ({len(admitted)} admitted, {len(shed)} shed); "
        f"at the client: {summary([a.seconds * 1000 for a in alone])} alone, "
        f"{summary([a.seconds * 1000 for a in at_bound])} {BOUND} at a time, "
        f"{summary([a.seconds * 1000 for a in admitted])} admitted, "
        f"{summary([a.seconds * 1000 for a in shed])} shed"
    )
    # admitted quotes keep the latency they have with the bound's worth in flight
    assert statistics.median(in_burst) <= 2 * statistics.median(inside_at_bound)


def summary(milliseconds: list[float]) -> str:
    ordered = sorted(milliseconds)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(ordered):.2f} ({p90:.2f}) ms"


def test_the_template_is_what_compose_renders() -> None:
    """The image's entrypoint substitutes ``${LB_MAX_IN_FLIGHT}`` from the lb's
    environment, which compose sets; nginx.conf includes the rendered file."""
    compose = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"LB_MAX_IN_FLIGHT: \$\{LB_MAX_IN_FLIGHT:-\d+\}", compose)
    assert "./ops/nginx/templates:/etc/nginx/templates:ro" in compose
    assert "include conf.d/in_flight.conf;" in (NGINX / "nginx.conf").read_text()
