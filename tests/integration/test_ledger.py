"""The reservation repository and the ledger on both back ends: the migration
matches the tables, state changes are conditional, and sweepers running at
once settle each expired reservation once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import Unavailable
from app.inventory.ledger import (
    Marked,
    NewOrder,
    NewReservation,
    OrderLine,
    ReservationStatus,
    ReservedPromotion,
    Settlement,
    StoredReservation,
)
from app.inventory.order_document import OrderDocument
from app.storage import db
from app.storage.sql_ledger import SqlReservationRepository
from app.storage.tables import Base
from tests.conftest import Backend

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    settings = backend.settings()
    made = db.make_engine(settings)
    await db.migrate(made, settings)
    try:
        yield made
    finally:
        await made.dispose()


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[SqlReservationRepository]:
    made = SqlReservationRepository(engine, timeout=5)
    try:
        yield made
    finally:
        await made.aclose()


QUOTE = OrderDocument(
    currency="CNY",
    subtotal=1000,
    discount_total=100,
    shipping_fee=0,
    shipping_discount=0,
    total=900,
    lines=[],
    applied=[],
    gifts=[],
    coupons=[],
    hints=[],
    optimal=True,
    degraded=False,
    warnings=[],
    rules_version="v#1",
)


def new(n: int, *, expires_in: timedelta = timedelta(minutes=15)) -> NewReservation:
    return NewReservation(
        id=f"r-{n}",
        order_id=f"o-{n}",
        customer_id=f"c-{n}",
        expires_at=NOW + expires_in,
        created_at=NOW,
        currency="CNY",
        total=900,
        quote=QUOTE,
        rules_version="v#1",
        promotions=(ReservedPromotion("fs", amount=100, units={"A": 1}),),
    )


ORDER = NewOrder(
    subtotal=1000,
    discount_total=100,
    shipping_fee=0,
    shipping_discount=0,
    total=900,
    lines=(OrderLine("1", "A", 1, 1000, 1000, 100, 900),),
)


async def test_the_migrations_build_exactly_the_tables(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        found = await connection.run_sync(diff)
    assert found == []


async def test_state_changes_are_conditional(ledger: SqlReservationRepository) -> None:
    assert await ledger.add_pending(new(1))
    assert not await ledger.add_pending(new(1))  # the order_id exists
    assert await ledger.confirm("r-1", ORDER, now=NOW) is False  # still pending
    assert await ledger.mark_reserved("r-1", customer_id="c-1", codes=(), now=NOW) is (
        Marked.RESERVED
    )
    assert await ledger.mark_reserved("r-1", customer_id="c-1", codes=(), now=NOW) is Marked.GONE
    assert await ledger.confirm("r-1", ORDER, now=NOW)
    assert not await ledger.confirm("r-1", ORDER, now=NOW)
    assert not await ledger.close("r-1", ReservationStatus.CANCELLED, now=NOW)
    found = await ledger.get("r-1")
    assert found is not None
    assert found.status is ReservationStatus.CONFIRMED
    assert found.taken_from == ("fs",)
    stats = await ledger.stats("fs")
    assert (stats.reservations, stats.confirmed, stats.gmv, stats.discount_given) == (
        1,
        1,
        900,
        100,
    )
    counts = await ledger.ledger_counts("fs")
    assert counts.units("confirmed") == {"A": 1}
    assert counts.open == ()


async def test_concurrent_reads_by_order_share_statements_and_each_gets_its_own(
    ledger: SqlReservationRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A losing reservation asks whether its order_id has a reservation: many at once
    share one read (a batch), and each is answered for its own order_id, with its
    promotions; a batch that fails fails each of its asks."""
    for n in range(1, 21):
        made = dataclasses.replace(
            new(n),
            promotions=(
                ReservedPromotion("fs", amount=100, units={"A": 1}),
                ReservedPromotion(f"p-{n}", amount=n, use=True, budget_amount=n),
            ),
        )
        assert await ledger.add_pending(made)
    batches: list[list[str]] = []
    read = ledger._by_orders

    async def counted(order_ids: list[str]) -> list[StoredReservation | None]:
        batches.append(order_ids)
        return await read(order_ids)

    monkeypatch.setattr(ledger._by_order, "_write_items", counted)
    asks = [f"o-{n}" for n in range(1, 41)] + ["o-3", "o-3"]
    found = await asyncio.gather(*(ledger.by_order(order_id) for order_id in asks))
    for order_id, reservation in zip(asks, found, strict=True):
        n = int(order_id[2:])
        if n > 20:
            assert reservation is None
            continue
        assert reservation is not None
        # read by order_id (on PostgreSQL with asyncpg alone) as read by id (SQLAlchemy)
        assert reservation == await ledger.get(f"r-{n}")
        assert (reservation.order_id, reservation.id) == (order_id, f"r-{n}")
        assert [p.promotion_id for p in reservation.promotions] == ["fs", f"p-{n}"]
        assert reservation.promotions[1].budget_amount == n
    assert sum(len(b) for b in batches) == len(asks)
    assert len(batches) < len(asks) // 4, batches  # shared, not one read each

    async def failing(order_ids: list[str]) -> list[StoredReservation | None]:
        raise Unavailable("the database did not answer")

    monkeypatch.setattr(ledger._by_order, "_write_items", failing)
    outcomes = await asyncio.gather(
        *(ledger.by_order(f"o-{n}") for n in range(1, 6)), return_exceptions=True
    )
    assert all(isinstance(outcome, Unavailable) for outcome in outcomes)


async def test_concurrent_pending_rows_and_markings_are_written_together(
    ledger: SqlReservationRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a rush, pending rows and their ``reserved`` markings go to PostgreSQL in
    batches: each reservation is still told its own outcome (a twin ``order_id``,
    in the table or in the same batch, is refused; a row that is not pending any
    more is GONE), and only the rows that went in have promotions."""
    assert await ledger.add_pending(new(1))  # o-1 is taken before the rush
    twins = [dataclasses.replace(new(100 + n), order_id="o-twin") for n in range(3)]
    rush = [new(n) for n in range(1, 31)] + twins
    writes: list[int] = []
    if ledger._pending is not None:  # PostgreSQL: count the batches
        write = ledger._add_pendings

        async def counted(batch: list[NewReservation]) -> list[bool]:
            writes.append(len(batch))
            return await write(batch)

        monkeypatch.setattr(ledger._pending, "_write_items", counted)
    added = await asyncio.gather(*(ledger.add_pending(r) for r in rush))
    assert added[0] is False  # o-1
    assert all(added[1:30])
    assert sum(added[30:]) == 1  # one twin of o-twin
    if ledger._pending is not None:
        assert sum(writes) == len(rush)
        assert len(writes) < len(rush) // 4, writes
    winner = twins[added[30:].index(True)]
    for reservation in [*rush[1:30], winner]:
        stored = await ledger.get(reservation.id)
        assert stored is not None
        assert stored.status is ReservationStatus.PENDING
        assert stored.order_id == reservation.order_id
        assert stored.taken_from == ("fs",)
    for loser in twins:
        if loser is not winner:
            assert await ledger.get(loser.id) is None

    assert await ledger.close("r-5", ReservationStatus.EXPIRED, now=NOW)  # swept meanwhile
    marked = await asyncio.gather(
        *(
            ledger.mark_reserved(r.id, customer_id=r.customer_id, codes=(), now=NOW)
            for r in rush[1:30]
        )
    )
    assert marked[3] is Marked.GONE  # r-5
    assert all(m is Marked.RESERVED for i, m in enumerate(marked) if i != 3)
    statuses = [await ledger.get(r.id) for r in rush[1:30]]
    assert [s.status for s in statuses if s is not None].count(ReservationStatus.RESERVED) == 28


async def test_sweepers_running_at_once_settle_each_reservation_once(
    ledger: SqlReservationRepository,
) -> None:
    for n in range(30):
        assert await ledger.add_pending(new(n, expires_in=timedelta(seconds=-1)))
        await ledger.mark_reserved(f"r-{n}", customer_id=f"c-{n}", codes=(), now=NOW)
    calls: Counter[str] = Counter()

    async def settle(found: StoredReservation) -> Settlement | None:
        calls[found.id] += 1
        await asyncio.sleep(0.01)
        return Settlement(ReservationStatus.EXPIRED)

    moved = await asyncio.gather(
        *(
            ledger.sweep_expired(now=NOW, pending_before=NOW, limit=10, settle=settle, within=10)
            for _ in range(4)
        )
    )
    while sum(moved) < 30:
        more = await ledger.sweep_expired(
            now=NOW, pending_before=NOW, limit=10, settle=settle, within=10
        )
        assert more > 0
        moved.append(more)
    assert sum(moved) == 30
    found = [await ledger.get(f"r-{n}") for n in range(30)]
    assert {r.status for r in found if r is not None} == {ReservationStatus.EXPIRED}
    if ledger.is_postgres:  # rows another sweeper holds are skipped, not settled twice
        assert set(calls.values()) == {1}
