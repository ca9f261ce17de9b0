"""CPU per read of reservations by ``order_id``: SQLAlchemy against ``RawReads``.

A losing reservation asks the ledger whether its ``order_id`` has a
reservation. This measures, in one process and one run, the CPU one such read
costs through SQLAlchemy (a connection from its pool under ``SqlStore``'s
deadline and breaker, the statement, the rows) and through ``RawReads``
(asyncpg alone), one order id per read and a batch of them, for order ids
without a reservation (the losing case). ``time.process_time`` per call, medians of rounds,
interleaved so that both see the same machine.

    .venv/bin/python -m loadtests.bench_ledger_reads \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import uvloop
from sqlalchemy import text

from app.settings import Settings
from app.storage import db
from app.storage.raw_reads import RawReads
from app.storage.sql_ledger import (
    _BY_ORDERS,
    _RAW_BY_ORDERS,
    SqlReservationRepository,
    _Raw,
    _reservations,
)

Read = Callable[[list[str]], Awaitable[object]]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--calls", type=int, default=2000, help="reads per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8, help="order ids in a batched read")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    schema = f"bench_reads_{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=args.database_url, database_schema=schema)
    engine = db.make_engine(settings)
    await db.migrate(engine, settings)
    ledger = SqlReservationRepository(engine, timeout=5)
    raw = RawReads(engine, size=2, timeout=5)

    async def through_sqlalchemy(order_ids: list[str]) -> object:
        async with ledger._core("bench", write=False) as conn:
            rows = (await conn.execute(_BY_ORDERS, {"order_ids": order_ids})).all()
        return _reservations(rows)

    async def through_asyncpg(order_ids: list[str]) -> object:
        rows = await raw.fetch("bench", _RAW_BY_ORDERS, order_ids)
        return _reservations([_Raw(r) for r in rows])

    reads: dict[str, Read] = {
        "SQLAlchemy": through_sqlalchemy,
        "asyncpg (RawReads)": through_asyncpg,
    }
    try:
        for size in (1, args.batch):
            costs: dict[str, list[float]] = {name: [] for name in reads}
            for _ in range(args.rounds):
                for name, read in reads.items():
                    ids = [[f"missing-{n}-{k}" for k in range(size)] for n in range(args.calls)]
                    for order_ids in ids[:50]:
                        await read(order_ids)
                    started = time.process_time()
                    for order_ids in ids:
                        await read(order_ids)
                    costs[name].append((time.process_time() - started) / args.calls * 1e6)
            line = ", ".join(f"{n} {statistics.median(c):,.0f} µs" for n, c in costs.items())
            print(f"read of {size} order id(s), CPU per read (median of {args.rounds}): {line}")
    finally:
        await raw.aclose()
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    uvloop.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
