"""Real ``python -m app`` processes for the tests that need several, or one to kill."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx

from tests.conftest import (
    KEYS,
    PG_URL,
    REDIS_URL,
    delete_prefix,
    drop_schema,
    postgres_options,
)

ROOT = Path(__file__).resolve().parents[2]

Started = tuple[httpx.AsyncClient, asyncio.subprocess.Process]
Starter = Callable[..., Awaitable[Started]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_healthy(client: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"the service exited with {process.returncode}")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the service did not become ready in 30 s")


@asynccontextmanager
async def services(tmp_path: Path, **env: str) -> AsyncIterator[Starter]:
    """Starts ``python -m app`` processes on one fresh schema and key prefix."""
    options = postgres_options()
    base = {
        **os.environ,
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": options["database_schema"],
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": options["redis_prefix"],
        "PRICING_API_KEYS": KEYS,
        "HOST": "127.0.0.1",
        **env,
    }
    processes: list[asyncio.subprocess.Process] = []
    async with AsyncExitStack() as stack:

        async def start(name: str, port: int | None = None, **more: str) -> Started:
            port = port or free_port()
            log = stack.enter_context((tmp_path / f"{name}.log").open("wb"))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app", cwd=ROOT, env={**base, **more, "PORT": str(port)},
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            processes.append(process)
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)
            )
            await wait_healthy(client, process)
            return client, process

        try:
            yield start
        finally:
            for process in processes:
                if process.returncode is None:
                    process.terminate()
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            await drop_schema(options["database_schema"])
            await delete_prefix(options["redis_prefix"])
