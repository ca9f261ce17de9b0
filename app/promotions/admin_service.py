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
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from app.coupons import codes as coupon_codes
from app.errors import (
    Conflict,
    DeepDiscount,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Problem,
    Unavailable,
)
from app.inventory.ledger import ReservationRepository
from app.inventory.stock import needs_counters
from app.promotions.document import PromotionDocument
from app.promotions.guard import check_deep_discount
from app.promotions.repository import (
    Changes,
    HistoryEntry,
    NewCode,
    NewPromotion,
    PromotionFilter,
    PromotionRepository,
    StoredPromotion,
)
from app.promotions.snapshot import Converted
from app.rules.model import Promotion

log = logging.getLogger(__name__)

_GENERATE_ATTEMPTS = 3
# statuses that take a promotion out of service: the publish guard lets them through
STOPPED = frozenset({"paused", "ended", "archived"})

# a write without If-Match that lost a race to another writer reads again and retries
_WRITE_ATTEMPTS = 5

# ``If-Match`` as given: the entity tags listed (``*``: any current version), or None
IfMatch = frozenset[str] | None
Revise = Callable[[PromotionDocument], PromotionDocument]


def version_tag(promotion_id: str, version: int) -> str:
    """The entity tag (``ETag``) of a promotion's version: one id and version, one
    tag (an id stored again after a removal goes on from its last version)."""
    digest = hashlib.sha256(promotion_id.encode()).hexdigest()[:12]
    return f'"v{version}-{digest}"'


def _check(row: StoredPromotion, if_match: IfMatch) -> None:
    if if_match is None or "*" in if_match:
        return
    if version_tag(row.id, row.version) not in if_match:
        raise PreconditionFailed(
            f"If-Match does not name the current version of promotion {row.id!r} "
            f"(version {row.version}, ETag {version_tag(row.id, row.version)}); nothing changed"
        )


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


@dataclass(frozen=True, slots=True)
class AdminPromotion:
    """A stored promotion as the admin sees it: its document, its version and who
    wrote it when, and what it is doing at the time it was read (``effective``)."""

    document: PromotionDocument
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    effective: str

    @property
    def etag(self) -> str:
        return version_tag(self.document.id, self.version)


@dataclass(frozen=True, slots=True)
class PromotionPage:
    items: tuple[AdminPromotion, ...]
    next_after: str | None  # the last id shown when more follow


def _written(row: StoredPromotion) -> Changes | None:
    return None if row.written_at is None else Changes(row.written_at, rows=(row,))


def _document(stored: StoredPromotion) -> PromotionDocument:
    return PromotionDocument.from_stored(stored.body)


def _admin(stored: StoredPromotion, now: datetime | None = None) -> AdminPromotion:
    document = _document(stored)
    return AdminPromotion(
        document=document,
        version=stored.version,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
        effective=document.effective(now or datetime.now(UTC)),
    )


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

    async def create(self, document: PromotionDocument, *, by: str) -> AdminPromotion:
        """Store a new promotion (``Conflict`` when its id exists)."""
        promotion = self.checked(document)
        row = await self._repository.add(
            id=document.id,
            status=document.status,
            trigger=document.trigger,
            body=document.to_stored(),
            by=by,
        )
        return await self._written(row, promotion)

    async def find(
        self, filters: PromotionFilter, *, after: str | None, limit: int
    ) -> PromotionPage:
        """A page of the promotions ``filters`` select, by id, after the id ``after``."""
        rows = await self._repository.page(filters, after=after, limit=limit + 1)
        shown = rows[:limit]
        return PromotionPage(
            items=tuple(_admin(row, filters.now) for row in shown),
            next_after=shown[-1].id if len(rows) > limit else None,
        )

    async def get(self, promotion_id: str) -> AdminPromotion:
        return _admin(await self._stored(promotion_id))

    async def _stored(self, promotion_id: str) -> StoredPromotion:
        row = await self._repository.get(promotion_id)
        if row is None:
            raise NotFound(f"no promotion {promotion_id!r}")
        return row

    async def replace(
        self, document: PromotionDocument, *, by: str, if_match: IfMatch = None
    ) -> AdminPromotion:
        """Replace a stored promotion (``NotFound`` when there is none;
        ``PreconditionFailed`` when ``if_match`` does not name its version)."""
        return await self._revise(
            document.id, lambda _: document, by=by, if_match=if_match, action="replaced"
        )

    async def patch(
        self, promotion_id: str, revise: Revise, *, by: str, if_match: IfMatch = None
    ) -> AdminPromotion:
        """Store ``revise(current)`` (a merge patch applied and checked by the
        caller) in place of the current document."""

        def patched(row: StoredPromotion) -> PromotionDocument:
            try:
                current = _document(row)
            except ValidationError as exc:
                raise Conflict(
                    f"promotion {promotion_id!r} as stored does not read ({exc.error_count()} "
                    "problems); replace it whole with PUT"
                ) from None
            return revise(current)

        return await self._revise(promotion_id, patched, by=by, if_match=if_match, action="patched")

    async def _revise(
        self,
        promotion_id: str,
        revise: Callable[[StoredPromotion], PromotionDocument],
        *,
        by: str,
        if_match: IfMatch,
        action: str,
    ) -> AdminPromotion:
        """Read, check ``if_match``, write conditionally on the version read. With
        ``if_match``, another write in between is ``PreconditionFailed``; without,
        it is read again (the body revised anew) and retried."""
        for attempt in range(_WRITE_ATTEMPTS):
            current = await self._stored(promotion_id)
            _check(current, if_match)
            document = revise(current)
            promotion = self.checked(document)
            try:
                row = await self._repository.replace(
                    id=promotion_id,
                    status=document.status,
                    trigger=document.trigger,
                    body=document.to_stored(),
                    by=by,
                    expected_version=current.version,
                    action=action,
                )
            except PreconditionFailed:
                if if_match is not None or attempt == _WRITE_ATTEMPTS - 1:
                    raise
                continue
            return await self._written(row, promotion)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _written(self, row: StoredPromotion, promotion: Promotion) -> AdminPromotion:
        """Reload the rules everywhere, then load the promotion's counters."""
        await self._rules_changed.changed(_written(row), {row.id: (row.updated_at, promotion)})
        await self._load_counters(promotion)
        return _admin(row)

    async def history(self, promotion_id: str) -> list[HistoryEntry]:
        """Every change of the promotion, newest first; also of a removed one."""
        entries = await self._repository.history(promotion_id)
        if not entries and await self._repository.get(promotion_id) is None:
            raise NotFound(f"no promotion {promotion_id!r}")
        return entries

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
        self,
        documents: Sequence[PromotionDocument],
        *,
        mode: Literal["create", "upsert"],
        by: str,
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
            [new for new, _ in prepared], replace=mode == "upsert", by=by
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

    async def delete(
        self, promotion_id: str, *, by: str, if_match: IfMatch = None
    ) -> AdminPromotion | None:
        """Archive the promotion when reservations or orders reference it (status
        ``archived``: it prices nothing, its stats and history stay; the archived
        promotion is returned), else remove it and its codes (None)."""
        for attempt in range(_WRITE_ATTEMPTS):
            expected = None
            if if_match is not None:
                current = await self._stored(promotion_id)
                _check(current, if_match)
                expected = current.version
            try:
                removed = await self._repository.delete(
                    promotion_id, by=by, expected_version=expected
                )
            except PreconditionFailed:
                if if_match is not None or attempt == _WRITE_ATTEMPTS - 1:
                    raise
                continue
            if removed.archived is None:
                await self._rules_changed.changed(Changes(removed.version, removed=(promotion_id,)))
                return None
            if removed.archived.written_at is not None:  # (archived before: no change)
                await self._rules_changed.changed(_written(removed.archived))
            return _admin(removed.archived)
        raise AssertionError("unreachable")  # pragma: no cover

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
