"""``SqlPromotionRepository``: the only code that queries the promotion, code and
``rules_meta`` tables; it implements ``app.promotions.repository.PromotionRepository``.

Works on PostgreSQL and SQLite alike. Every call runs in its own transaction
under a deadline (``DB_TIMEOUT_SECONDS``); a deadline missed or a connection
lost becomes ``Unavailable`` (503 with ``Retry-After``), a duplicate key
``Conflict``. Every write of promotions or codes bumps ``rules_meta`` in the
same transaction, so the version the instances compare moves with the data,
and notes in ``rules_changes`` which promotions that version touched: an
instance at version N reads only those changed after N (``changes_since``).
The ``rules_meta`` row is locked from the bump to the commit, so versions
commit in order and a version read means every change up to it is readable.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.promotions.repository import (
    Changes,
    CodeCounts,
    Imported,
    ListedCode,
    NewCode,
    NewPromotion,
    RulesVersion,
    StoredCode,
    StoredPromotion,
)
from app.storage.sql_store import SqlStore
from app.storage.tables import (
    CouponCodeRow,
    PromotionRow,
    ReservationRow,
    RulesChangeRow,
    RulesMetaRow,
)

# versions of the change log kept; an instance further behind loads everything
RULES_CHANGES_KEPT = 10_000
_PRUNE_EVERY = 100  # versions
_IMPORT_SECONDS = 60.0  # an import of 10,000 promotions is one transaction
_IN_CHUNK = 1_000  # ids per IN (...) list
REVOKED = "revoked"  # a code's status once revoked: unknown to quotes from then on

_COLUMNS = (
    PromotionRow.id,
    PromotionRow.status,
    PromotionRow.trigger,
    PromotionRow.body,
    PromotionRow.created_at,
    PromotionRow.updated_at,
)

# ------------------------------------------------------------------ SQLAlchemy


class SqlPromotionRepository(SqlStore):
    async def add(
        self, *, id: str, status: str, trigger: str, body: Mapping[str, Any]
    ) -> StoredPromotion:
        now = datetime.now(UTC)
        row = PromotionRow(
            id=id, status=status, trigger=trigger, body=dict(body), created_at=now, updated_at=now
        )
        try:
            async with self._transaction("add promotion") as session:
                if await session.get(PromotionRow, id) is not None:
                    raise Conflict(f"promotion {id!r} already exists")
                session.add(row)
                await session.flush()
                version = await _bump(session, now, [id])
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"promotion {id!r} already exists") from exc
        return _promotion(row, version)

    async def get(self, promotion_id: str) -> StoredPromotion | None:
        async with self._transaction("get promotion") as session:
            row = await session.get(PromotionRow, promotion_id)
            return None if row is None else _promotion(row)

    async def list(self, status: str | None = None) -> builtins.list[StoredPromotion]:
        query = select(PromotionRow).order_by(PromotionRow.id)
        if status is not None:
            query = query.where(PromotionRow.status == status)
        async with self._transaction("list promotions") as session:
            return [_promotion(row) for row in await session.scalars(query)]

    async def replace(
        self, *, id: str, status: str, trigger: str, body: Mapping[str, Any]
    ) -> StoredPromotion:
        now = datetime.now(UTC)
        async with self._transaction("replace promotion") as session:
            row = await session.get(PromotionRow, id, with_for_update=True)
            if row is None:
                raise NotFound(f"no promotion {id!r}")
            row.status, row.trigger, row.body, row.updated_at = status, trigger, dict(body), now
            await session.flush()
            version = await _bump(session, now, [id])
            return _promotion(row, version)

    async def delete(self, promotion_id: str) -> RulesVersion:
        now = datetime.now(UTC)
        async with self._transaction("delete promotion") as session:
            await session.execute(
                delete(CouponCodeRow).where(CouponCodeRow.promotion_id == promotion_id)
            )
            result = await session.execute(
                delete(PromotionRow).where(PromotionRow.id == promotion_id)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound(f"no promotion {promotion_id!r}")
            return await _bump(session, now, [promotion_id])

    async def current_version(self) -> RulesVersion:
        async with self._transaction("read rules version") as session:
            return await _version(session)

    async def import_many(self, promotions: Sequence[NewPromotion], *, replace: bool) -> Imported:
        now = datetime.now(UTC)
        ids = [p.id for p in promotions]
        try:
            async with self._transaction("import promotions", within=_IMPORT_SECONDS) as session:
                existing: dict[str, datetime] = {}
                for start in range(0, len(ids), _IN_CHUNK):
                    found = await session.execute(
                        select(PromotionRow.id, PromotionRow.created_at).where(
                            PromotionRow.id.in_(ids[start : start + _IN_CHUNK])
                        )
                    )
                    existing.update((i, at) for i, at in found)
                if existing and not replace:
                    raise Conflict(_exist(sorted(existing)))
                rows = [
                    StoredPromotion(
                        id=p.id,
                        status=p.status,
                        trigger=p.trigger,
                        body=dict(p.body),
                        created_at=existing.get(p.id, now),
                        updated_at=now,
                    )
                    for p in promotions
                ]
                fresh = [_values(r) for r in rows if r.id not in existing]
                if fresh:
                    await session.execute(insert(PromotionRow), fresh)
                replaced = [_values(r, created=False) for r in rows if r.id in existing]
                if replaced:
                    await session.execute(update(PromotionRow), replaced)
                version = await _bump(session, now, ids)
        except sa_exc.IntegrityError as exc:  # an id stored meanwhile by another writer
            raise Conflict("a promotion of the import was stored meanwhile; try again") from exc
        return Imported(
            version=version, rows=tuple(rows), created=len(fresh), updated=len(replaced)
        )

    async def load(self) -> tuple[RulesVersion, builtins.list[StoredPromotion]]:
        async with self._transaction("load promotions") as session:
            version = await _version(session)
            rows = await session.execute(select(*_COLUMNS).order_by(PromotionRow.id))
            return version, [_stored(row) for row in rows]

    async def changes_since(self, counter: int) -> Changes:
        async with self._transaction("read rules changes") as session:
            version = await _version(session)
            if version.counter == counter:
                return Changes(version)
            if counter < 0 or version.counter < counter:
                return Changes(version, complete=False)
            window = (RulesChangeRow.version > counter) & (
                RulesChangeRow.version <= version.counter
            )
            logged = (
                await session.execute(
                    select(RulesChangeRow.version, RulesChangeRow.promotion_id).where(window)
                )
            ).all()
            if min((v for v, _ in logged), default=None) != counter + 1:
                return Changes(version, complete=False)  # pruned, or a version not logged
            rows = await session.execute(
                select(*_COLUMNS).where(
                    PromotionRow.id.in_(select(RulesChangeRow.promotion_id).where(window))
                )
            )
            stored = tuple(_stored(row) for row in rows)
            present = {row.id for row in stored}
            removed = tuple(sorted({p for _, p in logged} - present))
            return Changes(version, rows=stored, removed=removed)

    async def add_codes(
        self, promotion_id: str, codes: Sequence[NewCode]
    ) -> builtins.list[StoredCode]:
        now = datetime.now(UTC)
        rows = [
            {
                "code": c.code,
                "promotion_id": promotion_id,
                "kind": c.kind,
                "customer_id": c.customer_id,
                "status": "available",
                "created_at": now,
            }
            for c in codes
        ]
        try:
            async with self._transaction("add codes") as session:
                if await session.get(PromotionRow, promotion_id) is None:
                    raise NotFound(f"no promotion {promotion_id!r}")
                wanted = [c.code for c in codes]
                for start in range(0, len(wanted), 500):
                    taken = await session.scalars(
                        select(CouponCodeRow.code).where(
                            CouponCodeRow.code.in_(wanted[start : start + 500])
                        )
                    )
                    clash = taken.first()
                    if clash is not None:
                        raise Conflict(f"code {clash!r} already exists")
                if rows:
                    await session.execute(insert(CouponCodeRow), rows)
                await _bump(session, now, [promotion_id])
        except sa_exc.IntegrityError as exc:
            raise Conflict("a code already exists") from exc
        return [
            StoredCode(
                code=c.code,
                promotion_id=promotion_id,
                kind=c.kind,
                customer_id=c.customer_id,
                status="available",
            )
            for c in codes
        ]

    async def resolve_codes(self, codes: Sequence[str]) -> dict[str, StoredCode]:
        if not codes:
            return {}
        # a revoked code is unknown to quotes and reservations from then on
        query = (
            select(CouponCodeRow)
            .where(CouponCodeRow.code.in_(list(codes)))
            .where(CouponCodeRow.status != REVOKED)
        )
        async with self._transaction("resolve codes") as session:
            return {row.code: _code(row) for row in await session.scalars(query)}

    async def customer_codes(self, customer_id: str) -> builtins.list[StoredCode]:
        query = (
            select(CouponCodeRow)
            .where(CouponCodeRow.customer_id == customer_id)
            .where(CouponCodeRow.status == "available")
            .order_by(CouponCodeRow.created_at, CouponCodeRow.code)
        )
        async with self._transaction("read wallet") as session:
            return [_code(row) for row in await session.scalars(query)]

    async def code_counts(self, promotion_id: str) -> CodeCounts:
        query = select(
            func.count(),
            func.count(CouponCodeRow.customer_id),
            func.count().filter(CouponCodeRow.status == "used"),
        ).where(CouponCodeRow.promotion_id == promotion_id)
        async with self._transaction("count codes") as session:
            total, claimed, used = (await session.execute(query)).one()
            return CodeCounts(total=int(total), claimed=int(claimed), used=int(used))

    async def list_codes(
        self, promotion_id: str, *, status: str | None, after: str | None, limit: int
    ) -> builtins.list[ListedCode]:
        query = (
            select(
                CouponCodeRow.code,
                CouponCodeRow.kind,
                CouponCodeRow.status,
                CouponCodeRow.customer_id,
                ReservationRow.order_id,
            )
            .outerjoin(ReservationRow, ReservationRow.id == CouponCodeRow.reservation_id)
            .where(CouponCodeRow.promotion_id == promotion_id)
            .order_by(CouponCodeRow.code)
            .limit(limit)
        )
        if status is not None:
            query = query.where(CouponCodeRow.status == status)
        if after is not None:
            query = query.where(CouponCodeRow.code > after)
        async with self._transaction("list codes") as session:
            return [
                ListedCode(code=code, kind=kind, status=state, customer_id=customer, order_id=order)
                for code, kind, state, customer, order in await session.execute(query)
            ]

    async def revoke_code(self, promotion_id: str, code: str) -> tuple[ListedCode, bool]:
        now = datetime.now(UTC)
        async with self._transaction("revoke code") as session:
            # locked: a reservation taking it (``WHERE status = 'available'``) waits, then misses
            row = await session.get(CouponCodeRow, code, with_for_update=True)
            if row is None or row.promotion_id != promotion_id:
                raise NotFound(f"promotion {promotion_id!r} has no code {code!r}")
            if row.status == "used":
                raise Conflict(f"code {code!r} is used; a used code cannot be revoked")
            if row.status == "reserved":
                raise Conflict(
                    f"code {code!r} is held by an open reservation; revoke it once that "
                    "reservation is cancelled or expires"
                )
            changed = row.status != REVOKED
            if changed:
                row.status = REVOKED
                await session.flush()
                await _bump(session, now, [promotion_id])
            listed = ListedCode(
                code=row.code,
                kind=row.kind,
                status=row.status,
                customer_id=row.customer_id,
                order_id=None,
            )
        return listed, changed

    async def ping(self) -> None:
        async with self._transaction("ping") as session:
            await session.execute(select(1))


async def _bump(session: AsyncSession, now: datetime, promotion_ids: Sequence[str]) -> RulesVersion:
    """Move the version on (locking ``rules_meta`` until the commit) and note which
    promotions it touched; prune the change log now and then."""
    counter = (
        await session.execute(
            update(RulesMetaRow)
            .where(RulesMetaRow.id == 1)
            .values(version=RulesMetaRow.version + 1, updated_at=now)
            .returning(RulesMetaRow.version)
        )
    ).scalar_one()
    await session.execute(
        insert(RulesChangeRow),
        [{"version": counter, "promotion_id": p} for p in dict.fromkeys(promotion_ids)],
    )
    if counter % _PRUNE_EVERY == 0:
        await session.execute(
            delete(RulesChangeRow).where(RulesChangeRow.version <= counter - RULES_CHANGES_KEPT)
        )
    return RulesVersion(counter=counter, changed_at=now)


def _exist(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:20])
    more = f" and {len(ids) - 20} more" if len(ids) > 20 else ""
    return f"{len(ids)} of these promotions exist already: {shown}{more}"


def _values(row: StoredPromotion, *, created: bool = True) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "trigger": row.trigger,
        "body": row.body,
        "updated_at": row.updated_at,
    }
    if created:
        values["created_at"] = row.created_at
    return values


def _stored(row: Row[Any]) -> StoredPromotion:
    return StoredPromotion(
        id=row.id,
        status=row.status,
        trigger=row.trigger,
        body=row.body,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _version(session: AsyncSession) -> RulesVersion:
    row = await session.get(RulesMetaRow, 1, populate_existing=True)
    if row is None:
        return RulesVersion(counter=0, changed_at=datetime(1970, 1, 1, tzinfo=UTC))
    return RulesVersion(counter=row.version, changed_at=row.updated_at)


def _promotion(row: PromotionRow, written_at: RulesVersion | None = None) -> StoredPromotion:
    return StoredPromotion(
        id=row.id,
        status=row.status,
        trigger=row.trigger,
        body=row.body,
        created_at=row.created_at,
        updated_at=row.updated_at,
        written_at=written_at,
    )


def _code(row: CouponCodeRow) -> StoredCode:
    return StoredCode(
        code=row.code,
        promotion_id=row.promotion_id,
        kind=row.kind,
        customer_id=row.customer_id,
        status=row.status,
    )
