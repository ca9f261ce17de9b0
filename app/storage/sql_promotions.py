"""``SqlPromotionRepository``: the only code that queries the promotion, code and
``rules_meta`` tables (and ``promotion_history``); it implements
``app.promotions.repository.PromotionRepository``.

Works on PostgreSQL and SQLite alike. Every call runs in its own transaction
under a deadline (``DB_TIMEOUT_SECONDS``); a deadline missed or a connection
lost becomes ``Unavailable`` (503 with ``Retry-After``), a duplicate key
``Conflict``. Every write of promotions or codes bumps ``rules_meta`` in the
same transaction, so the version the instances compare moves with the data,
and notes in ``rules_changes`` which promotions that version touched: an
instance at version N reads only those changed after N (``changes_since``).
On SQLite the ``rules_meta`` row is locked from the bump to the commit, so
versions commit in order. On PostgreSQL versions come from a sequence
(``rules_next_version()``): writes do not queue on one row, a version may
commit after a later one or never; readers move past a missing version only
once no writer can still commit it (``_wait_for_writers``). A single
promotion's ``add`` and ``replace`` are one statement there (a data-modifying
CTE in autocommit: one round trip).

A promotion's own ``version`` moves by a conditional ``UPDATE ... WHERE
version = :read`` (or ``DELETE``), never read-then-write: of two writers that
read the same version, the database lets one through and the other's statement
matches no row (``PreconditionFailed``). Its history entry is written in the
same transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    String,
    TextClause,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound, PreconditionFailed
from app.promotions.repository import (
    Changes,
    CodeCounts,
    HistoryEntry,
    Imported,
    ListedCode,
    NewCode,
    NewPromotion,
    PromotionFilter,
    Removed,
    RulesVersion,
    StoredCode,
    StoredPromotion,
)
from app.storage.sql_store import SqlStore
from app.storage.tables import (
    CouponCodeRow,
    JSONDocument,
    OrderCouponRow,
    OrderPromotionRow,
    PromotionHistoryRow,
    PromotionRow,
    ReservationPromotionRow,
    ReservationRow,
    RulesChangeRow,
    RulesMetaRow,
    UtcDateTime,
)

# versions of the change log kept; an instance further behind loads everything
RULES_CHANGES_KEPT = 10_000
_PRUNE_EVERY = 100  # versions
_IMPORT_SECONDS = 60.0  # an import of 10,000 promotions is one transaction
_IN_CHUNK = 1_000  # ids per IN (...) list
REVOKED = "revoked"  # a code's status once revoked: unknown to quotes from then on
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# PostgreSQL: the first key of the writers' advisory lock (the second is the hashtext
# of the schema); migration 0007_rules_version_sequence uses the same number
RULES_VERSION_LOCK = 0x52554C45  # "RULE"

_NEXT_VERSION = text("SELECT rules_next_version()")
_WAIT_FOR_WRITERS = text(
    f"SELECT pg_advisory_xact_lock({RULES_VERSION_LOCK}, hashtext(current_schema()))"
)
# the newest version, and the log from ``counter`` on (consistent: one statement)
_LOG_SINCE = text(
    """
    SELECT newest.version, c.version, c.promotion_id, c.changed_at
    FROM (SELECT max(version) AS version FROM rules_changes) AS newest
    LEFT JOIN rules_changes AS c ON c.version >= :counter
    """
).bindparams(bindparam("counter", type_=BigInteger()))

_TYPED = (
    bindparam("id", type_=String()),
    bindparam("status", type_=String()),
    bindparam("trigger", type_=String()),
    bindparam("body", type_=JSONDocument),
    bindparam("now", type_=UtcDateTime()),
    bindparam("by", type_=String()),
    bindparam("action", type_=String()),
    bindparam("name", type_=String()),
    bindparam("benefit_type", type_=String()),
    bindparam("starts_at", type_=UtcDateTime()),
    bindparam("ends_at", type_=UtcDateTime()),
    bindparam("kept", type_=BigInteger()),
    bindparam("every", type_=BigInteger()),
)

# the version's entry in the change log, and the pruning of the log now and then
_LOG_AND_PRUNE = """
    logged AS (
        INSERT INTO rules_changes (version, promotion_id, changed_at)
        SELECT rules_next_version(), :id, :now FROM written
        RETURNING version
    ), pruned AS (
        DELETE FROM rules_changes
        WHERE version <= (SELECT version FROM logged) - :kept
          AND (SELECT version FROM logged) % :every = 0
    )
"""


def _one_statement(sql: str, *extra: Any) -> TextClause:
    return text(sql).bindparams(*_TYPED, *extra)


# PostgreSQL, one statement: the new row (nothing when the id exists: then no history
# entry and no version either), its history entry, its version logged
_ADD = _one_statement(
    f"""
    WITH last AS (
        SELECT coalesce(max(version), 0) AS version
        FROM promotion_history WHERE promotion_id = :id
    ), written AS (
        INSERT INTO promotions (id, status, trigger, body, created_at, updated_at, version,
                                updated_by, name, benefit_type, starts_at, ends_at)
        SELECT :id, :status, :trigger, :body, :now, :now, last.version + 1,
               :by, :name, :benefit_type, :starts_at, :ends_at
        FROM last
        ON CONFLICT (id) DO NOTHING
        RETURNING version
    ), noted AS (
        INSERT INTO promotion_history (promotion_id, version, changed_at, changed_by, action,
                                       body_before, body_after)
        SELECT :id, version, :now, :by, :action, NULL, :body FROM written
    ), {_LOG_AND_PRUNE}
    SELECT written.version, logged.version FROM written, logged
    """
)

# PostgreSQL, one statement: the row written if still at the version read (``expected``
# when given), its history entry (the body before as read), its version logged. No row:
# not found; ``written`` NULL: another write came first (nothing written)
_REPLACE = _one_statement(
    f"""
    WITH read AS (
        SELECT version, body FROM promotions WHERE id = :id
    ), written AS (
        UPDATE promotions
        SET status = :status, trigger = :trigger, body = :body, updated_at = :now,
            updated_by = :by, name = :name, benefit_type = :benefit_type,
            starts_at = :starts_at, ends_at = :ends_at, version = promotions.version + 1
        WHERE id = :id AND version = coalesce(:expected, (SELECT version FROM read))
        RETURNING version, created_at
    ), noted AS (
        INSERT INTO promotion_history (promotion_id, version, changed_at, changed_by, action,
                                       body_before, body_after)
        SELECT :id, written.version, :now, :by, :action, read.body, :body FROM written, read
    ), {_LOG_AND_PRUNE}
    SELECT read.version, written.version, written.created_at, logged.version
    FROM read LEFT JOIN written ON true LEFT JOIN logged ON true
    """,
    bindparam("expected", type_=BigInteger()),
)

_COLUMNS = (
    PromotionRow.id,
    PromotionRow.status,
    PromotionRow.trigger,
    PromotionRow.body,
    PromotionRow.created_at,
    PromotionRow.updated_at,
    PromotionRow.version,
    PromotionRow.updated_by,
)

# ------------------------------------------------------------------ SQLAlchemy


class SqlPromotionRepository(SqlStore):
    async def add(
        self, *, id: str, status: str, trigger: str, body: Mapping[str, Any], by: str = ""
    ) -> StoredPromotion:
        now = datetime.now(UTC)
        if self.is_postgres:
            return await self._add_in_one_statement(id, status, trigger, body, by, now)
        try:
            async with self._transaction("add promotion") as session:
                if await session.get(PromotionRow, id) is not None:
                    raise Conflict(f"promotion {id!r} already exists")
                version = (await _last_versions(session, [id])).get(id, 0) + 1
                row = PromotionRow(
                    id=id,
                    status=status,
                    trigger=trigger,
                    body=dict(body),
                    created_at=now,
                    updated_at=now,
                    version=version,
                    updated_by=by,
                    **_copied(body),
                )
                session.add(row)
                await session.flush()
                await _note(session, [_entry(id, version, now, by, "created", None, body)])
                written = await _bump(session, now, [id])
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"promotion {id!r} already exists") from exc
        return _promotion(row, written)

    async def _add_in_one_statement(
        self, id: str, status: str, trigger: str, body: Mapping[str, Any], by: str, now: datetime
    ) -> StoredPromotion:
        """PostgreSQL: the row, its history entry and its version in the change log
        written by one statement (autocommit: one round trip, one commit). An id
        that exists inserts nothing and takes no version."""
        values = {**_statement_values(id, status, trigger, body, by, now), "action": "created"}
        try:
            async with self._core("add promotion", write=False) as conn:
                found = (await conn.execute(_ADD, values)).one_or_none()
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"promotion {id!r} already exists") from exc
        if found is None:
            raise Conflict(f"promotion {id!r} already exists")
        version, counter = found
        return StoredPromotion(
            id=id,
            status=status,
            trigger=trigger,
            body=dict(body),
            created_at=now,
            updated_at=now,
            written_at=RulesVersion(counter=int(counter), changed_at=now),
            version=int(version),
            updated_by=by,
        )

    async def get(self, promotion_id: str) -> StoredPromotion | None:
        async with self._transaction("get promotion") as session:
            row = await session.get(PromotionRow, promotion_id)
            return None if row is None else _promotion(row)

    async def page(
        self, filters: PromotionFilter, *, after: str | None, limit: int
    ) -> builtins.list[StoredPromotion]:
        query = select(*_COLUMNS).where(*_matching(filters)).order_by(PromotionRow.id).limit(limit)
        if after is not None:
            query = query.where(PromotionRow.id > after)
        async with self._transaction("list promotions") as session:
            return [_stored(row) for row in await session.execute(query)]

    async def replace(
        self,
        *,
        id: str,
        status: str,
        trigger: str,
        body: Mapping[str, Any],
        by: str = "",
        expected_version: int | None = None,
        action: str = "replaced",
    ) -> StoredPromotion:
        now = datetime.now(UTC)
        if self.is_postgres:
            values = _statement_values(id, status, trigger, body, by, now)
            values.update(action=action, expected=expected_version)
            async with self._core("replace promotion", write=False) as conn:
                found = (await conn.execute(_REPLACE, values)).one_or_none()
            if found is None:
                raise NotFound(f"no promotion {id!r}")
            before, version, created_at, counter = found
            if version is None:
                if expected_version is not None and before != expected_version:
                    raise PreconditionFailed(
                        f"promotion {id!r} is at version {before}, not {expected_version}"
                    )
                raise PreconditionFailed(f"promotion {id!r} changed meanwhile")
            return StoredPromotion(
                id=id,
                status=status,
                trigger=trigger,
                body=dict(body),
                created_at=created_at,
                updated_at=now,
                written_at=RulesVersion(counter=int(counter), changed_at=now),
                version=int(version),
                updated_by=by,
            )
        async with self._transaction("replace promotion") as session:
            version, before, _ = await _current(session, id, expected_version)
            created_at = await _write(
                session,
                id,
                version,
                status=status,
                trigger=trigger,
                body=dict(body),
                updated_at=now,
                updated_by=by,
                **_copied(body),
            )
            await _note(session, [_entry(id, version + 1, now, by, action, before, body)])
            written = await _bump(session, now, [id])
        return StoredPromotion(
            id=id,
            status=status,
            trigger=trigger,
            body=dict(body),
            created_at=created_at,
            updated_at=now,
            written_at=written,
            version=version + 1,
            updated_by=by,
        )

    async def delete(
        self, promotion_id: str, *, by: str = "", expected_version: int | None = None
    ) -> Removed:
        now = datetime.now(UTC)
        async with self._transaction("delete promotion") as session:
            version, before, status = await _current(session, promotion_id, expected_version)
            if await _referenced(session, promotion_id):
                if status == "archived":  # archived already: nothing to change
                    row = await session.get(PromotionRow, promotion_id)
                    assert row is not None
                    return Removed(await _version(session), archived=_promotion(row))
                archived = {**before, "status": "archived"}
                await _write(
                    session,
                    promotion_id,
                    version,
                    status="archived",
                    body=archived,
                    updated_at=now,
                    updated_by=by,
                )
                entry = _entry(promotion_id, version + 1, now, by, "deleted", before, archived)
                await _note(session, [entry])
                written = await _bump(session, now, [promotion_id])
                row = await session.get(PromotionRow, promotion_id, populate_existing=True)
                assert row is not None
                return Removed(written, archived=_promotion(row, written))
            await session.execute(
                delete(CouponCodeRow).where(CouponCodeRow.promotion_id == promotion_id)
            )
            result = await session.execute(
                delete(PromotionRow).where(
                    PromotionRow.id == promotion_id, PromotionRow.version == version
                )
            )
            if getattr(result, "rowcount", 0) != 1:
                raise PreconditionFailed(f"promotion {promotion_id!r} changed meanwhile")
            entry = _entry(promotion_id, version + 1, now, by, "deleted", before, None)
            await _note(session, [entry])
            return Removed(await _bump(session, now, [promotion_id]))

    async def history(self, promotion_id: str) -> builtins.list[HistoryEntry]:
        query = (
            select(PromotionHistoryRow)
            .where(PromotionHistoryRow.promotion_id == promotion_id)
            .order_by(PromotionHistoryRow.version.desc())
        )
        async with self._transaction("read promotion history") as session:
            return [
                HistoryEntry(
                    promotion_id=row.promotion_id,
                    version=row.version,
                    at=row.changed_at,
                    by=row.changed_by,
                    action=row.action,
                    before=row.body_before,
                    after=row.body_after,
                )
                for row in await session.scalars(query)
            ]

    async def current_version(self) -> RulesVersion:
        async with self._transaction("read rules version") as session:
            return await _version(session)

    async def import_many(
        self, promotions: Sequence[NewPromotion], *, replace: bool, by: str = ""
    ) -> Imported:
        now = datetime.now(UTC)
        ids = [p.id for p in promotions]
        try:
            async with self._transaction("import promotions", within=_IMPORT_SECONDS) as session:
                existing: dict[str, tuple[datetime, int]] = {}
                for start in range(0, len(ids), _IN_CHUNK):
                    found = await session.execute(
                        select(
                            PromotionRow.id, PromotionRow.created_at, PromotionRow.version
                        ).where(PromotionRow.id.in_(ids[start : start + _IN_CHUNK]))
                    )
                    existing.update((i, (at, v)) for i, at, v in found)
                if existing and not replace:
                    raise Conflict(_exist(sorted(existing)))
                last = await _last_versions(session, [i for i in ids if i not in existing])
                rows = [
                    StoredPromotion(
                        id=p.id,
                        status=p.status,
                        trigger=p.trigger,
                        body=dict(p.body),
                        created_at=existing[p.id][0] if p.id in existing else now,
                        updated_at=now,
                        version=(existing[p.id][1] if p.id in existing else last.get(p.id, 0)) + 1,
                        updated_by=by,
                    )
                    for p in promotions
                ]
                fresh = [_values(r) for r in rows if r.id not in existing]
                if fresh:
                    await session.execute(insert(PromotionRow), fresh)
                    await _note_imported(session, [r["id"] for r in fresh], now, by, fresh=True)
                replaced = [_values(r, created=False) for r in rows if r.id in existing]
                if replaced:
                    await _note_imported(session, list(existing), now, by, fresh=False)
                    await session.execute(update(PromotionRow), replaced)
                    await _note_imported_after(session, list(existing))
                version = await _bump(session, now, ids)
        except sa_exc.IntegrityError as exc:  # an id stored meanwhile by another writer
            raise Conflict("a promotion of the import was stored meanwhile; try again") from exc
        return Imported(
            version=version, rows=tuple(rows), created=len(fresh), updated=len(replaced)
        )

    async def load(self) -> tuple[RulesVersion, builtins.list[StoredPromotion]]:
        if self.is_postgres:
            # every version up to the newest committed is settled once no writer is
            # between taking its version and its commit (_wait_for_writers); the rows read
            # after are at least as new
            async with self._transaction("read rules version") as session:
                await _wait_for_writers(session)
                version = await _version(session)
            async with self._transaction("load promotions") as session:
                rows = await session.execute(select(*_COLUMNS).order_by(PromotionRow.id))
                return version, [_stored(row) for row in rows]
        async with self._transaction("load promotions") as session:
            version = await _version(session)
            rows = await session.execute(select(*_COLUMNS).order_by(PromotionRow.id))
            return version, [_stored(row) for row in rows]

    async def changes_since(self, counter: int) -> Changes:
        if self.is_postgres:
            return await self._changes_since_settled(counter)
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

    async def _changes_since_settled(self, counter: int) -> Changes:
        """PostgreSQL: versions come from a sequence, so one may be missing (its
        write failed, or has not committed yet) while later ones are committed.
        This never moves past a missing version while a writer may still commit
        it: when the versions after ``counter`` are not all there, it waits for
        every writer between taking its version and its commit (``_wait_for_writers``),
        then reads again; what is missing then never comes."""
        async with self._transaction("read rules changes") as session:
            top, logged = await _log_since(session, counter)
            if top is None:  # nothing logged yet: the version of rules_meta
                version = await _meta_version(session)
                return Changes(version, complete=version.counter == counter)
            settled = len({v for v, _, _ in logged if v > counter}) == top - counter
            if top > counter >= max(0, top - RULES_CHANGES_KEPT) and not settled:
                await _wait_for_writers(session)
                top, logged = await _log_since(session, counter)
                assert top is not None  # the newest entry is never pruned
            at = next((t for v, _, t in logged if v == top), None)
            version = RulesVersion(counter=top, changed_at=at or _EPOCH)
            if top == counter:
                return Changes(version)
            if counter < 0 or top < counter or counter < top - RULES_CHANGES_KEPT:
                return Changes(version, complete=False)  # maybe pruned, or the log was reset
            changed = {p for v, p, _ in logged if v > counter}
            rows = await session.execute(
                select(*_COLUMNS).where(
                    PromotionRow.id.in_(
                        select(RulesChangeRow.promotion_id).where(
                            (RulesChangeRow.version > counter) & (RulesChangeRow.version <= top)
                        )
                    )
                )
            )
            stored = tuple(_stored(row) for row in rows)
            removed = tuple(sorted(changed - {row.id for row in stored}))
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
    """Take the next version and note which promotions it touched; prune the change
    log now and then. PostgreSQL: from ``rules_next_version()`` (the sequence; the
    shared writers' lock held to the commit, see ``_wait_for_writers``); SQLite:
    ``rules_meta`` moved on, locked until the commit. Called last in a transaction,
    so that lock is held only for the commit."""
    if _is_postgres(session):
        counter = int((await session.execute(_NEXT_VERSION)).scalar_one())
    else:
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
        [
            {"version": counter, "promotion_id": p, "changed_at": now}
            for p in dict.fromkeys(promotion_ids)
        ],
    )
    if counter % _PRUNE_EVERY == 0:
        await session.execute(
            delete(RulesChangeRow).where(RulesChangeRow.version <= counter - RULES_CHANGES_KEPT)
        )
    return RulesVersion(counter=counter, changed_at=now)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _statement_values(
    id: str, status: str, trigger: str, body: Mapping[str, Any], by: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": id,
        "status": status,
        "trigger": trigger,
        "body": dict(body),
        "now": now,
        "by": by,
        "kept": RULES_CHANGES_KEPT,
        "every": _PRUNE_EVERY,
        **_copied(body),
    }


async def _wait_for_writers(session: AsyncSession) -> None:
    """PostgreSQL: wait until no writer is between taking its version and its
    commit, and keep new ones from taking one until this transaction ends. Every
    writer takes the lock shared in ``rules_next_version()`` before ``nextval``
    and holds it to its commit, so once this has it, every version the sequence
    has given is committed (readable by the next statement) or never will be."""
    await session.execute(_WAIT_FOR_WRITERS)


async def _log_since(
    session: AsyncSession, counter: int
) -> tuple[int | None, list[tuple[int, str, datetime | None]]]:
    """The newest version logged (None: the log is empty) and the log's entries from
    ``counter`` on, in one statement."""
    newest: int | None = None
    logged: list[tuple[int, str, datetime | None]] = []
    for top, version, promotion_id, at in await session.execute(_LOG_SINCE, {"counter": counter}):
        newest = None if top is None else int(top)
        if version is not None:
            logged.append((int(version), promotion_id, at))
    return newest, logged


async def _current(
    session: AsyncSession, promotion_id: str, expected_version: int | None
) -> tuple[int, dict[str, Any], str]:
    """The promotion's version, body and status; ``NotFound``, or
    ``PreconditionFailed`` when ``expected_version`` is given and not current."""
    found = (
        await session.execute(
            select(PromotionRow.version, PromotionRow.body, PromotionRow.status).where(
                PromotionRow.id == promotion_id
            )
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"no promotion {promotion_id!r}")
    version, body, status = found
    if expected_version is not None and version != expected_version:
        raise PreconditionFailed(
            f"promotion {promotion_id!r} is at version {version}, not {expected_version}"
        )
    return int(version), dict(body), str(status)


async def _write(session: AsyncSession, promotion_id: str, version: int, **values: Any) -> datetime:
    """Write the next version of a promotion if it is still at ``version`` (one
    conditional statement; its ``created_at``), else ``PreconditionFailed``."""
    created_at = (
        await session.execute(
            update(PromotionRow)
            .where(PromotionRow.id == promotion_id, PromotionRow.version == version)
            .values(version=version + 1, **values)
            .returning(PromotionRow.created_at),
            execution_options={"synchronize_session": False},
        )
    ).scalar_one_or_none()
    if created_at is None:
        raise PreconditionFailed(f"promotion {promotion_id!r} changed meanwhile")
    return created_at


async def _referenced(session: AsyncSession, promotion_id: str) -> bool:
    """Whether a reservation or an order names the promotion."""
    query = select(
        or_(
            exists().where(ReservationPromotionRow.promotion_id == promotion_id),
            exists().where(OrderPromotionRow.promotion_id == promotion_id),
            exists().where(OrderCouponRow.promotion_id == promotion_id),
        )
    )
    return bool((await session.execute(query)).scalar())


async def _last_versions(session: AsyncSession, promotion_ids: Sequence[str]) -> dict[str, int]:
    """The last history version of each id that has one (a promotion removed and
    stored again goes on from there, so an id and a version name one body)."""
    last: dict[str, int] = {}
    for start in range(0, len(promotion_ids), _IN_CHUNK):
        found = await session.execute(
            select(PromotionHistoryRow.promotion_id, func.max(PromotionHistoryRow.version))
            .where(PromotionHistoryRow.promotion_id.in_(promotion_ids[start : start + _IN_CHUNK]))
            .group_by(PromotionHistoryRow.promotion_id)
        )
        last.update((p, int(v)) for p, v in found)
    return last


def _entry(
    promotion_id: str,
    version: int,
    at: datetime,
    by: str,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "promotion_id": promotion_id,
        "version": version,
        "changed_at": at,
        "changed_by": by,
        "action": action,
        "body_before": None if before is None else dict(before),
        "body_after": None if after is None else dict(after),
    }


async def _note_imported(
    session: AsyncSession, promotion_ids: Sequence[str], now: datetime, by: str, *, fresh: bool
) -> None:
    """The ``imported`` history entries of an import, copied in the database from the
    rows (no body goes through Python again): of ``fresh`` rows once inserted
    (nothing before), else of existing rows before their update (the body before;
    ``_note_imported_after`` adds the body after)."""
    history = PromotionHistoryRow
    columns = ["promotion_id", "version", "changed_at", "changed_by", "action"]
    columns += ["body_before", "body_after"]
    for start in range(0, len(promotion_ids), _IN_CHUNK):
        chunk = promotion_ids[start : start + _IN_CHUNK]
        stamp = (literal(now, UtcDateTime()), literal(by, String()), literal("imported", String()))
        if fresh:
            rows = select(PromotionRow.id, PromotionRow.version, *stamp, null(), PromotionRow.body)
        else:
            rows = select(
                PromotionRow.id, PromotionRow.version + 1, *stamp, PromotionRow.body, null()
            )
        rows = rows.where(PromotionRow.id.in_(chunk))
        await session.execute(insert(history).from_select(columns, rows))


async def _note_imported_after(session: AsyncSession, promotion_ids: Sequence[str]) -> None:
    """The body after, on the ``imported`` entries of rows just updated."""
    history = PromotionHistoryRow
    for start in range(0, len(promotion_ids), _IN_CHUNK):
        stored = select(PromotionRow.body).where(PromotionRow.id == history.promotion_id)
        await session.execute(
            update(history)
            .where(
                history.promotion_id.in_(promotion_ids[start : start + _IN_CHUNK]),
                history.version
                == select(PromotionRow.version)
                .where(PromotionRow.id == history.promotion_id)
                .scalar_subquery(),
            )
            .values(body_after=stored.scalar_subquery()),
            execution_options={"synchronize_session": False},
        )


async def _note(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """Write history entries (one bulk insert)."""
    if entries:
        await session.execute(insert(PromotionHistoryRow), list(entries))


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _copied(body: Mapping[str, Any]) -> dict[str, Any]:
    """The columns copied out of a body for the listing's filters."""
    benefit = body.get("benefit")
    return {
        "name": str(body.get("name") or body.get("id") or ""),
        "benefit_type": str(benefit.get("type", ""))[:32] if isinstance(benefit, Mapping) else "",
        "starts_at": _time(body.get("starts_at")),
        "ends_at": _time(body.get("ends_at")),
    }


def _matching(filters: PromotionFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a listing; ``effective`` as ``PromotionDocument.effective``
    judges it."""
    now = filters.now
    row = PromotionRow
    clauses: list[ColumnElement[bool]] = []
    if filters.status is not None:
        clauses.append(row.status == filters.status)
    if filters.benefit_type is not None:
        clauses.append(row.benefit_type == filters.benefit_type)
    if filters.trigger is not None:
        clauses.append(row.trigger == filters.trigger)
    if filters.q:
        text = filters.q.lower()
        clauses.append(
            or_(
                func.lower(row.id).contains(text, autoescape=True),
                func.lower(row.name).contains(text, autoescape=True),
            )
        )
    over = row.ends_at.is_not(None) & (row.ends_at <= now)
    live = row.status.in_(("active", "paused"))
    if filters.effective == "ended":
        clauses.append((row.status == "ended") | (live & over))
    elif filters.effective == "paused":
        clauses.append((row.status == "paused") & ~over)
    elif filters.effective == "scheduled":
        clauses.append((row.status == "active") & row.starts_at.is_not(None))
        clauses.append((row.starts_at > now) & ~over)
    elif filters.effective == "running":
        clauses.append((row.status == "active") & ~over)
        clauses.append(row.starts_at.is_(None) | (row.starts_at <= now))
    return clauses


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
        "version": row.version,
        "updated_by": row.updated_by,
        **_copied(row.body),
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
        version=row.version,
        updated_by=row.updated_by,
    )


async def _version(session: AsyncSession) -> RulesVersion:
    """The newest version committed (PostgreSQL: the newest in the change log, which
    says nothing of older versions not committed yet; see ``_wait_for_writers``)."""
    if _is_postgres(session):
        newest = (
            await session.execute(
                select(RulesChangeRow.version, RulesChangeRow.changed_at)
                .order_by(RulesChangeRow.version.desc())
                .limit(1)
            )
        ).first()
        if newest is not None:
            return RulesVersion(counter=int(newest[0]), changed_at=newest[1] or _EPOCH)
    return await _meta_version(session)


async def _meta_version(session: AsyncSession) -> RulesVersion:
    row = await session.get(RulesMetaRow, 1, populate_existing=True)
    if row is None:
        return RulesVersion(counter=0, changed_at=_EPOCH)
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
        version=row.version,
        updated_by=row.updated_by,
    )


def _code(row: CouponCodeRow) -> StoredCode:
    return StoredCode(
        code=row.code,
        promotion_id=row.promotion_id,
        kind=row.kind,
        customer_id=row.customer_id,
        status=row.status,
    )
