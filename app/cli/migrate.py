"""``python -m app.cli.migrate``: bring the database to Alembic's head, then exit.

The one-shot step a deployment runs before its instances start (the compose
file's ``migrate`` service), so that the instances can run with
``AUTO_MIGRATE=false`` and none of them changes the schema under the others.
It takes the same advisory lock as a migrating instance (``app.storage.db``),
so running it twice at once, or beside an instance with ``AUTO_MIGRATE=true``,
is safe. Exit status 0 when the schema is at head.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from app.settings import Settings, get_settings
from app.storage import db

log = logging.getLogger("app.cli.migrate")


async def migrate(settings: Settings) -> None:
    engine = db.make_engine(settings)
    try:
        await db.migrate(engine, settings)
    finally:
        await engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = get_settings()
    except ValidationError as exc:
        sys.exit(f"invalid configuration:\n{exc}")
    asyncio.run(migrate(settings))
    log.info("database schema at head")


if __name__ == "__main__":
    main()
