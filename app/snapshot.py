"""The in-memory rules: an immutable snapshot, and the task that keeps it fresh.

``Snapshot.rules`` is a ``RuleSet`` built from every stored promotion (status
is the engine's to check: a paused coupon must still say ``paused``), with a
version like ``2026-11-11T00:00:00.123456Z#42`` from ``rules_meta``. A reload
builds a whole new ``RuleSet`` and swaps the reference; a quote holds the one
it started with, so it never sees half a change.

Keeping instances in step (a change is live everywhere within 2 seconds):

- the instance that made a change reloads before it answers, then publishes
  the new version on the Redis channel ``<REDIS_PREFIX>rules``;
- every instance listens on that channel and reloads when a version it does
  not have goes by;
- every ``RULES_POLL_SECONDS`` each instance also compares its version with
  the database, in case a message was lost (Redis down, a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from redis.asyncio import Redis

from app.api.schemas import PromotionBody
from app.metrics import RULES_RELOADS, RULES_VERSION
from app.rules.model import Promotion
from app.rules.ruleset import RuleSet
from app.storage.repository import PromotionRepository, RulesVersion, StoredPromotion

log = logging.getLogger(__name__)

_NEVER = RulesVersion(counter=-1, changed_at=datetime(1970, 1, 1, tzinfo=UTC))


class Snapshot:
    def __init__(self, repository: PromotionRepository, *, default_timezone: ZoneInfo) -> None:
        self._repository = repository
        self._default_timezone = default_timezone
        self._version = _NEVER
        self._rules = RuleSet((), version=str(_NEVER))
        self._lock = asyncio.Lock()
        # converted promotions by id, with the ``updated_at`` they were converted at:
        # a reload validates only the rows that changed since the last one
        self._converted: dict[str, tuple[datetime, Promotion | None]] = {}

    @property
    def rules(self) -> RuleSet:
        return self._rules

    @property
    def counter(self) -> int:
        return self._version.counter

    async def reload(self) -> bool:
        """Load every promotion and swap the rules in; False when nothing changed."""
        async with self._lock:
            version, rows = await self._repository.load()
            if version.counter == self._version.counter:
                return False
            converted = {row.id: self._converted_row(row) for row in rows}
            self._converted = converted
            promotions = [p for _, p in converted.values() if p is not None]
            self._rules = RuleSet(promotions, version=str(version))
            self._version = version
        RULES_VERSION.set(version.counter)
        RULES_RELOADS.labels("loaded").inc()
        log.info("rules %s loaded: %d promotions", version, len(promotions))
        return True

    async def catch_up(self, counter: int | None = None) -> bool:
        """Reload when the database (or a message) says there is another version."""
        if counter is None:
            counter = (await self._repository.current_version()).counter
        if counter == self._version.counter:
            return False
        return await self.reload()

    def _converted_row(self, row: StoredPromotion) -> tuple[datetime, Promotion | None]:
        known = self._converted.get(row.id)
        if known is not None and known[0] == row.updated_at:
            return known
        return row.updated_at, self._convert(row.id, row.body)

    def _convert(self, promotion_id: str, body: Mapping[str, Any]) -> Promotion | None:
        try:
            return PromotionBody.model_validate(body).to_model(
                default_timezone=self._default_timezone
            )
        except (ValidationError, ValueError):
            RULES_RELOADS.labels("skipped_promotion").inc()
            log.exception("stored promotion %r no longer validates; left out", promotion_id)
            return None


class Refresher:
    """Publishes changes and keeps the snapshot fresh: Redis pub/sub plus a DB poll."""

    def __init__(
        self,
        snapshot: Snapshot,
        redis: Redis,
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

    async def changed(self) -> None:
        """After a write: reload here, then tell the other instances. Best effort:
        the write is already committed, and the poll catches whatever this misses."""
        try:
            await self._snapshot.reload()
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
        except Exception:
            RULES_RELOADS.labels("failed").inc()
            log.warning("rules version check failed", exc_info=True)

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
                await self._catch_up()  # whatever went by while not subscribed
                while not self._stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._catch_up(_counter(message.get("data")))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("rules channel lost; resubscribing in %.1fs", backoff, exc_info=True)
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
