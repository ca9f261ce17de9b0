"""``SqlReservationRepository``: the only code that queries ``reservations``,
``reservation_promotions`` and the ``order*`` tables; it implements
``app.inventory.ledger.ReservationRepository`` for PostgreSQL and SQLite.

Every state change is one conditional UPDATE (``WHERE status = ...``) in one
transaction together with everything that goes with it (the coupon codes it
holds; on confirmation, the order and its lines), so two instances, or a
request and the sweeper, racing over one reservation cannot both win.
docs/reservations.md has the life cycle.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import itertools
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.inventory.ledger import (
    HELD,
    OPEN,
    Marked,
    NewOrder,
    NewReservation,
    ReservationStats,
    ReservationStatus,
    ReservedPromotion,
    Settlement,
    StoredReservation,
)
from app.inventory.order_document import OrderDocument
from app.inventory.stock import HeldTake, LedgerCounts
from app.resilience.breaker import CircuitBreaker
from app.storage.batches import Batches
from app.storage.raw_reads import RawReads
from app.storage.sql_store import SqlStore
from app.storage.tables import (
    CouponCodeRow,
    OrderAdjustmentRow,
    OrderCouponRow,
    OrderLineRow,
    OrderPromotionRow,
    OrderRow,
    ReservationPromotionRow,
    ReservationRow,
)

# ------------------------------------------------------------------ SQLAlchemy


class SqlReservationRepository(SqlStore):
    """The reservation path (``add_pending``, ``mark_reserved``, ``forget``, ``get``,
    ``by_order``) runs Core statements on a plain connection, not the ORM: it is
    the hot path of a flash sale, and the ORM's unit of work was more than half
    of a reservation's CPU (docs/performance.md, *Reservations*).

    ``by_order`` is what every losing reservation asks (has this ``order_id`` a
    reservation, to answer a repeat with it?): concurrent asks share one
    statement (``app.storage.batches``: up to ``READS_MAX`` order ids while
    ``READS_IN_FLIGHT`` reads run), because one read through SQLAlchemy costs
    several times a losing reservation's own work. A read that starts after its
    caller asked is at least as fresh as one of its own."""

    def __init__(
        self, engine: AsyncEngine, *, timeout: float, breaker: CircuitBreaker | None = None
    ) -> None:
        super().__init__(engine, timeout=timeout, breaker=breaker)
        self._by_order: Batches[str, StoredReservation | None] = Batches(
            self._by_orders, most=READS_MAX, in_flight=READS_IN_FLIGHT
        )
        self._raw: RawReads | None = None
        self._pending: Batches[NewReservation, bool] | None = None
        self._marks: Batches[tuple[str, datetime], bool] | None = None
        if self.is_postgres:
            self._raw = RawReads(engine, size=READS_IN_FLIGHT, timeout=timeout, breaker=breaker)
            self._pending = Batches(self._add_pendings, most=WRITES_MAX, in_flight=WRITES_IN_FLIGHT)
            self._marks = Batches(self._mark_many, most=WRITES_MAX, in_flight=WRITES_IN_FLIGHT)

    async def add_pending(self, new: NewReservation) -> bool:
        if self._pending is not None:
            return await self._pending.add(new)
        try:
            async with self._core("add reservation") as conn:
                await conn.execute(_RESERVATIONS.insert(), _row(new))
                if new.promotions:
                    await conn.execute(_PROMOTIONS.insert(), _promotion_rows(new))
        except sa_exc.IntegrityError:
            return False
        return True

    async def _add_pendings(self, batch: list[NewReservation]) -> list[bool]:
        """A batch of ``add_pending`` in one statement (PostgreSQL, ``_ADD_PENDING``):
        the rows whose ``order_id`` is free, with their promotions; each is told
        whether its row went in (a twin's ``order_id``, in the table or earlier in
        the batch: not)."""
        promotions = [(new.id, p) for new in batch for p in new.promotions]
        values = {
            "ids": [new.id for new in batch],
            "order_ids": [new.order_id for new in batch],
            "customer_ids": [new.customer_id for new in batch],
            "expires": [new.expires_at for new in batch],
            "currencies": [new.currency for new in batch],
            "totals": [new.total for new in batch],
            "quotes": [new.quote.to_json() for new in batch],
            "codes": [json.dumps(list(new.coupon_codes)) for new in batch],
            "versions": [new.rules_version for new in batch],
            "ats": [new.created_at for new in batch],
            "p_ids": [reservation_id for reservation_id, _ in promotions],
            "p_promotions": [p.promotion_id for _, p in promotions],
            "p_amounts": [p.amount for _, p in promotions],
            "p_uses": [p.use for _, p in promotions],
            "p_budgets": [p.budget_amount for _, p in promotions],
            "p_units": [json.dumps(dict(p.units)) for _, p in promotions],
        }
        async with self._core("add reservations", write=False) as conn:
            made = set((await conn.execute(_ADD_PENDING, values)).scalars().all())
        return [new.id in made for new in batch]

    async def _mark_many(self, batch: list[tuple[str, datetime]]) -> list[bool]:
        """A batch of ``mark_reserved`` without codes in one statement (PostgreSQL):
        each row moved from pending to reserved, or not (swept meanwhile)."""
        ids = [reservation_id for reservation_id, _ in batch]
        async with self._core("reserve", write=False) as conn:
            moved = set(
                (await conn.execute(_MARK_RESERVED, {"ids": ids, "ats": [at for _, at in batch]}))
                .scalars()
                .all()
            )
        return [reservation_id in moved for reservation_id in ids]

    async def get(self, reservation_id: str) -> StoredReservation | None:
        async with self._core("get reservation", write=False) as conn:
            found = _reservations((await conn.execute(_BY_ID, {"id": reservation_id})).all())
        return found[0] if found else None

    async def by_order(self, order_id: str) -> StoredReservation | None:
        return await self._by_order.add(order_id)

    async def _by_orders(self, order_ids: list[str]) -> list[StoredReservation | None]:
        """One read for a batch of ``by_order`` asks, each answered in its order: on
        PostgreSQL through ``RawReads`` (asyncpg alone), elsewhere through SQLAlchemy."""
        what = "get reservations by order"
        rows: Sequence[Any]
        if self._raw is not None:
            rows = [_Raw(r) for r in await self._raw.fetch(what, _RAW_BY_ORDERS, order_ids)]
        else:
            async with self._core(what, write=False) as conn:
                rows = (await conn.execute(_BY_ORDERS, {"order_ids": order_ids})).all()
        found = {reservation.order_id: reservation for reservation in _reservations(rows)}
        return [found.get(order_id) for order_id in order_ids]

    async def aclose(self) -> None:
        """Close what this repository opened beside the engine (``RawReads``' pool)."""
        if self._raw is not None:
            await self._raw.aclose()

    async def forget(self, reservation_id: str) -> bool:
        async with self._core("forget reservation", write=False) as conn:
            deleted = await conn.execute(
                _RESERVATIONS.delete()
                .where(_RESERVATIONS.c.id == reservation_id)
                .where(_RESERVATIONS.c.status == ReservationStatus.PENDING.value)
            )
        return _count(deleted) == 1

    async def mark_reserved(
        self, reservation_id: str, *, customer_id: str, codes: Sequence[str], now: datetime
    ) -> Marked:
        if not codes and self._marks is not None:  # with others: one statement
            return Marked.RESERVED if await self._marks.add((reservation_id, now)) else Marked.GONE
        moved = (
            _RESERVATIONS.update()
            .where(_RESERVATIONS.c.id == reservation_id)
            .where(_RESERVATIONS.c.status == ReservationStatus.PENDING.value)
            .values(status=ReservationStatus.RESERVED.value, updated_at=now)
        )
        if not codes:  # one statement, committed on its own
            async with self._core("reserve", write=False) as conn:
                done = _count(await conn.execute(moved)) == 1
            return Marked.RESERVED if done else Marked.GONE
        codes_held = (
            _CODES.update()
            .where(_CODES.c.code.in_(list(codes)))
            .where(_CODES.c.kind == "unique")
            .where(_CODES.c.status == "available")
            .where(or_(_CODES.c.customer_id.is_(None), _CODES.c.customer_id == customer_id))
            .values(status="reserved", reservation_id=reservation_id)
        )
        try:
            async with self._core("reserve") as conn:
                if _count(await conn.execute(moved)) != 1:
                    return Marked.GONE
                if _count(await conn.execute(codes_held)) != len(codes):
                    raise _CodeTaken  # rolls the whole transaction back
        except _CodeTaken:
            return Marked.CODE_TAKEN
        return Marked.RESERVED

    async def confirm(self, reservation_id: str, order: NewOrder, *, now: datetime) -> bool:
        async with self._transaction("confirm reservation") as session:
            return await _confirm(session, reservation_id, order, now)

    async def close(self, reservation_id: str, status: ReservationStatus, *, now: datetime) -> bool:
        async with self._transaction(f"{status} reservation") as session:
            return await _close(session, reservation_id, status, now)

    async def sweep_expired(
        self,
        *,
        now: datetime,
        pending_before: datetime,
        limit: int,
        settle: Callable[[StoredReservation], Awaitable[Settlement | None]],
        within: float,
        abandoned_before: datetime | None = None,
    ) -> int:
        pending_due = ReservationRow.expires_at <= pending_before
        if abandoned_before is not None:
            pending_due = or_(pending_due, ReservationRow.created_at <= abandoned_before)
        due = (
            select(ReservationRow.id)
            .where(
                or_(
                    and_(
                        ReservationRow.status == ReservationStatus.RESERVED.value,
                        ReservationRow.expires_at <= now,
                    ),
                    and_(ReservationRow.status == ReservationStatus.PENDING.value, pending_due),
                )
            )
            .order_by(ReservationRow.expires_at)
            .limit(limit)
        )
        if self.is_postgres:
            due = due.with_for_update(skip_locked=True)
        moved = 0
        async with self._transaction("sweep reservations", within=within) as session:
            rows = [
                row
                for reservation_id in list(await session.scalars(due))
                for row in _reservations(
                    (await session.execute(_BY_ID, {"id": reservation_id})).all()
                )
            ]
            # the inventory calls run side by side; the rows stay locked meanwhile
            decisions = await asyncio.gather(*(settle(row) for row in rows))
            for row, decided in zip(rows, decisions, strict=True):
                if decided is None:
                    continue
                if decided.status is ReservationStatus.CONFIRMED and decided.order is not None:
                    done = await _confirm(session, row.id, decided.order, now)
                else:
                    done = await _close(session, row.id, ReservationStatus.EXPIRED, now)
                moved += int(done)
        return moved

    async def ledger_counts(self, promotion_id: str) -> LedgerCounts:
        query = (
            select(
                ReservationRow.id,
                ReservationRow.customer_id,
                ReservationRow.expires_at,
                ReservationRow.status,
                ReservationPromotionRow.use_counted,
                ReservationPromotionRow.budget_amount,
                ReservationPromotionRow.units,
            )
            .join(ReservationRow, ReservationRow.id == ReservationPromotionRow.reservation_id)
            .where(ReservationPromotionRow.promotion_id == promotion_id)
            .where(ReservationRow.status.in_([s.value for s in HELD]))
            .order_by(ReservationRow.id)
        )
        confirmed: list[HeldTake] = []
        open_: list[HeldTake] = []
        async with self._transaction("read ledger counts") as session:
            rows = (await session.execute(query)).all()
        for rid, customer, expires_at, status, use, budget, units in rows:
            held = HeldTake(
                reservation_id=rid,
                customer_id=customer,
                expires_at=expires_at,
                units={sku: int(n) for sku, n in (units or {}).items() if int(n) > 0},
                use=bool(use),
                budget_amount=int(budget),
            )
            if not (held.use or held.budget_amount or held.units):
                continue
            (confirmed if status == ReservationStatus.CONFIRMED.value else open_).append(held)
        return LedgerCounts(promotion_id, confirmed=tuple(confirmed), open=tuple(open_))

    async def states(
        self, reservation_ids: Sequence[str]
    ) -> dict[str, tuple[ReservationStatus, datetime]]:
        if not reservation_ids:
            return {}
        query = select(ReservationRow.id, ReservationRow.status, ReservationRow.expires_at).where(
            ReservationRow.id.in_(list(reservation_ids))
        )
        async with self._transaction("read reservation states") as session:
            rows = (await session.execute(query)).all()
        return {rid: (ReservationStatus(status), expires_at) for rid, status, expires_at in rows}

    async def stats(self, promotion_id: str) -> ReservationStats:
        status = ReservationRow.status
        counts = (
            select(
                func.count().filter(status != ReservationStatus.PENDING.value),
                func.count().filter(status == ReservationStatus.CONFIRMED.value),
                func.count().filter(status == ReservationStatus.CANCELLED.value),
                func.count().filter(status == ReservationStatus.EXPIRED.value),
                func.coalesce(
                    func.sum(ReservationPromotionRow.amount).filter(
                        status == ReservationStatus.CONFIRMED.value
                    ),
                    0,
                ),
                func.coalesce(
                    func.sum(ReservationPromotionRow.budget_amount).filter(
                        status.in_(
                            [ReservationStatus.RESERVED.value, ReservationStatus.CONFIRMED.value]
                        )
                    ),
                    0,
                ),
            )
            .select_from(ReservationPromotionRow)
            .join(ReservationRow, ReservationRow.id == ReservationPromotionRow.reservation_id)
            .where(ReservationPromotionRow.promotion_id == promotion_id)
        )
        gmv = (
            select(func.coalesce(func.sum(OrderRow.total), 0))
            .select_from(OrderRow)
            .join(
                ReservationPromotionRow,
                ReservationPromotionRow.reservation_id == OrderRow.reservation_id,
            )
            .where(ReservationPromotionRow.promotion_id == promotion_id)
        )
        redeemed = (
            select(func.count())
            .select_from(OrderCouponRow)
            .where(OrderCouponRow.promotion_id == promotion_id)
        )
        async with self._transaction("reservation stats") as session:
            made, confirmed, cancelled, expired, given, spent = (
                await session.execute(counts)
            ).one()
            total = await session.scalar(gmv)
            redemptions = await session.scalar(redeemed)
        return ReservationStats(
            reservations=int(made),
            confirmed=int(confirmed),
            cancelled=int(cancelled),
            expired=int(expired),
            discount_given=int(given),
            gmv=int(total or 0),
            budget_spent=int(spent),
            redemptions=int(redemptions or 0),
        )


# --------------------------------------------------------------------- helpers

_RESERVATIONS = cast(Table, ReservationRow.__table__)
_PROMOTIONS = cast(Table, ReservationPromotionRow.__table__)
_CODES = cast(Table, CouponCodeRow.__table__)
_PROMOTION_COLUMNS = tuple(
    _PROMOTIONS.c[name].label(f"p_{name}")
    for name in ("promotion_id", "amount", "use_counted", "budget_amount", "units")
)


class _CodeTaken(Exception):
    """A single-use code was not available any more (internal: rolls back)."""


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _with_promotions(where: Any) -> Select[Any]:
    """Reservations with their promotions (an outer join: one statement), a
    reservation's rows together, its promotions in id order."""
    return (
        select(_RESERVATIONS, *_PROMOTION_COLUMNS)
        .select_from(
            _RESERVATIONS.outerjoin(_PROMOTIONS, _PROMOTIONS.c.reservation_id == _RESERVATIONS.c.id)
        )
        .where(where)
        .order_by(_RESERVATIONS.c.id, _PROMOTIONS.c.promotion_id)
    )


# built once: a statement made per call cost more CPU than its round trip
_BY_ID = _with_promotions(_RESERVATIONS.c.id == bindparam("id"))
_BY_ORDERS = _with_promotions(_RESERVATIONS.c.order_id.in_(bindparam("order_ids", expanding=True)))
READS_MAX = 128
# one read at a time, the asks meanwhile wait for the next: larger batches, and at
# 16 connections less CPU per losing reservation than two at a time (634/619 µs
# against 736/651, bench_reservations, back to back)
READS_IN_FLIGHT = 1
# _BY_ORDERS for asyncpg alone (RawReads): the same columns, labels and order
_RAW_BY_ORDERS = """
    SELECT r.id, r.order_id, r.customer_id, r.status, r.expires_at, r.currency, r.total,
           r.quote, r.coupon_codes, r.rules_version, r.created_at, r.updated_at,
           p.promotion_id AS p_promotion_id, p.amount AS p_amount,
           p.use_counted AS p_use_counted, p.budget_amount AS p_budget_amount,
           p.units AS p_units
    FROM reservations AS r
    LEFT OUTER JOIN reservation_promotions AS p ON p.reservation_id = r.id
    WHERE r.order_id = ANY($1::text[])
    ORDER BY r.id, p.promotion_id
"""
_JSON_COLUMNS = frozenset({"quote", "coupon_codes", "p_units"})
_TIME_COLUMNS = frozenset({"expires_at", "created_at", "updated_at"})


class _Raw:
    """An asyncpg row read as SQLAlchemy's would be: by attribute, ``jsonb`` decoded,
    times in UTC (what ``JSONDocument`` and ``UtcDateTime`` give)."""

    __slots__ = ("_record",)

    def __init__(self, record: Any) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        value = self._record[name]
        if value is None:
            return None
        if name in _JSON_COLUMNS:
            return json.loads(value)
        if name in _TIME_COLUMNS:
            return value.astimezone(UTC)
        return value


# pending rows (and markings) written together at most (PostgreSQL), while this many
# batches run: one, as for reads (a reservation took 1,505-1,563 µs of CPU against
# 1,828-1,916 µs with two, bench_reservations, back to back)
WRITES_MAX = 64
WRITES_IN_FLIGHT = 1
# every pending row of a batch and its promotions, one statement (atomic, autocommit);
# a data-modifying CTE's foreign keys are checked at the statement's end
_ADD_PENDING = text(
    f"""
    WITH given AS (
        SELECT * FROM unnest(
            CAST(:ids AS text[]), CAST(:order_ids AS text[]), CAST(:customer_ids AS text[]),
            CAST(:expires AS timestamptz[]), CAST(:currencies AS text[]),
            CAST(:totals AS bigint[]), CAST(:quotes AS text[]), CAST(:codes AS text[]),
            CAST(:versions AS text[]), CAST(:ats AS timestamptz[])
        ) AS g(id, order_id, customer_id, expires_at, currency, total, quote, codes,
               rules_version, at)
    ), made AS (
        INSERT INTO reservations (id, order_id, customer_id, status, expires_at, currency,
                                  total, quote, coupon_codes, rules_version, created_at,
                                  updated_at)
        SELECT id, order_id, customer_id, '{ReservationStatus.PENDING.value}', expires_at,
               currency, total, CAST(quote AS jsonb), CAST(codes AS jsonb), rules_version,
               at, at
        FROM given
        ON CONFLICT (order_id) DO NOTHING
        RETURNING id
    ), promoted AS (
        INSERT INTO reservation_promotions (reservation_id, promotion_id, amount,
                                            use_counted, budget_amount, units)
        SELECT p.reservation_id, p.promotion_id, p.amount, p.use_counted, p.budget_amount,
               CAST(p.units AS jsonb)
        FROM unnest(
            CAST(:p_ids AS text[]), CAST(:p_promotions AS text[]),
            CAST(:p_amounts AS bigint[]), CAST(:p_uses AS boolean[]),
            CAST(:p_budgets AS bigint[]), CAST(:p_units AS text[])
        ) AS p(reservation_id, promotion_id, amount, use_counted, budget_amount, units)
        WHERE p.reservation_id IN (SELECT id FROM made)
    )
    SELECT id FROM made
    """
)
_MARK_RESERVED = text(
    f"""
    UPDATE reservations AS r SET status = '{ReservationStatus.RESERVED.value}', updated_at = v.at
    FROM unnest(CAST(:ids AS text[]), CAST(:ats AS timestamptz[])) AS v(id, at)
    WHERE r.id = v.id AND r.status = '{ReservationStatus.PENDING.value}'
    RETURNING r.id
    """
)


def _row(new: NewReservation) -> dict[str, Any]:
    return {
        "id": new.id,
        "order_id": new.order_id,
        "customer_id": new.customer_id,
        "status": ReservationStatus.PENDING.value,
        "expires_at": new.expires_at,
        "currency": new.currency,
        "total": new.total,
        "quote": new.quote.to_stored(),
        "coupon_codes": list(new.coupon_codes),
        "rules_version": new.rules_version,
        "created_at": new.created_at,
        "updated_at": new.created_at,
    }


def _promotion_rows(new: NewReservation) -> list[dict[str, Any]]:
    return [
        {
            "reservation_id": new.id,
            "promotion_id": p.promotion_id,
            "amount": p.amount,
            "use_counted": p.use,
            "budget_amount": p.budget_amount,
            "units": dict(p.units),
        }
        for p in new.promotions
    ]


def _reservations(rows: Sequence[Any]) -> list[StoredReservation]:
    """The reservations of ``_with_promotions`` rows, in their order."""
    found: list[StoredReservation] = []
    for _, group in itertools.groupby(rows, key=lambda row: row.id):
        own = list(group)
        row = own[0]
        found.append(
            StoredReservation(
                id=row.id,
                order_id=row.order_id,
                customer_id=row.customer_id,
                status=ReservationStatus(row.status),
                expires_at=row.expires_at,
                created_at=row.created_at,
                updated_at=row.updated_at,
                currency=row.currency,
                total=row.total,
                quote=OrderDocument.from_stored(row.quote),
                rules_version=row.rules_version,
                promotions=tuple(
                    ReservedPromotion(
                        promotion_id=p.p_promotion_id,
                        amount=p.p_amount,
                        use=p.p_use_counted,
                        budget_amount=p.p_budget_amount,
                        units={sku: int(n) for sku, n in (p.p_units or {}).items()},
                    )
                    for p in own
                    if p.p_promotion_id is not None
                ),
                coupon_codes=tuple(row.coupon_codes or ()),
            )
        )
    return found


async def _move(
    session: AsyncSession,
    reservation_id: str,
    sources: Sequence[ReservationStatus],
    target: ReservationStatus,
    now: datetime,
) -> bool:
    result = await session.execute(
        update(ReservationRow)
        .where(ReservationRow.id == reservation_id)
        .where(ReservationRow.status.in_([s.value for s in sources]))
        .values(status=target.value, updated_at=now)
    )
    return _count(result) == 1


async def _close(
    session: AsyncSession, reservation_id: str, status: ReservationStatus, now: datetime
) -> bool:
    if not await _move(session, reservation_id, OPEN, status, now):
        return False
    await session.execute(
        update(CouponCodeRow)
        .where(CouponCodeRow.reservation_id == reservation_id)
        .where(CouponCodeRow.status == "reserved")
        .values(status="available", reservation_id=None)
    )
    return True


async def _confirm(
    session: AsyncSession, reservation_id: str, order: NewOrder, now: datetime
) -> bool:
    if not await _move(
        session, reservation_id, (ReservationStatus.RESERVED,), ReservationStatus.CONFIRMED, now
    ):
        return False
    row = await session.get(ReservationRow, reservation_id)
    assert row is not None
    order_id = row.order_id
    header = {
        "order_id": order_id,
        "reservation_id": reservation_id,
        "customer_id": row.customer_id,
        "currency": row.currency,
        "subtotal": order.subtotal,
        "discount_total": order.discount_total,
        "shipping_fee": order.shipping_fee,
        "shipping_discount": order.shipping_discount,
        "total": order.total,
        "rules_version": row.rules_version,
        "confirmed_at": now,
    }
    await _insert(session, OrderRow, [header])
    for table, records in (
        (OrderLineRow, order.lines),
        (OrderAdjustmentRow, order.adjustments),
        (OrderPromotionRow, order.promotions),
        (OrderCouponRow, order.coupons),
    ):
        await _insert(
            session,
            table,
            [{"order_id": order_id, **dataclasses.asdict(record)} for record in records],
        )
    await session.execute(
        update(CouponCodeRow)
        .where(CouponCodeRow.reservation_id == reservation_id)
        .where(CouponCodeRow.status == "reserved")
        .values(status="used")
    )
    return True


async def _insert(session: AsyncSession, table: Any, rows: builtins.list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(table), rows)
