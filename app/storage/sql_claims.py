"""``SqlClaimRepository``: the only code that queries ``coupon_claims`` and
``coupon_claim_counts``; it implements ``app.coupons.claims.ClaimLedger``.

A claim is atomic: the customer's count raised only while below its limit
(``INSERT … ON CONFLICT DO UPDATE … WHERE claimed < limit``), the code row
(``coupon_codes``, kind ``unique``, owned by the customer) and the claim row
with its slot. On PostgreSQL that is one statement (data-modifying CTEs: one
round trip, one commit); on SQLite one ORM transaction. The promotion's total
is bounded by the slot: it must be within ``max_claims`` and is unique per
promotion, so no row is shared by the claims of one promotion and their commits
do not queue behind each other.
Redis decides first (``claim.lua``, which hands out the slots) and keeps the
load away from here; the slots and counts make the limits hold even when Redis
lost what it knew (docs/coupons.md). PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.elements import TextClause

from app.coupons.claims import (
    ClaimLimits,
    NewClaim,
    Stored,
    StoredClaim,
    StoreResult,
    WalletCode,
)
from app.observability import series
from app.resilience.breaker import CircuitBreaker
from app.storage.batches import Batches
from app.storage.sql_store import SqlStore
from app.storage.tables import CouponClaimCountRow, CouponClaimRow, CouponCodeRow


def _claim_statement(below: str) -> TextClause:
    """The claim in one statement (PostgreSQL), built once: ``text()`` parses its
    bind parameters, and the statement cache keys on the text."""
    return text(
        f"""
        WITH counted AS (
            INSERT INTO coupon_claim_counts (promotion_id, customer_id, claimed)
            VALUES (:promotion_id, :customer_id, 1)
            ON CONFLICT (promotion_id, customer_id)
            DO UPDATE SET claimed = coupon_claim_counts.claimed + 1 {below}
            RETURNING claimed
        ), code AS (
            INSERT INTO coupon_codes (code, promotion_id, kind, customer_id, status, created_at)
            SELECT :code, :promotion_id, 'unique', :customer_id, 'available', :at FROM counted
        ), claim AS (
            INSERT INTO coupon_claims
                (claim_id, promotion_id, customer_id, code, claimed_at, slot)
            SELECT :claim_id, :promotion_id, :customer_id, :code, :at, :slot FROM counted
        )
        SELECT count(*) FROM counted
        """
    )


_CLAIM_BELOW_LIMIT = _claim_statement("WHERE coupon_claim_counts.claimed < :limit")
_CLAIM_UNLIMITED = _claim_statement("")

# The claims of one batch in one statement (PostgreSQL): the same three inserts over
# the rows of ``unnest``; a customer's count is raised only while below that row's
# limit (none: no bound), and the code and the claim are written only for the rows
# whose count was. No two rows of a batch share (promotion, customer): one statement
# may not update a row twice. Returns the (promotion, customer) pairs counted.
_CLAIM_BATCH = text(
    """
    WITH given AS (
        SELECT * FROM unnest(
            CAST(:promotion_ids AS text[]), CAST(:customer_ids AS text[]),
            CAST(:codes AS text[]), CAST(:claim_ids AS text[]),
            CAST(:ats AS timestamptz[]), CAST(:slots AS integer[]), CAST(:limits AS integer[])
        ) AS g(promotion_id, customer_id, code, claim_id, at, slot, most)
    ), counted AS (
        INSERT INTO coupon_claim_counts (promotion_id, customer_id, claimed)
        SELECT promotion_id, customer_id, 1 FROM given
        ON CONFLICT (promotion_id, customer_id)
        DO UPDATE SET claimed = coupon_claim_counts.claimed + 1
        WHERE coupon_claim_counts.claimed < coalesce((
            SELECT g.most FROM given g
            WHERE g.promotion_id = excluded.promotion_id AND g.customer_id = excluded.customer_id
        ), 2147483647)
        RETURNING promotion_id, customer_id
    ), chosen AS (
        SELECT g.* FROM given g JOIN counted c USING (promotion_id, customer_id)
    ), code AS (
        INSERT INTO coupon_codes (code, promotion_id, kind, customer_id, status, created_at)
        SELECT code, promotion_id, 'unique', customer_id, 'available', at FROM chosen
    ), claim AS (
        INSERT INTO coupon_claims (claim_id, promotion_id, customer_id, code, claimed_at, slot)
        SELECT claim_id, promotion_id, customer_id, code, at, slot FROM chosen
    )
    SELECT promotion_id, customer_id FROM counted
    """
)

# claims written together at most (a statement's arrays); more wait for the next batch
BATCH_MAX = 128
# batches in flight at once: while they are, claims queue up for the next one
BATCHES_IN_FLIGHT = 2


@dataclass(frozen=True, slots=True)
class _Waiting:
    claim: NewClaim
    per_customer: int | None


class _ClaimBatches:
    """Group commit of claims on PostgreSQL (``app.storage.batches``): every claim
    queued while ``BATCHES_IN_FLIGHT`` batches run goes in the next one (up to
    ``BATCH_MAX``, one customer of a promotion once): one statement and one commit
    for all of them. Light load: each claim its own batch, no wait; at a rush, one
    round trip and one fsync carry tens. ``add`` answers whether the claim was
    counted. A batch that fails leaves nothing written (one statement); its claims
    are told so each on its own (``Unavailable``: the caller takes its claim back
    in Redis), or, when a row clashed (a replayed claim id, a slot the database
    holds), written again one by one so that only the clashing claim is refused."""

    def __init__(
        self,
        run: Callable[[list[_Waiting]], Awaitable[set[tuple[str, str]]]],
    ) -> None:
        self._run = run
        self._batches: Batches[_Waiting, bool] = Batches(
            self._write, most=BATCH_MAX, in_flight=BATCHES_IN_FLIGHT, key=_pair
        )

    async def add(self, claim: NewClaim, per_customer: int | None) -> bool:
        return await self._batches.add(_Waiting(claim, per_customer))

    async def _write(self, batch: list[_Waiting]) -> list[bool]:
        series.claim_batch(len(batch))
        counted = await self._run(batch)
        return [_pair(waiting) in counted for waiting in batch]


def _pair(waiting: _Waiting) -> tuple[str, str]:
    return (waiting.claim.promotion_id, waiting.claim.customer_id)


class _OverLimit(Exception):
    """A count is at its limit (internal: rolls the transaction back)."""


class _Clashed(Exception):
    """A row of a batch clashed with a stored one: nothing of the batch was written."""


class SqlClaimRepository(SqlStore):
    def __init__(
        self, engine: AsyncEngine, *, timeout: float, breaker: CircuitBreaker | None = None
    ) -> None:
        super().__init__(engine, timeout=timeout, breaker=breaker)
        self._batches = _ClaimBatches(self._write_batch)

    async def add_claim(self, claim: NewClaim, limits: ClaimLimits) -> StoreResult:
        if claim.slot < 1 or (limits.max_claims is not None and claim.slot > limits.max_claims):
            return StoreResult(Stored.OVER_LIMIT, detail="max_claims")
        per_customer = limits.max_claims_per_customer
        if per_customer is not None and per_customer < 1:
            return StoreResult(Stored.OVER_LIMIT, detail="max_claims_per_customer")
        if self.is_postgres:
            return await self._add_claim_in_one_statement(claim, per_customer)
        try:
            async with self._transaction("add claim") as session:
                session.add(
                    CouponCodeRow(
                        code=claim.code,
                        promotion_id=claim.promotion_id,
                        kind="unique",
                        customer_id=claim.customer_id,
                        status="available",
                        created_at=claim.claimed_at,
                    )
                )
                session.add(
                    CouponClaimRow(
                        claim_id=claim.claim_id,
                        promotion_id=claim.promotion_id,
                        customer_id=claim.customer_id,
                        code=claim.code,
                        claimed_at=claim.claimed_at,
                        slot=claim.slot,
                    )
                )
                await session.flush()
                await self._count(session, claim, limits.max_claims_per_customer)
        except _OverLimit as exc:
            return StoreResult(Stored.OVER_LIMIT, detail=str(exc))
        except sa_exc.IntegrityError:
            return await self._replay(claim)
        return StoreResult(Stored.STORED, _stored_of(claim))

    async def _add_claim_in_one_statement(
        self, claim: NewClaim, per_customer: int | None
    ) -> StoreResult:
        """PostgreSQL: the customer's count raised (while below its limit), then the
        code and the claim written only if it was, in one statement with the other
        claims of its batch (``_ClaimBatches``): one round trip and one commit
        (autocommit; a statement is atomic). A clash (the claim id, the slot, the
        code) fails the whole statement: nothing is written, and each claim of the
        batch is written again on its own."""
        try:
            counted = await self._batches.add(claim, per_customer)
        except _Clashed:
            return await self._add_claim_alone(claim, per_customer)
        return await self._outcome(claim, counted=counted)

    async def _write_batch(self, batch: builtins.list[_Waiting]) -> set[tuple[str, str]]:
        values = {
            "promotion_ids": [w.claim.promotion_id for w in batch],
            "customer_ids": [w.claim.customer_id for w in batch],
            "codes": [w.claim.code for w in batch],
            "claim_ids": [w.claim.claim_id for w in batch],
            "ats": [w.claim.claimed_at for w in batch],
            "slots": [w.claim.slot for w in batch],
            "limits": [w.per_customer for w in batch],
        }
        try:
            async with self._core("add claims", write=False) as conn:
                rows = (await conn.execute(_CLAIM_BATCH, values)).all()
        except sa_exc.IntegrityError as exc:
            raise _Clashed from exc
        return {(row[0], row[1]) for row in rows}

    async def _add_claim_alone(self, claim: NewClaim, per_customer: int | None) -> StoreResult:
        """One claim in its own statement (after its batch clashed)."""
        statement = _CLAIM_BELOW_LIMIT if per_customer is not None else _CLAIM_UNLIMITED
        values: dict[str, Any] = {
            "promotion_id": claim.promotion_id,
            "customer_id": claim.customer_id,
            "code": claim.code,
            "claim_id": claim.claim_id,
            "at": claim.claimed_at,
            "slot": claim.slot,
        }
        if per_customer is not None:
            values["limit"] = per_customer
        try:
            async with self._core("add claim", write=False) as conn:
                counted = bool((await conn.execute(statement, values)).scalar_one())
        except sa_exc.IntegrityError:
            return await self._replay(claim)
        return await self._outcome(claim, counted=counted)

    async def _outcome(self, claim: NewClaim, *, counted: bool) -> StoreResult:
        if not counted:
            # at the customer's limit, or this very claim stored before (a replay:
            # its own claim holds the count), which the limit must not refuse
            async with self._transaction("read claim") as session:
                stored = await session.get(CouponClaimRow, claim.claim_id)
            if stored is not None:
                return await self._replay(claim)
            return StoreResult(Stored.OVER_LIMIT, detail="max_claims_per_customer")
        return StoreResult(Stored.STORED, _stored_of(claim))

    async def _count(self, session: AsyncSession, claim: NewClaim, limit: int | None) -> None:
        """SQLite (PostgreSQL counts inside ``_add_claim_in_one_statement``)."""
        table: Any = CouponClaimCountRow.__table__
        statement = (
            sqlite.insert(table)
            .values(promotion_id=claim.promotion_id, customer_id=claim.customer_id, claimed=1)
            .on_conflict_do_update(
                index_elements=[table.c.promotion_id, table.c.customer_id],
                set_={"claimed": table.c.claimed + 1},
                where=None if limit is None else table.c.claimed < limit,
            )
            .returning(table.c.claimed)
        )
        if (await session.execute(statement)).first() is None:
            raise _OverLimit("max_claims_per_customer")

    async def _replay(self, claim: NewClaim) -> StoreResult:
        """The insert clashed: the same claim stored before (a replay), its id
        used by someone else, its slot held by another claim (the counters are
        behind the database), or, once in 2^60, its code."""
        async with self._transaction("read claim") as session:
            row = await session.get(CouponClaimRow, claim.claim_id)
            if row is None:
                holder = await session.scalar(
                    select(CouponClaimRow.claim_id).where(
                        CouponClaimRow.promotion_id == claim.promotion_id,
                        CouponClaimRow.slot == claim.slot,
                    )
                )
                if holder is not None:
                    return StoreResult(Stored.SLOT_TAKEN, detail=f"slot {claim.slot}")
                return StoreResult(Stored.CLAIM_ID_TAKEN, detail="code clash")
            stored = _stored(row)
        if stored.customer_id != claim.customer_id or stored.promotion_id != claim.promotion_id:
            return StoreResult(Stored.CLAIM_ID_TAKEN, detail="claim id")
        return StoreResult(Stored.REPLAY, stored)

    async def claims(self, promotion_id: str) -> builtins.list[StoredClaim]:
        query = (
            select(CouponClaimRow)
            .where(CouponClaimRow.promotion_id == promotion_id)
            .order_by(CouponClaimRow.claimed_at, CouponClaimRow.claim_id)
        )
        async with self._transaction("read claims") as session:
            return [_stored(row) for row in await session.scalars(query)]

    async def wallet(self, customer_id: str) -> builtins.list[WalletCode]:
        query = (
            select(CouponCodeRow, CouponClaimRow.claimed_at)
            .outerjoin(CouponClaimRow, CouponClaimRow.code == CouponCodeRow.code)
            .where(CouponCodeRow.customer_id == customer_id)
            .where(CouponCodeRow.status != "revoked")  # a revoked code leaves the wallet
            .order_by(CouponCodeRow.created_at, CouponCodeRow.code)
        )
        async with self._transaction("read wallet") as session:
            return [
                WalletCode(
                    code=row.code,
                    promotion_id=row.promotion_id,
                    status=row.status,
                    claimed_at=claimed_at,
                )
                for row, claimed_at in (await session.execute(query)).all()
            ]


def _stored_of(claim: NewClaim) -> StoredClaim:
    return StoredClaim(
        claim_id=claim.claim_id,
        promotion_id=claim.promotion_id,
        customer_id=claim.customer_id,
        code=claim.code,
        claimed_at=claim.claimed_at,
        slot=claim.slot,
    )


def _stored(row: CouponClaimRow) -> StoredClaim:
    return StoredClaim(
        claim_id=row.claim_id,
        promotion_id=row.promotion_id,
        customer_id=row.customer_id,
        code=row.code,
        claimed_at=row.claimed_at,
        slot=row.slot,
    )
