"""``SqlPromotionRepository``: the only code that queries the promotion, code and
``rules_meta`` tables; it implements ``app.promotions.repository.PromotionRepository``.

Works on PostgreSQL and SQLite alike. Every call runs in its own transaction
under a deadline (``DB_TIMEOUT_SECONDS``); a deadline missed or a connection
lost becomes ``Unavailable`` (503 with ``Retry-After``), a duplicate key
``Conflict``. Every write of promotions or codes bumps ``rules_meta`` in the
same transaction, so the version the instances compare moves with the data.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.promotions.repository import (
    CodeCounts,
    NewCode,
    RulesVersion,
    StoredCode,
    StoredPromotion,
)
from app.storage.sql_store import SqlStore
from app.storage.tables import CouponCodeRow, PromotionRow, RulesMetaRow

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
                await _bump(session, now)
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"promotion {id!r} already exists") from exc
        return _promotion(row)

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
            await _bump(session, now)
            return _promotion(row)

    async def delete(self, promotion_id: str) -> None:
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
            await _bump(session, now)

    async def current_version(self) -> RulesVersion:
        async with self._transaction("read rules version") as session:
            return await _version(session)

    async def load(self) -> tuple[RulesVersion, builtins.list[StoredPromotion]]:
        async with self._transaction("load promotions") as session:
            version = await _version(session)
            rows = await session.scalars(select(PromotionRow).order_by(PromotionRow.id))
            return version, [_promotion(row) for row in rows]

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
                await _bump(session, now)
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
        query = select(CouponCodeRow).where(CouponCodeRow.code.in_(list(codes)))
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

    async def ping(self) -> None:
        async with self._transaction("ping") as session:
            await session.execute(select(1))


async def _bump(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        update(RulesMetaRow)
        .where(RulesMetaRow.id == 1)
        .values(version=RulesMetaRow.version + 1, updated_at=now)
    )


async def _version(session: AsyncSession) -> RulesVersion:
    row = await session.get(RulesMetaRow, 1, populate_existing=True)
    if row is None:
        return RulesVersion(counter=0, changed_at=datetime(1970, 1, 1, tzinfo=UTC))
    return RulesVersion(counter=row.version, changed_at=row.updated_at)


def _promotion(row: PromotionRow) -> StoredPromotion:
    return StoredPromotion(
        id=row.id,
        status=row.status,
        trigger=row.trigger,
        body=row.body,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _code(row: CouponCodeRow) -> StoredCode:
    return StoredCode(
        code=row.code,
        promotion_id=row.promotion_id,
        kind=row.kind,
        customer_id=row.customer_id,
        status=row.status,
    )
