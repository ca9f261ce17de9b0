"""The admin service: promotions, their codes, their stats.

Every write goes to the repository (which bumps the rules version in the same
transaction), then ``RulesChanged.changed()`` reloads this instance's rules
and tells the others, before the caller gets its answer. A promotion with
counters (flash-sale stock, a usage limit, a budget) then has them loaded or
adjusted (``CounterKeeper.ensure``); if Redis does not answer, the sweeper
does it on its next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from app.coupons import codes as coupon_codes
from app.errors import Conflict, DeepDiscount, InvalidInput, NotFound, Problem, Unavailable
from app.inventory.ledger import ReservationRepository
from app.inventory.stock import needs_counters
from app.promotions.document import PromotionDocument
from app.promotions.guard import check_deep_discount
from app.promotions.repository import (
    Changes,
    NewCode,
    NewPromotion,
    PromotionRepository,
    StoredPromotion,
)
from app.promotions.snapshot import Converted
from app.rules.model import Promotion

log = logging.getLogger(__name__)

_GENERATE_ATTEMPTS = 3
# statuses that take a promotion out of service: the publish guard lets them through
STOPPED = frozenset({"paused", "ended", "archived"})


class Write(Protocol):
    async def __call__(
        self, *, id: str, status: str, trigger: str, body: Mapping[str, Any]
    ) -> StoredPromotion: ...


class RulesChanged(Protocol):
    async def changed(
        self, written: Changes | None = None, known: Mapping[str, Converted] | None = None
    ) -> None: ...


class CounterKeeper(Protocol):
    async def ensure(self, promotion: Promotion, *, now: datetime) -> str: ...


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """One shared ``code``, or ``count`` unique codes starting with ``prefix``."""

    code: str | None = None
    count: int = 0
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class IssuedCodes:
    promotion_id: str
    kind: Literal["shared", "unique"]
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    rules_version: str


@dataclass(frozen=True, slots=True)
class PromotionStats:
    """Reservations that applied a promotion (made, confirmed, cancelled, expired),
    what confirmed orders got from it and paid in all, the budget held by
    reserved and confirmed ones and what is left of it (None: no budget), and its
    codes (issued, claimed); ``redemptions`` counts every code of the promotion,
    shared or unique, in a confirmed order."""

    reservations: int
    confirmed: int
    cancelled: int
    expired: int
    discount_given: int
    gmv: int
    claims: int
    redemptions: int
    budget_spent: int
    codes: int
    budget_left: int | None = None


def _written(row: StoredPromotion) -> Changes | None:
    return None if row.written_at is None else Changes(row.written_at, rows=(row,))


def _document(stored: StoredPromotion) -> PromotionDocument:
    return PromotionDocument.from_stored(stored.body)


class PromotionAdmin:
    """One per process, made by ``lifespan``."""

    def __init__(
        self,
        *,
        repository: PromotionRepository,
        ledger: ReservationRepository,
        rules_changed: RulesChanged,
        counter_keeper: CounterKeeper,
        default_timezone: ZoneInfo,
        max_discount_percent: int = 80,
    ) -> None:
        self._repository = repository
        self._max_discount_percent = max_discount_percent
        self._ledger = ledger
        self._rules_changed = rules_changed
        self._counter_keeper = counter_keeper
        self._default_timezone = default_timezone

    async def _load_counters(self, promotion: Promotion) -> None:
        if not needs_counters(promotion):
            return
        try:
            await self._counter_keeper.ensure(promotion, now=datetime.now(UTC))
        except Unavailable:
            log.warning("counters of %s not loaded now; the sweeper will", promotion.id)

    async def create(self, document: PromotionDocument) -> PromotionDocument:
        """Store a new promotion (``Conflict`` when its id exists)."""
        return await self._write(document, self._repository.add)

    async def find(self, status: str | None) -> list[PromotionDocument]:
        """Every promotion, or those with ``status``, by id."""
        return [_document(row) for row in await self._repository.list(status)]

    async def get(self, promotion_id: str) -> PromotionDocument:
        row = await self._repository.get(promotion_id)
        if row is None:
            raise NotFound(f"no promotion {promotion_id!r}")
        return _document(row)

    async def replace(self, document: PromotionDocument) -> PromotionDocument:
        """Replace a stored promotion (``NotFound`` when there is none)."""
        return await self._write(document, self._repository.replace)

    async def _write(self, document: PromotionDocument, write: Write) -> PromotionDocument:
        """Check it becomes an engine record and passes the publish guard, store it,
        reload the rules everywhere, then load its counters."""
        promotion = self.checked(document)
        row = await write(
            id=document.id,
            status=document.status,
            trigger=document.trigger,
            body=document.to_stored(),
        )
        await self._rules_changed.changed(_written(row), {row.id: (row.updated_at, promotion)})
        await self._load_counters(promotion)
        return _document(row)

    def checked(self, document: PromotionDocument) -> Promotion:
        """The engine's record of a document about to be stored, through the publish
        guard (``DeepDiscount`` unless it says ``confirm_deep_discount``, or its
        status takes it out of service): every write path (create, replace, patch,
        import) calls it."""
        promotion = document.to_record(default_timezone=self._default_timezone)
        check_deep_discount(
            promotion,
            # taking a promotion out of service (pause, end, archive) is never refused
            confirmed=document.confirm_deep_discount or document.status in STOPPED,
            max_percent=self._max_discount_percent,
        )
        return promotion

    async def import_all(
        self, documents: Sequence[PromotionDocument], *, mode: Literal["create", "upsert"]
    ) -> ImportResult:
        """Store them all in one transaction or none (``Conflict`` when an id appears
        twice, or, with ``create``, exists already), apply them here and tell the
        other instances. Converting 10,000 runs in a thread. Their counters are the
        sweeper's to load (``Recovery.keep``, every ``SWEEP_INTERVAL_SECONDS``): a
        few round trips each, thousands of them would keep the answer for a
        minute."""
        twice = sorted(i for i, n in Counter(d.id for d in documents).items() if n > 1)
        if twice:
            raise Conflict(f"ids appear more than once: {', '.join(map(repr, twice[:20]))}")
        prepared = await asyncio.to_thread(self._prepare, documents)
        imported = await self._repository.import_many(
            [new for new, _ in prepared], replace=mode == "upsert"
        )
        records = {new.id: record for new, record in prepared}
        await self._rules_changed.changed(
            Changes(imported.version, rows=imported.rows),
            {row.id: (row.updated_at, records[row.id]) for row in imported.rows},
        )
        return ImportResult(
            created=imported.created,
            updated=imported.updated,
            rules_version=str(imported.version),
        )

    def _prepare(
        self, documents: Sequence[PromotionDocument]
    ) -> list[tuple[NewPromotion, Promotion]]:
        """Each document as a row to store and the engine's record; every document
        that cannot become a record is a problem at its index."""
        prepared: list[tuple[NewPromotion, Promotion]] = []
        found: list[Problem] = []
        deep: list[Problem] = []
        for index, document in enumerate(documents):
            try:
                record = self.checked(document)
            except DeepDiscount as exc:
                at = ("body", "promotions", index)
                deep += [Problem(loc=(*at, *p.loc[1:]), msg=p.msg) for p in exc.problems]
                continue
            except (ValueError, KeyError) as exc:
                found.append(Problem(loc=("body", "promotions", index), msg=str(exc)))
                continue
            new = NewPromotion(
                id=document.id,
                status=document.status,
                trigger=document.trigger,
                body=document.to_stored(),
            )
            prepared.append((new, record))
        if found:
            raise InvalidInput(f"{len(found)} promotions cannot be priced", [*found, *deep])
        if deep:
            raise DeepDiscount(
                f"{len(deep)} benefits can take more than MAX_DISCOUNT_PERCENT off and are "
                'not confirmed ("confirm_deep_discount": true)',
                deep,
            )
        return prepared

    async def delete(self, promotion_id: str) -> None:
        version = await self._repository.delete(promotion_id)
        await self._rules_changed.changed(Changes(version, removed=(promotion_id,)))

    async def add_codes(self, promotion_id: str, request: CodeRequest) -> IssuedCodes:
        row = await self._repository.get(promotion_id)
        if row is None:
            raise NotFound(f"no promotion {promotion_id!r}")
        if row.trigger != "coupon":
            raise Conflict(
                f"promotion {promotion_id!r} is not a coupon (trigger is {row.trigger!r})"
            )
        if request.code is not None:
            code = coupon_codes.normalize(request.code)
            stored = await self._repository.add_codes(
                promotion_id, [NewCode(code=code, kind="shared")]
            )
            await self._rules_changed.changed()
            return IssuedCodes(promotion_id, "shared", tuple(c.code for c in stored))
        for attempt in range(_GENERATE_ATTEMPTS):
            fresh = coupon_codes.generate(request.prefix, request.count)
            try:
                stored = await self._repository.add_codes(
                    promotion_id, [NewCode(code=c, kind="unique") for c in fresh]
                )
                break
            except Conflict:  # a random clash with an existing code: draw again
                if attempt == _GENERATE_ATTEMPTS - 1:
                    raise
        await self._rules_changed.changed()
        return IssuedCodes(promotion_id, "unique", tuple(c.code for c in stored))

    async def stats(self, promotion_id: str) -> PromotionStats:
        """Codes issued, claimed and used; reservations that applied the promotion by
        status, and what confirmed orders got and paid (from the ledger)."""
        row = await self._repository.get(promotion_id)
        if row is None:
            raise NotFound(f"no promotion {promotion_id!r}")
        budget = _document(row).limits.budget
        counts = await self._repository.code_counts(promotion_id)
        made = await self._ledger.stats(promotion_id)
        return PromotionStats(
            reservations=made.reservations,
            confirmed=made.confirmed,
            cancelled=made.cancelled,
            expired=made.expired,
            discount_given=made.discount_given,
            gmv=made.gmv,
            claims=counts.claimed,
            redemptions=made.redemptions,
            budget_spent=made.budget_spent,
            codes=counts.total,
            budget_left=None if budget is None else max(0, budget - made.budget_spent),
        )
