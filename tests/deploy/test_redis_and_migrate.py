"""The settings that pick a Redis Cluster client, and the one-shot migration step
(``python -m app.cli.migrate``, the compose file's ``migrate`` service) on PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
from alembic.script import ScriptDirectory
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import Settings
from app.storage.db import alembic_config
from app.storage.redis_client import make_redis
from tests.conftest import PG_URL, drop_schema, postgres_options
from tests.deploy.dockerfile import ROOT


@pytest.mark.parametrize(
    ("url", "cluster", "expected"),
    [
        ("redis://127.0.0.1:6379/0", False, Redis),
        ("redis://127.0.0.1:18701", True, RedisCluster),
        ("redis+cluster://127.0.0.1:18701", False, RedisCluster),
        ("rediss+cluster://user:secret@127.0.0.1:18701", False, RedisCluster),
    ],
)
async def test_the_client_is_a_cluster_client_when_asked(
    url: str, cluster: bool, expected: type
) -> None:
    client = make_redis(
        Settings(redis_url=url, redis_cluster=cluster, redis_max_connections=7)
    )  # nothing is connected until the first command
    try:
        assert type(client) is expected
        if isinstance(client, RedisCluster):
            kwargs = client.connection_kwargs
            assert (kwargs["max_connections"], kwargs["socket_timeout"]) == (7, 1.0)
            nodes = client.nodes_manager.startup_nodes.values()
            assert [(node.host, node.port) for node in nodes] == [("127.0.0.1", 18701)]
            if url.startswith("rediss"):
                assert kwargs["connection_class"] is SSLConnection
                assert kwargs["password"] == "secret"
    finally:
        await client.aclose()


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name: str = postgres_options()["database_schema"]
    try:
        yield name
    finally:
        await drop_schema(name)


async def test_migrate_brings_the_schema_to_head_once_even_run_twice_at_once(
    schema: str,
) -> None:
    env = {"DATABASE_URL": PG_URL, "DATABASE_SCHEMA": schema, "PATH": "/usr/bin:/bin"}
    runs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli.migrate",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(r.communicate() for r in runs)), 120)
    for run, (output, _) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output.decode()
        assert b"database schema at head" in output
    engine = create_async_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            versions = (
                await conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
            ).scalars()
            heads = list(versions)
            tables = (
                await conn.execute(
                    text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert heads == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
    assert tables > 5
