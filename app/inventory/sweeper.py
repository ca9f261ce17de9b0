"""The background sweeper: what comes back by itself, on every instance.

Every ``SWEEP_INTERVAL_SECONDS`` each instance of the service:

1. keeps the counters (``Recovery.keep``): loads the stock of promotions
   whose items changed, and rebuilds from the ledger any promotion whose
   loaded marker is gone (Redis restarted empty): those that quotes or
   reservations found missing since the last sweep, and a window of
   ``SWEEP_SCAN`` promotions that moves on each sweep, so that all are looked
   at every ``ceil(n / SWEEP_SCAN)`` sweeps (at 10,000 marketplace
   promotions, ~3,300 have counters: asking Redis about every one each second
   cost the process a fifth of a core with no request at all);
2. expires reservations past ``expires_at`` (pending ones
   ``SWEEP_GRACE_SECONDS`` later, since they may still be in the making, or
   ``RESERVATION_ABANDON_SECONDS`` after they were made, whichever comes
   first: an attempt that could not remove its pending row, the database
   failing, would otherwise leave retries of its ``order_id`` answering 503
   until the row expired, a quarter of an hour later):
   gives back what they took in Redis and marks them ``expired``, or
   records the order when Redis says it had been confirmed. On PostgreSQL the rows are claimed with
   ``FOR UPDATE SKIP LOCKED``, so several instances sweeping at once share
   the work; every step is idempotent in any case;
3. looks in Redis, in the same window, for takes still held
   ``SWEEP_GRACE_SECONDS`` past their expiry (the row never got written, is
   gone, or was settled while Redis was away) and asks the ledger about
   each: cancelled, expired or unknown → released; confirmed → confirmed in
   Redis too (a rebuild during a confirmation can leave it ``taken``), so
   that a unit the ledger sold is never given back; pending or reserved →
   left to step 2.

Nothing here needs the process that made a reservation: any instance, or a
new one after a crash, returns what expired.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.errors import Unavailable
from app.inventory.ledger import ReservationRepository, ReservationStatus
from app.inventory.recovery import Recovery
from app.inventory.reservation_service import ReservationService
from app.inventory.stock import Inventory, needs_counters
from app.promotions.snapshot import RulesSource
from app.rules.model import Promotion

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Sweeper:
    def __init__(
        self,
        *,
        rules: RulesSource,
        recovery: Recovery,
        reservations: ReservationService,
        ledger: ReservationRepository,
        inventory: Inventory,
        interval: float,
        batch: int,
        scan: int,
        deadline: float,
        grace: timedelta,
        abandon: timedelta,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._rules = rules
        self._recovery = recovery
        self._reservations = reservations
        self._ledger = ledger
        self._inventory = inventory
        self._interval = interval
        self._batch = batch
        self._scan = scan
        self._cursor = 0
        self._deadline = deadline
        self._grace = grace
        self._abandon = abandon
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="sweeper")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.wait([self._task], timeout=5)
        if not self._task.done():
            log.warning("the sweeper did not stop in time")
        self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._interval)
            await self.run_once()

    async def run_once(self) -> int:
        """One sweep; how many reservations it settled. Each step stands alone: a
        step that fails (Redis or the database down) is logged and tried again
        next round, and does not keep the others from running."""
        now = self._clock()
        promotions = [p for p in self._rules.rules.promotions if needs_counters(p)]
        window = self._window(promotions)
        check = window | self._inventory.noticed_missing()
        settled = 0

        async def expire() -> None:
            nonlocal settled
            while True:
                moved = await self._ledger.sweep_expired(
                    now=now,
                    pending_before=now - self._grace,
                    abandoned_before=now - self._abandon,
                    limit=self._batch,
                    settle=lambda found: self._reservations.settle_expired(found, now=now),
                    within=self._deadline,
                )
                settled += moved
                if moved < self._batch:
                    return

        async def sweep_redis() -> None:
            due = await self._inventory.due(window, now=now, limit=self._batch)
            for promotion_id, reservation_ids in due.items():
                await self._sweep_redis(promotion_id, reservation_ids, now)

        await _step("counters", self._recovery.keep(promotions, now=now, check=check))
        await _step("expiry", expire())
        await _step("redis takes", sweep_redis())
        if settled:
            log.info("sweep: %d reservations settled", settled)
        return settled

    def _window(self, promotions: list[Promotion]) -> frozenset[str]:
        """The next ``scan`` promotions (all of them when there are no more)."""
        if len(promotions) <= self._scan:
            return frozenset(p.id for p in promotions)
        start = self._cursor % len(promotions)
        chosen = promotions[start : start + self._scan]
        chosen += promotions[: self._scan - len(chosen)]
        self._cursor = start + self._scan
        return frozenset(p.id for p in chosen)

    async def _sweep_redis(self, promotion_id: str, due: list[str], now: datetime) -> None:
        states = await self._ledger.states(due)
        for reservation_id in due:
            status, expires_at = states.get(reservation_id, (None, None))
            if status is None or status in (ReservationStatus.CANCELLED, ReservationStatus.EXPIRED):
                await self._inventory.release(
                    reservation_id, promotion_ids=[promotion_id], now=now, reason="expired"
                )
            elif status is ReservationStatus.CONFIRMED and expires_at is not None:
                # the ledger confirmed it before its expiry: confirm in Redis as of then
                decided = min(now, expires_at - timedelta(milliseconds=1))
                await self._inventory.confirm(
                    reservation_id, promotion_ids=[promotion_id], now=decided
                )


async def _step(what: str, work: Awaitable[object]) -> None:
    try:
        await work
    except Unavailable as exc:
        log.warning("sweep (%s) skipped: %s", what, exc.detail)
    except Exception:
        log.exception("sweep (%s) failed", what)
