"""Codes for admins: a promotion's codes listed page by page or all at once, and revoked.

A page is keyset-paginated by code: the cursor is the last code of the page,
opaque to callers (URL-safe base64 with a version tag), so a walk sees every
code once even while codes are added. An export reads the same way in
batches of ``EXPORT_BATCH``, one short transaction each, so 100,000 codes
stream out without holding them (or a connection) all at once.

Revoking a code that is not used marks it ``revoked``: quotes see it as
``unknown_code`` from then on, reservations refuse it, and a claimed one
leaves its owner's wallet. The write bumps the rules version (like every
code write), so the quote service's per-version cache of shared codes forgets
it, here at once (``RulesChanged.changed``) and on the other instances when
they hear of the new version. A used code, or one an open reservation holds:
``Conflict``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from app.coupons.codes import is_valid, normalize
from app.errors import InvalidInput, NotFound, Problem
from app.promotions.admin_service import RulesChanged
from app.promotions.repository import ListedCode, PromotionRepository

EXPORT_BATCH = 5_000
_CURSOR_TAG = "c1:"


@dataclass(frozen=True, slots=True)
class CodePage:
    codes: Sequence[ListedCode]
    next_cursor: str | None  # None: the last page


def encode_cursor(code: str) -> str:
    raw = (_CURSOR_TAG + code).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The code a cursor continues after; ``InvalidInput`` for one this listing did not give."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raw = ""
    code = raw.removeprefix(_CURSOR_TAG)
    if not raw.startswith(_CURSOR_TAG) or not is_valid(code):
        raise InvalidInput(
            "invalid cursor",
            [Problem(loc=("query", "cursor"), msg="not a cursor this listing gave")],
        )
    return code


class CodeAdmin:
    """One per process, made by ``lifespan``."""

    def __init__(self, *, repository: PromotionRepository, rules_changed: RulesChanged) -> None:
        self._repository = repository
        self._rules_changed = rules_changed

    async def _exists(self, promotion_id: str) -> None:
        if await self._repository.get(promotion_id) is None:
            raise NotFound(f"no promotion {promotion_id!r}")

    async def page(
        self, promotion_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> CodePage:
        """Up to ``limit`` codes (those with ``status``) after ``cursor``, by code."""
        after = None if cursor is None else decode_cursor(cursor)
        await self._exists(promotion_id)
        # one more than asked says whether another page follows
        found = await self._repository.list_codes(
            promotion_id, status=status, after=after, limit=limit + 1
        )
        codes = found[:limit]
        more = len(found) > limit
        return CodePage(codes, encode_cursor(codes[-1].code) if more and codes else None)

    async def export(
        self, promotion_id: str, *, status: str | None
    ) -> AsyncIterator[Sequence[ListedCode]]:
        """Every code (with ``status``), in batches by code. ``NotFound`` is raised
        here, before the first batch is read, so a caller can still answer 404."""
        await self._exists(promotion_id)
        return self._batches(promotion_id, status)

    async def _batches(
        self, promotion_id: str, status: str | None
    ) -> AsyncIterator[Sequence[ListedCode]]:
        after: str | None = None
        while True:
            batch = await self._repository.list_codes(
                promotion_id, status=status, after=after, limit=EXPORT_BATCH
            )
            if batch:
                yield batch
            if len(batch) < EXPORT_BATCH:
                return
            after = batch[-1].code

    async def revoke(self, promotion_id: str, code: str) -> ListedCode:
        """Revoke an unused code (case-insensitive); revoking it again changes nothing."""
        normalized = normalize(code)
        if not is_valid(normalized):
            raise NotFound(f"promotion {promotion_id!r} has no code {code!r}")
        await self._exists(promotion_id)
        revoked, changed = await self._repository.revoke_code(promotion_id, normalized)
        if changed:
            await self._rules_changed.changed()
        return revoked
