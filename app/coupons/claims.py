"""Claims (领券): the records and the two ports the claim service needs.

``ClaimCounters`` decides a claim against the promotion's limits, atomically
(``app.coupons.redis_claims.RedisClaims``: one Lua script per claim);
``ClaimLedger`` stores it durably and is the last word on the limits
(``app.storage.sql_claims.SqlClaimRepository``). docs/coupons.md records why
both, and in which order.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

# ----------------------------------------------------------------------- records


class ClaimCode(StrEnum):
    """What the counters answer to a claim (``claim.lua``'s return codes)."""

    OK = "OK"
    CLAIM_ID_TAKEN = "CLAIM_ID_TAKEN"
    NOT_LOADED = "NOT_LOADED"
    NOT_ACTIVE = "NOT_ACTIVE"
    LIMIT_REACHED = "LIMIT_REACHED"


@dataclass(frozen=True, slots=True)
class CounterAnswer:
    code: ClaimCode
    detail: str = ""  # "claimed" | "replay"; the limit; "not_started" | "ended"
    value: str = ""  # the code (OK); the count so far (LIMIT_REACHED)
    slot: int = 0  # the claim's slot (OK): 1..max_claims, distinct among the claims held

    @property
    def ok(self) -> bool:
        return self.code is ClaimCode.OK


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    """A promotion's window and claim limits, as the counters check them."""

    starts_at: datetime | None = None
    ends_at: datetime | None = None
    max_claims: int | None = None
    max_claims_per_customer: int | None = None


@dataclass(frozen=True, slots=True)
class NewClaim:
    claim_id: str
    promotion_id: str
    customer_id: str
    code: str
    claimed_at: datetime
    slot: int  # from the counters: the ledger keeps slots distinct and within max_claims


@dataclass(frozen=True, slots=True)
class StoredClaim:
    claim_id: str
    promotion_id: str
    customer_id: str
    code: str
    claimed_at: datetime
    slot: int


class Stored(StrEnum):
    """What the ledger did with a claim."""

    STORED = "stored"  # written now
    REPLAY = "replay"  # this claim id was stored before (the stored claim is returned)
    OVER_LIMIT = "over_limit"  # its own count says the limit is reached: nothing written
    SLOT_TAKEN = "slot_taken"  # another stored claim holds the slot: the counters are behind
    CLAIM_ID_TAKEN = "claim_id_taken"  # the claim id is another customer's or promotion's


@dataclass(frozen=True, slots=True)
class StoreResult:
    outcome: Stored
    claim: StoredClaim | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WalletCode:
    """A code that belongs to a customer, with its stored status (``available``,
    ``reserved``, ``used``); ``expired`` is decided by the service."""

    code: str
    promotion_id: str
    status: str
    claimed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimCounts:
    """Claims of one promotion: the total and by customer (ledger or counters)."""

    total: int = 0
    by_customer: Mapping[str, int] = field(default_factory=dict)
    claim_ids: frozenset[str] = frozenset()


# --------------------------------------------------------------------- interfaces


class ClaimCounters(Protocol):
    async def claim(
        self,
        promotion_id: str,
        *,
        claim_id: str,
        customer_id: str,
        code: str,
        limits: ClaimLimits,
        now: datetime,
    ) -> CounterAnswer: ...

    async def unclaim(self, promotion_id: str, claim_id: str) -> bool:
        """Take back a claim the ledger did not store; False when it was not there."""

    async def rebuild(
        self, promotion_id: str, claims: Sequence[StoredClaim], *, now: datetime
    ) -> bool:
        """Load the counters from the ledger's claims while they are missing;
        False when they were there (nothing written)."""

    async def unload(self, promotion_id: str) -> None: ...

    async def loaded(self, promotion_id: str) -> bool: ...

    async def inspect(self, promotion_id: str) -> ClaimCounts | None:
        """The counters; None when they are not loaded."""


class ClaimLedger(Protocol):
    async def add_claim(self, claim: NewClaim, limits: ClaimLimits) -> StoreResult:
        """Store the claim and its code, unless a limit is reached (its slot is past
        ``max_claims``, or the customer's stored count is at its limit) or another
        claim holds its slot; a claim id stored before answers ``REPLAY``."""

    async def claims(self, promotion_id: str) -> builtins.list[StoredClaim]:
        """Every claim of a promotion, in the order made."""

    async def wallet(self, customer_id: str) -> builtins.list[WalletCode]:
        """Every code that belongs to the customer, claimed or given."""
