"""``python -m app`` with ``WORKERS=2``: prometheus-client's multiprocess mode, so
``/metrics`` shows every worker's counts whichever worker answers, and the
JSON request log on stderr."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    CHECKOUT,
    KEYS,
    PG_URL,
    REDIS_URL,
    delete_prefix,
    drop_schema,
    postgres_options,
)
from tests.integration.processes import ROOT, free_port

QUOTES = 20
CART = {"lines": [{"sku": "A", "qty": 1, "unit_price": 1000}]}


def counts(text: str) -> tuple[float, set[str]]:
    """Quotes answered, and the pids of the in-flight gauge's series."""
    quotes, pids = 0.0, set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pricing_quotes_total":
                quotes += sample.value
            if sample.name == "pricing_http_in_flight":
                pids.add(sample.labels.get("pid", ""))
    return quotes, pids


async def test_metrics_add_up_every_worker(tmp_path: Path) -> None:
    options = postgres_options()
    port = int(os.environ.get("LOADTEST_PORT") or free_port())
    env = {
        **os.environ,
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": options["database_schema"],
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": options["redis_prefix"],
        "PRICING_API_KEYS": KEYS,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_99999.db").write_bytes(b"")  # a previous run's: removed
    log = (tmp_path / "service.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
    )  # fmt: skip
    # no keep-alive: a connection each, which the kernel spreads over the workers
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=5,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.returncode is None, (tmp_path / "service.log").read_text()[-2000:]
            try:
                if (await client.get("/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "not ready in 60 s"
            await asyncio.sleep(0.2)
        for n in range(QUOTES):
            answer = await client.post(
                "/v1/quote", json=CART, headers={**CHECKOUT, "X-Request-ID": f"q-{n}"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-request-id"] == f"q-{n}"
        pids: set[str] = set()
        for _ in range(6):
            quotes, seen = counts((await client.get("/metrics")).text)
            assert quotes == QUOTES  # every worker's, whichever answered
            pids |= seen
        assert len(pids - {""}) == 2  # one in-flight gauge per worker: multiprocess mode
    finally:
        await client.aclose()
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()
        await drop_schema(options["database_schema"])
        await delete_prefix(options["redis_prefix"])
    assert not (tmp_path / "metrics" / "counter_99999.db").exists()
    lines = [
        json.loads(line)
        for line in (tmp_path / "service.log").read_text().splitlines()
        if line.startswith("{")
    ]
    logged = {line["request_id"] for line in lines if line.get("logger") == "app.access"}
    assert logged >= {f"q-{n}" for n in range(QUOTES)}
