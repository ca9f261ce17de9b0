"""The in-memory rules: an immutable snapshot, and the task that keeps it fresh.

``Snapshot.rules`` is a ``RuleSet`` of every stored promotion (status is the
engine's to check: a paused coupon must still say ``paused``), with a version
like ``2026-11-11T00:00:00.123456Z#42`` from ``rules_meta``. A change makes a
new ``RuleSet`` and swaps the reference; a quote holds the one it started
with, so it never sees half a change.

A change does not rebuild the rules: ``catch_up`` reads from the
``rules_changes`` log which promotions changed since this snapshot's version,
converts only those rows and makes the new ``RuleSet`` with
``RuleSet.changed`` (it shares everything the change does not touch). A large
change (an import; more than ``OFF_LOOP_ROWS`` rows) and a whole reload (at
start, or when the log does not reach back far enough) are converted and
built in a thread, so the event loop keeps answering quotes meanwhile.

Keeping instances in step (a change is live everywhere within 2 seconds):

- the instance that made a change applies it before it answers, then
  publishes the new version on the Redis channel ``<REDIS_PREFIX>rules``;
- every instance listens on that channel and catches up when a newer
  version goes by;
- every ``RULES_POLL_SECONDS`` each instance also compares its version with
  the database, in case a message was lost (Redis down, a restart).

A stored promotion that no longer reads (``PromotionDocument`` refuses it, or
it cannot become an engine record) is never dropped in silence: it is logged
as an error when a reload or a change meets it, counted in
``pricing_rules_unreadable_promotions`` (and in
``pricing_rules_reloads_total{result="unreadable_promotion"}``), and listed by
``Snapshot.unreadable`` (``/readyz`` shows it). The last version of it this
process did read keeps pricing; one never read here (a restart) is left out
until it is fixed. Every other promotion keeps pricing either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.promotions.document import PromotionDocument
from app.promotions.repository import (
    Changes,
    PromotionRepository,
    RulesVersion,
    StoredPromotion,
)
from app.resilience.quiet_log import QuietLog
from app.rules.model import Promotion
from app.rules.ruleset import RuleSet

log = logging.getLogger(__name__)

RULES_VERSION = Gauge("pricing_rules_version", "The rules_meta version of the in-memory rules")
RULES_RELOADS = Counter("pricing_rules_reloads_total", "Reloads of the in-memory rules", ["result"])
UNREADABLE = Gauge(
    "pricing_rules_unreadable_promotions",
    "Stored promotions that no longer read (the last version read keeps pricing, if any)",
)


class RulesSource(Protocol):
    """Where a service finds the rules of this moment (``Snapshot``)."""

    @property
    def rules(self) -> RuleSet: ...


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored promotion that does not read, and why; ``serving`` says whether the
    last version this process read of it is still in the rules."""

    promotion_id: str
    error: str
    serving: bool


_NEVER = RulesVersion(counter=-1, changed_at=datetime(1970, 1, 1, tzinfo=UTC))

# more changed rows than this are read and built in a thread, off the event loop
OFF_LOOP_ROWS = 64
# a change touching more than this share of the promotions builds the index afresh
_REBUILD_SHARE = 0.25

Converted = tuple[datetime, Promotion | None]  # the row's updated_at, the record read


@dataclass(slots=True)
class _State:
    """What a reload or a change makes: the rules and the bookkeeping behind them."""

    rules: RuleSet
    converted: dict[str, Converted]
    unreadable: dict[str, Unreadable]


class Snapshot:
    def __init__(self, repository: PromotionRepository, *, default_timezone: ZoneInfo) -> None:
        self._repository = repository
        self._default_timezone = default_timezone
        self._version = _NEVER
        self._rules = RuleSet((), version=str(_NEVER))
        self._lock = asyncio.Lock()
        # converted promotions by id, with the ``updated_at`` they were converted at:
        # a change converts only the rows that changed since
        self._converted: dict[str, Converted] = {}
        self._unreadable: dict[str, Unreadable] = {}
        self._whole = False  # a change failed half-way: load everything next time

    @property
    def rules(self) -> RuleSet:
        return self._rules

    @property
    def counter(self) -> int:
        return self._version.counter

    @property
    def unreadable(self) -> tuple[Unreadable, ...]:
        """The stored promotions that did not read at the last reload, by id."""
        return tuple(self._unreadable[k] for k in sorted(self._unreadable))

    async def reload(self) -> bool:
        """Load every promotion and swap the rules in; False when nothing changed.
        The rows are read and the index built in a thread."""
        async with self._lock:
            version, rows = await self._repository.load()
            if version.counter == self._version.counter:
                return False
            state = await asyncio.to_thread(self._everything, version, rows)
            self._swap(version, state, "loaded")
        return True

    async def catch_up(
        self,
        counter: int | None = None,
        *,
        written: Changes | None = None,
        known: Mapping[str, Converted] | None = None,
    ) -> bool:
        """Apply what changed since this snapshot's version (everything, when the
        change log does not reach back that far). ``counter``: a version heard of
        (nothing to do when it is not newer); ``written``: what a write of this
        process changed, applied without reading it back when it is the very next
        version; ``known``: records the writer already made from the rows it wrote,
        by id with the row's ``updated_at``."""
        if counter is not None and counter <= self._version.counter:
            return False
        async with self._lock:
            if written is not None and written.version.counter == self._version.counter + 1:
                changes = written
            else:
                changes = await self._repository.changes_since(self._version.counter)
            version = changes.version
            if version.counter == self._version.counter:
                return False
            if self._whole or not changes.complete:
                version, rows = await self._repository.load()
                state = await asyncio.to_thread(self._everything, version, rows, known or {})
                self._swap(version, state, "loaded")
                return True
            apply = functools.partial(self._changed, version, changes, known or {})
            if len(changes.rows) + len(changes.removed) > OFF_LOOP_ROWS:
                state = await asyncio.to_thread(apply, copy=True)
            else:  # small: in place, with no await in between
                try:
                    state = apply(copy=False)
                except BaseException:
                    self._whole = True
                    raise
            self._swap(version, state, "changed")
        return True

    def _swap(self, version: RulesVersion, state: _State, how: str) -> None:
        self._rules, self._converted, self._unreadable = (
            state.rules,
            state.converted,
            state.unreadable,
        )
        self._version = version
        self._whole = False
        UNREADABLE.set(len(state.unreadable))
        RULES_VERSION.set(version.counter)
        RULES_RELOADS.labels(how).inc()
        log.debug("rules %s %s: %d promotions", version, how, len(state.rules))

    def _everything(
        self,
        version: RulesVersion,
        rows: Iterable[StoredPromotion],
        known: Mapping[str, Converted] | None = None,
    ) -> _State:
        """A new state from every stored row (rows unchanged since read are reused)."""
        converted: dict[str, Converted] = {}
        unreadable: dict[str, Unreadable] = {}
        for row in rows:
            converted[row.id] = self._read(row, known or {}, unreadable)
        promotions = [p for _, p in converted.values() if p is not None]
        log.info("rules %s loaded: %d promotions", version, len(promotions))
        return _State(RuleSet(promotions, version=str(version)), converted, unreadable)

    def _changed(
        self,
        version: RulesVersion,
        changes: Changes,
        known: Mapping[str, Converted],
        *,
        copy: bool,
    ) -> _State:
        """The state with the changed rows read and the removed ids dropped; the
        index changed in place of the old one (or built afresh for a large change)."""
        converted = dict(self._converted) if copy else self._converted
        unreadable = dict(self._unreadable) if copy else self._unreadable
        stored: list[Promotion] = []
        dropped: list[str] = list(changes.removed)
        for promotion_id in changes.removed:
            converted.pop(promotion_id, None)
            unreadable.pop(promotion_id, None)
        for row in changes.rows:
            before = converted.get(row.id)
            entry = self._read(row, known, unreadable)
            converted[row.id] = entry
            if entry is before:
                continue
            if entry[1] is None:
                dropped.append(row.id)
            else:
                stored.append(entry[1])
        if len(stored) + len(dropped) > _REBUILD_SHARE * max(len(self._rules), 1):
            promotions = [p for _, p in converted.values() if p is not None]
            rules = RuleSet(promotions, version=str(version))
        else:
            rules = self._rules.changed(stored, dropped, version=str(version))
        return _State(rules, converted, unreadable)

    def _read(
        self,
        row: StoredPromotion,
        known: Mapping[str, Converted],
        unreadable: dict[str, Unreadable],
    ) -> Converted:
        """The row's record: the one read before when the row has not changed since,
        the caller's when it made it from this row, else converted now. A row that
        does not read is noted in ``unreadable`` and keeps its last version read."""
        last = self._converted.get(row.id)
        if last is not None and last[0] == row.updated_at:
            if row.id in self._unreadable:  # still the same unreadable row
                unreadable[row.id] = self._unreadable[row.id]
            return last
        unreadable.pop(row.id, None)
        made = known.get(row.id)
        if made is not None and made[0] == row.updated_at:
            return made
        try:
            return row.updated_at, self._convert(row.body)
        except (ValidationError, ValueError, KeyError) as exc:
            # keep the last version read (if any) under the row's time, so the same
            # unreadable row is not read again at every change
            kept = last[1] if last is not None else None
            unreadable[row.id] = Unreadable(row.id, _summary(exc), serving=kept is not None)
            RULES_RELOADS.labels("unreadable_promotion").inc()
            log.error(
                "stored promotion %r does not read (%s); %s",
                row.id,
                _summary(exc),
                "its last version read keeps pricing"
                if kept is not None
                else "it is left out until it is fixed",
            )
            return row.updated_at, kept

    def _convert(self, body: Mapping[str, Any]) -> Promotion:
        return PromotionDocument.from_stored(body).to_record(
            default_timezone=self._default_timezone
        )


def _summary(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'document'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
    return f"{type(exc).__name__}: {exc}"


class Refresher:
    """Publishes changes and keeps the snapshot fresh: Redis pub/sub plus a DB poll."""

    def __init__(
        self,
        snapshot: Snapshot,
        redis: Redis | RedisCluster,
        *,
        channel: str,
        poll_seconds: float,
        redis_timeout: float,
    ) -> None:
        self._snapshot = snapshot
        self._redis = redis
        self._channel = channel
        self._poll_seconds = poll_seconds
        self._redis_timeout = redis_timeout
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Redis or the database down: one line, then one a minute, not a traceback a try
        self._quiet = QuietLog(log)

    def start(self) -> None:
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._poll(), name="rules-poll"),
            asyncio.create_task(self._listen(), name="rules-listen"),
        ]

    async def stop(self) -> None:
        # The flag as well as the cancel: a read with its own timeout inside the
        # Redis client can swallow a cancellation that lands as it times out.
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for task in self._tasks:
            if not task.done():
                log.warning("%s did not stop in time", task.get_name())
            elif not task.cancelled() and task.exception() is not None:
                log.warning("%s failed", task.get_name(), exc_info=task.exception())
        self._tasks = []

    async def changed(
        self, written: Changes | None = None, known: Mapping[str, Converted] | None = None
    ) -> None:
        """After a write: apply it here (``written``: what it changed; ``known``: the
        records the writer made, by id with the stored row's ``updated_at``), then
        tell the other instances. Best effort: the write is already committed, and
        the poll catches whatever this misses."""
        try:
            await self._snapshot.catch_up(written=written, known=known)
        except Exception:
            log.warning("reload after a change failed; the poll will retry", exc_info=True)
            return
        try:
            async with asyncio.timeout(self._redis_timeout):
                await self._redis.publish(self._channel, str(self._snapshot.counter))
        except Exception:
            log.warning("publishing rules version failed; others will poll", exc_info=True)

    async def _catch_up(self, counter: int | None = None) -> None:
        try:
            await self._snapshot.catch_up(counter)
        except Exception as exc:
            RULES_RELOADS.labels("failed").inc()
            self._quiet.failed("rules check", exc, "rules version check failed; will retry")
        else:
            self._quiet.succeeded("rules check", "rules version check works again")

    async def _poll(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._poll_seconds)
            await self._catch_up()

    async def _listen(self) -> None:
        backoff = 0.2
        while not self._stopping:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self._redis_timeout):
                    await pubsub.subscribe(self._channel)
                backoff = 0.2
                self._quiet.succeeded("rules channel", "rules channel subscribed again")
                await self._catch_up()  # whatever went by while not subscribed
                while not self._stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._catch_up(_counter(message.get("data")))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._quiet.failed(
                    "rules channel", exc, "rules channel lost; resubscribing in %.1fs", backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _counter(data: Any) -> int | None:
    try:
        return int(data)
    except (TypeError, ValueError):
        return None
