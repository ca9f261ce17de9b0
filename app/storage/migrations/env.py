"""Alembic environment for both PostgreSQL (asyncpg) and SQLite (aiosqlite).

At startup the service hands Alembic an open connection
(``config.attributes["connection"]``, see ``app.storage.db.migrate``). From the
command line there is none: the URL comes from the settings (``DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from app.settings import get_settings
from app.storage.db import make_engine, prepare
from app.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_command_line() -> None:
    settings = get_settings()
    engine = make_engine(settings)
    try:
        async with engine.begin() as conn:
            await prepare(conn, settings.database_schema)
            await conn.run_sync(run_with)
    finally:
        await engine.dispose()


given = config.attributes.get("connection")
if given is not None:
    run_with(given)
elif context.is_offline_mode():
    context.configure(url=get_settings().database_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_from_command_line())
