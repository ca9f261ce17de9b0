"""The promotion repository port: what the promotion services and the snapshot
need from storage, and the records it answers with.

``app.storage.sql_promotions.SqlPromotionRepository`` implements it with
SQLAlchemy for PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

# ----------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class RulesVersion:
    """The ``rules_meta`` counter and the time it last moved."""

    counter: int
    changed_at: datetime

    def __str__(self) -> str:
        return f"{self.changed_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z#{self.counter}"


@dataclass(frozen=True, slots=True)
class StoredPromotion:
    id: str
    status: str
    trigger: str
    body: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    # on what a write answers: the rules version that write made
    written_at: RulesVersion | None = None
    version: int = 1  # +1 per change of this promotion
    updated_by: str = ""  # the name of the API key that wrote it


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of a promotion: the version it made, when, by whom, what, and the
    body before (``None`` for a creation) and after (``None`` for a removal)."""

    promotion_id: str
    version: int
    at: datetime
    by: str
    action: str  # created | replaced | patched | deleted | imported
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Removed:
    """A ``delete``, committed: the rules version now, and the promotion as archived
    when reservations or orders reference it (``None``: it was removed)."""

    version: RulesVersion
    archived: StoredPromotion | None = None


EFFECTIVE = ("scheduled", "running", "ended", "paused")


@dataclass(frozen=True, slots=True)
class PromotionFilter:
    """Which promotions a listing shows; ``effective`` is judged at ``now`` (see
    ``PromotionDocument.effective``); ``q`` is text in the id or the name, any case."""

    now: datetime
    status: str | None = None
    effective: str | None = None
    benefit_type: str | None = None
    trigger: str | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True)
class NewPromotion:
    """A promotion to store: its id, the copied-out filter columns, its document."""

    id: str
    status: str
    trigger: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Imported:
    """A bulk import, committed: the version it made, and the rows as stored."""

    version: RulesVersion
    rows: tuple[StoredPromotion, ...]
    created: int
    updated: int


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed after a version: the version now, the changed promotions as
    stored now, and the ids no longer stored. ``complete`` is False when the
    change log does not reach back that far (then load everything)."""

    version: RulesVersion
    rows: tuple[StoredPromotion, ...] = ()
    removed: tuple[str, ...] = ()
    complete: bool = True


@dataclass(frozen=True, slots=True)
class NewCode:
    code: str  # normalised upper-case
    kind: str  # shared | unique
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredCode:
    code: str
    promotion_id: str
    kind: str
    customer_id: str | None
    status: str  # available | reserved | used | revoked


@dataclass(frozen=True, slots=True)
class ListedCode:
    """A code as the admin listing shows it: ``order_id`` is the order of the
    reservation that holds (``reserved``) or used (``used``) a unique code."""

    code: str
    kind: str  # shared | unique
    status: str  # available | reserved | used | revoked
    customer_id: str | None
    order_id: str | None


@dataclass(frozen=True, slots=True)
class CodeCounts:
    total: int = 0
    claimed: int = 0  # unique codes with an owner
    used: int = 0  # redeemed


# --------------------------------------------------------------------- interface


class PromotionRepository(Protocol):
    async def add(
        self, *, id: str, status: str, trigger: str, body: Mapping[str, Any], by: str = ""
    ) -> StoredPromotion:
        """Store a new promotion (a ``created`` history entry with it); ``Conflict``
        when the id exists. An id stored before goes on from its last version."""

    async def get(self, promotion_id: str) -> StoredPromotion | None: ...

    async def page(
        self, filters: PromotionFilter, *, after: str | None, limit: int
    ) -> builtins.list[StoredPromotion]:
        """Up to ``limit`` promotions matching ``filters`` with an id after ``after``,
        by id (keyset pagination)."""

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
        """Replace an existing promotion, with a history entry of ``action``;
        ``NotFound`` when there is none. The write is conditional on the version
        read in its transaction (and on ``expected_version`` when given):
        ``PreconditionFailed`` when another write came first, nothing changed."""

    async def delete(
        self, promotion_id: str, *, by: str = "", expected_version: int | None = None
    ) -> Removed:
        """Archive a promotion that reservations or orders reference (status
        ``archived``), else remove it and its codes; a ``deleted`` history entry
        either way. ``NotFound`` when there is none, ``PreconditionFailed`` as for
        ``replace``."""

    async def history(self, promotion_id: str) -> builtins.list[HistoryEntry]:
        """Every change of the promotion, newest first (kept after its removal)."""

    async def current_version(self) -> RulesVersion: ...

    async def import_many(
        self, promotions: Sequence[NewPromotion], *, replace: bool, by: str = ""
    ) -> Imported:
        """Store them all in one transaction, or none, each with an ``imported``
        history entry: with ``replace`` an existing id is replaced, without it
        ``Conflict`` (naming the ids) when any exists."""

    async def load(self) -> tuple[RulesVersion, builtins.list[StoredPromotion]]:
        """The version, then every promotion (at least as new as that version)."""

    async def changes_since(self, counter: int) -> Changes:
        """The version, then the promotions changed after ``counter`` (at least as
        new as that version)."""

    async def add_codes(
        self, promotion_id: str, codes: Sequence[NewCode]
    ) -> builtins.list[StoredCode]:
        """Store codes for a promotion; ``Conflict`` when any code exists."""

    async def resolve_codes(self, codes: Sequence[str]) -> dict[str, StoredCode]:
        """The known ones among ``codes`` (normalised), by code."""

    async def customer_codes(self, customer_id: str) -> builtins.list[StoredCode]:
        """The unused codes a customer has claimed (their wallet)."""

    async def code_counts(self, promotion_id: str) -> CodeCounts: ...

    async def list_codes(
        self, promotion_id: str, *, status: str | None, after: str | None, limit: int
    ) -> builtins.list[ListedCode]:
        """Up to ``limit`` codes of a promotion (those with ``status``), by code,
        after the code ``after`` (keyset pagination)."""

    async def revoke_code(self, promotion_id: str, code: str) -> tuple[ListedCode, bool]:
        """Mark an unused code of the promotion ``revoked`` (bumping the rules version)
        and say whether it changed (False: it was revoked already); ``NotFound`` when
        the promotion has no such code, ``Conflict`` when it is used or held by an
        open reservation."""

    async def ping(self) -> None: ...
