"""Start-up with a dependency down: the database unreachable ends ``python -m app`` with
one clear line (exit status 1); Redis unreachable starts the service degraded, and its
reconnect loop warns in one line, not a traceback every try."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import pytest

from tests.conftest import Start
from tests.integration.processes import ROOT, free_port


async def test_an_unreachable_database_is_one_line_and_exit_status_1() -> None:
    port = free_port()  # nothing listens there
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test",
        "DB_TIMEOUT_SECONDS": "2",
        "PORT": "18504",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, err.decode()
    assert lines[0].startswith(
        f"cannot start: PostgreSQL at 127.0.0.1:{port}/test is unreachable ("
    )
    assert lines[0].endswith("Check DATABASE_URL.")
    assert "Traceback" not in err.decode() + out.decode()


async def test_redis_down_warns_in_one_line_not_a_traceback_a_try(
    start_sqlite: Start, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        port = free_port()
        running = await start_sqlite(
            redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_seconds=0.3
        )
        await asyncio.sleep(2.5)  # the channel retries after 0.2, 0.4, 0.8 s ...
        ready = await running.client.get("/readyz")
    assert ready.status_code == 503  # started, degraded
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    channel = [r for r in warnings if "rules channel lost" in r.getMessage()]
    assert len(channel) == 1, [r.getMessage() for r in warnings]
    assert f"ConnectionError: Error 111 connecting to 127.0.0.1:{port}" in channel[0].getMessage()
    assert all(r.exc_info is None for r in warnings), [r.getMessage() for r in warnings]
