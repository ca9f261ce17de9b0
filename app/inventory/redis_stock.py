"""``Inventory`` on Redis: one Lua script per promotion (per cluster slot).

Works against a single Redis (``redis.asyncio.Redis``), a Redis Cluster
(``redis.asyncio.cluster.RedisCluster``) and the in-process fakeredis of the
embedded default (``fakeredis.FakeAsyncRedis``, with Lua). The scripts live
in ``app/inventory/lua/*.lua``; each states its KEYS, ARGV and return codes,
and does every check before its first write. They are registered once per
client (``register_script``: EVALSHA, loading the script on ``NOSCRIPT``).
Every call runs under ``asyncio.timeout``; a deadline missed or a connection
lost becomes ``app.errors.Unavailable``.

Why slot by slot, and why it is safe
------------------------------------
All keys of one promotion share the hash tag ``{p:<id>}`` (``keys``), so one
script call takes a promotion's stock, holdings, use counts and budget
atomically. A reservation that needs several promotions needs several slots,
and Redis Cluster runs no script across slots. So a take is a *saga*:

1. the promotions are taken one at a time in a deterministic order (flash
   sales first, since they are the likeliest to fail and failing early
   leaves least to undo; then by promotion id);
2. if promotion *k* answers anything but OK, promotions 0..k-1 are released
   again (reason ``compensated``) and the take reports *k*'s code;
3. if promotion *k* does not answer (timeout, connection lost: the outcome is
   unknown), promotions 0..k are released, *k* included, and ``Unavailable``
   is raised.

What makes this safe:

* **Idempotency per (reservation, slot).** Each script first looks at the
  reservation's record in its own slot. redis-py's asyncio client re-sends a
  command after a connection error or a timeout, so a script can run twice;
  the second run finds the record and writes nothing. The check sits inside
  the script, before its first write, because only there is it atomic with
  the take.
* **Tombstones.** Releasing writes a ``released`` record even where nothing
  was taken. A take that was still in flight when its compensation ran (the
  unknown outcome of step 3) arrives to find the tombstone and takes nothing.
  A released reservation cannot be confirmed, a confirmed one cannot be
  released: the record's state decides, inside the script.
* **Expiry as the backstop.** Every taken record carries ``expires_at`` and
  sits in the slot's ``open`` sorted set. If a compensation cannot run (Redis
  gone mid-saga, the process killed), ``sweep`` releases the slot once it
  has expired, slot by slot, needing nothing from the process that took it.
  The sweep waits ``sweep_grace`` past the expiry, and ``confirm`` refuses at
  the expiry itself with the caller's decision time, so a confirmation that
  runs slot by slot is not overtaken by the sweep (short of clocks more than
  the grace apart).
* **Between steps** other customers may see a promotion taken that is given
  back a moment later: a brief under-sell, never an over-sell. The invariant
  ``available + reserved + sold == initial`` holds in every slot at every
  moment, since each step is one script.

A reservation id that failed a multi-promotion take is dead (its first
promotions hold tombstones); retry with a new id. ``docs/inventory.md``
records the decision and the durability model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from redis.commands.core import AsyncScript

from app.errors import Unavailable
from app.inventory.keys import DEFAULT_PREFIX, KeySpace, PromotionKeys
from app.inventory.stock import (
    ConfirmCode,
    ConfirmResult,
    CounterState,
    FlashTake,
    LedgerCounts,
    LoadStatus,
    PromotionTake,
    ReleaseCode,
    ReleaseResult,
    SlotAnswer,
    StockChange,
    StockLevel,
    StockReadings,
    TakeCode,
    TakeResult,
)
from app.resilience.breaker import CircuitBreaker
from app.rules.model import FlashItem
from app.storage.redis_calls import RedisCalls, RedisClient, lua_script
from app.storage.redis_calls import ms as _ms
from app.storage.redis_calls import opt as _opt
from app.storage.redis_calls import text as _text

SCRIPTS = ("load_stock", "take", "confirm", "release", "rebuild")


def lua_source(name: str) -> str:
    """The script ``app/inventory/lua/<name>.lua`` as Redis runs it (``lua_script``)."""
    return lua_script("app.inventory.lua", name)


class RedisStock:
    """``Inventory`` on Redis. One instance per client; cheap to make.

    ``timeout``: the deadline of each Redis round trip, in seconds.
    ``retention``: how long a confirmed or released record (the idempotency
    record and tombstone) is kept. ``sweep_grace``: how long past its expiry
    a reservation is left before ``sweep`` releases it. ``breaker``: the Redis
    circuit breaker every round trip goes through (open: ``CircuitOpen`` at
    once, nothing sent); None in tests of the adapter alone.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 1.0,
        retention: timedelta = timedelta(days=7),
        sweep_grace: timedelta = timedelta(seconds=30),
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if retention < timedelta(seconds=1):
            raise ValueError("retention must be at least a second")
        self._redis = redis
        self._keys = KeySpace(prefix)
        self._calls = RedisCalls(timeout=timeout, breaker=breaker)
        self._retention = str(int(retention.total_seconds()))
        self._grace_ms = int(sweep_grace.total_seconds() * 1000)
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(lua_source(name)) for name in SCRIPTS
        }
        self._noticed_missing: set[str] = set()

    @property
    def keys(self) -> KeySpace:
        return self._keys

    @property
    def redis(self) -> RedisClient:
        return self._redis

    def noticed_missing(self) -> frozenset[str]:
        old, self._noticed_missing = self._noticed_missing, set()
        return frozenset(old)

    async def load_scripts(self) -> None:
        """Load every script into Redis now (every primary of a cluster), so the
        first reservation does not pay for it; a good start-up check, too."""
        for name, script in self._scripts.items():
            await self._guard(f"load {name}", partial(self._redis.script_load, script.script))

    # ----------------------------------------------------------------- plumbing

    async def _guard(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Every round trip: through the breaker, under the deadline."""
        return await self._calls(what, call)

    async def _script(self, name: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        script = self._scripts[name]
        return await self._guard(name, lambda: script(keys=keys, args=args))

    async def _answer(
        self, name: str, promotion_id: str, keys: Sequence[str], args: Sequence[str]
    ) -> SlotAnswer:
        reply = await self._script(name, keys, args)
        code, detail, value = reply
        return SlotAnswer(promotion_id, _text(code), _text(detail), int(value))

    async def _record_skus(self, keys: PromotionKeys, reservation_id: str) -> list[str]:
        fields = await self._guard(
            "record", lambda: self._redis.hkeys(keys.reservation(reservation_id))
        )
        names = (_text(f) for f in fields)
        return sorted(name[2:] for name in names if name.startswith("u:"))

    # ------------------------------------------------------------------- stock

    async def load_stock(
        self, promotion_id: str, items: Sequence[FlashItem], *, now: datetime
    ) -> tuple[StockChange, ...]:
        changes = await self._load(promotion_id, items, now=now, loaded_only=False)
        assert changes is not None
        return changes

    async def adjust_stock(
        self, promotion_id: str, items: Sequence[FlashItem], *, now: datetime
    ) -> tuple[StockChange, ...] | None:
        return await self._load(promotion_id, items, now=now, loaded_only=True)

    async def _load(
        self, promotion_id: str, items: Sequence[FlashItem], *, now: datetime, loaded_only: bool
    ) -> tuple[StockChange, ...] | None:
        keys = self._keys.promotion(promotion_id)
        skus = [item.sku for item in items]
        if len(set(skus)) != len(skus):
            raise ValueError(f"promotion {promotion_id}: a flash-sale sku is listed twice")
        args = [str(_ms(now)), str(len(items))]
        for item in items:
            if not item.sku:
                raise ValueError(f"promotion {promotion_id}: empty sku")
            if item.stock < 0:
                raise ValueError(f"promotion {promotion_id}: negative stock for {item.sku}")
            limit = item.per_customer_limit
            if limit is not None and limit < 0:
                raise ValueError(f"promotion {promotion_id}: negative limit for {item.sku}")
            args += [item.sku, str(item.stock), "" if limit is None else str(limit)]
        if loaded_only:
            args.append("1")
        reply = await self._script(
            "load_stock", [keys.promotion, keys.skus, *map(keys.stock, skus)], args
        )
        if reply and _text(reply[0]) == "NOT_LOADED":
            return None
        requested = {item.sku: item.stock for item in items}
        changes = []
        for i in range(0, len(reply), 4):
            sku = _text(reply[i])
            changes.append(
                StockChange(
                    sku=sku,
                    status=LoadStatus(_text(reply[i + 1])),
                    requested=requested[sku],
                    initial=int(reply[i + 2]),
                    available=int(reply[i + 3]),
                )
            )
        return tuple(changes)

    async def rebuild(
        self,
        promotion_id: str,
        items: Sequence[FlashItem],
        ledger: LedgerCounts,
        *,
        now: datetime,
    ) -> tuple[StockChange, ...] | None:
        keys = self._keys.promotion(promotion_id)
        configured = {item.sku: item for item in items}
        present = await self._guard("rebuild", lambda: self._redis.smembers(keys.skus))
        skus = sorted(set(configured) | ledger.skus | {_text(m) for m in present})
        sold = ledger.units("confirmed")
        holdings = ledger.holdings("confirmed")
        customer_uses = ledger.customer_uses("confirmed")
        args = [
            str(_ms(now)),
            str(len(skus)),
            str(len(ledger.open)),
            str(ledger.uses("confirmed")),
            str(ledger.budget_spent("confirmed")),
            str(len(customer_uses)),
        ]
        for customer, count in sorted(customer_uses.items()):
            args += [customer, str(count)]
        script_keys = [keys.promotion, keys.customer_uses, keys.skus, keys.open]
        for sku in skus:
            item = configured.get(sku)
            held = holdings.get(sku, {})
            args += [
                sku,
                str(item.stock if item else 0),
                _opt(item.per_customer_limit if item else None),
                str(sold.get(sku, 0)),
                str(len(held)),
            ]
            for customer, units in sorted(held.items()):
                args += [customer, str(units)]
            script_keys += [keys.stock(sku), keys.held(sku)]
        for held_take in ledger.open:
            script_keys.append(keys.reservation(held_take.reservation_id))
            args += [
                held_take.reservation_id,
                held_take.customer_id,
                str(_ms(held_take.expires_at)),
                "1" if held_take.use else "0",
                str(held_take.budget_amount),
                str(len(held_take.units)),
            ]
            for sku, units in sorted(held_take.units.items()):
                args += [sku, str(units)]
        reply = await self._script("rebuild", script_keys, args)
        if reply and _text(reply[0]) == "ALREADY":
            return None
        changes = []
        for i in range(0, len(reply), 6):
            sku = _text(reply[i])
            item = configured.get(sku)
            changes.append(
                StockChange(
                    sku=sku,
                    status=LoadStatus(_text(reply[i + 1])),
                    requested=item.stock if item else 0,
                    initial=int(reply[i + 2]),
                    available=int(reply[i + 3]),
                )
            )
        return tuple(changes)

    async def unload(self, promotion_id: str) -> None:
        keys = self._keys.promotion(promotion_id)
        await self._guard("unload", lambda: self._redis.hdel(keys.promotion, "loaded_at"))

    async def loaded(self, promotion_ids: Iterable[str]) -> frozenset[str]:
        ids = sorted(set(promotion_ids))
        if not ids:
            return frozenset()

        async def fetch() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for promotion_id in ids:
                    pipe.hexists(self._keys.promotion(promotion_id).promotion, "loaded_at")
                return list(await pipe.execute())

        flags = await self._guard("loaded", fetch)
        return frozenset(pid for pid, flag in zip(ids, flags, strict=True) if flag)

    async def inspect(self, promotion_id: str) -> CounterState:
        keys = self._keys.promotion(promotion_id)
        members = await self._guard("inspect", lambda: self._redis.smembers(keys.skus))
        skus = sorted(_text(m) for m in members)

        async def fetch() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.promotion)
                pipe.hgetall(keys.customer_uses)
                pipe.zrange(keys.open, 0, -1)
                for sku in skus:
                    pipe.hgetall(keys.stock(sku))
                    pipe.hgetall(keys.held(sku))
                return list(await pipe.execute())

        promotion, customer_uses, open_ids, *per_sku = await self._guard("inspect", fetch)
        head = {_text(k): _text(v) for k, v in promotion.items()}
        stock: dict[str, StockLevel] = {}
        holdings: dict[str, dict[str, int]] = {}
        for i, sku in enumerate(skus):
            raw_stock, raw_held = per_sku[2 * i], per_sku[2 * i + 1]
            if raw_stock:
                stock[sku] = _level(sku, raw_stock)
            if raw_held:
                holdings[sku] = {_text(c): int(u) for c, u in raw_held.items()}
        return CounterState(
            loaded="loaded_at" in head,
            stock=stock,
            holdings=holdings,
            uses=int(head.get("uses") or 0),
            customer_uses={_text(c): int(u) for c, u in customer_uses.items()},
            budget_spent=int(head.get("budget_spent") or 0),
            open=frozenset(_text(m) for m in open_ids),
        )

    async def read(self, promotion_id: str) -> dict[str, StockLevel]:
        keys = self._keys.promotion(promotion_id)
        members = await self._guard("read", lambda: self._redis.smembers(keys.skus))
        skus = sorted(_text(m) for m in members)

        async def fetch() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for sku in skus:
                    pipe.hgetall(keys.stock(sku))
                return list(await pipe.execute())

        hashes = await self._guard("read", fetch) if skus else []
        levels = {}
        for sku, raw in zip(skus, hashes, strict=True):
            if raw:
                levels[sku] = _level(sku, raw)
        return levels

    async def available_for(
        self,
        *,
        customer_id: str | None,
        flash: Iterable[tuple[str, str]] = (),
        promotions: Iterable[str] = (),
    ) -> StockReadings:
        pairs = sorted(set(flash))
        promotion_ids = sorted(set(promotions))
        if not pairs and not promotion_ids:
            return StockReadings()

        async def fetch() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for promotion_id, sku in pairs:
                    keys = self._keys.promotion(promotion_id)
                    pipe.hget(keys.stock(sku), "available")
                    if customer_id:
                        pipe.hget(keys.held(sku), customer_id)
                for promotion_id in promotion_ids:
                    keys = self._keys.promotion(promotion_id)
                    pipe.hmget(keys.promotion, ["loaded_at", "uses", "budget_spent"])
                    if customer_id:
                        pipe.hget(keys.customer_uses, customer_id)
                return list(await pipe.execute())

        replies = iter(await self._guard("available_for", fetch))
        available: dict[tuple[str, str], int] = {}
        bought: dict[tuple[str, str], int] = {}
        missing: set[tuple[str, str]] = set()
        not_loaded: set[str] = set()
        for pair in pairs:
            raw = next(replies)
            if raw is None:
                missing.add(pair)
            else:
                available[pair] = int(raw)
            if customer_id:
                bought[pair] = _int(next(replies))
        uses: dict[str, int] = {}
        customer_uses: dict[str, int] = {}
        spent: dict[str, int] = {}
        for promotion_id in promotion_ids:
            loaded_at, used, budget_spent = next(replies)
            if loaded_at is None:
                not_loaded.add(promotion_id)
                self._noticed_missing.add(promotion_id)
            uses[promotion_id] = _int(used)
            spent[promotion_id] = _int(budget_spent)
            if customer_id:
                customer_uses[promotion_id] = _int(next(replies))
        return StockReadings(
            flash_available=available,
            flash_bought=bought,
            uses=uses,
            customer_uses=customer_uses,
            budget_spent=spent,
            missing_stock=frozenset(missing),
            not_loaded=frozenset(not_loaded),
        )

    # -------------------------------------------------------------------- take

    async def take(
        self,
        reservation_id: str,
        *,
        customer_id: str,
        takes: Sequence[PromotionTake],
        now: datetime,
        expires_at: datetime,
    ) -> TakeResult:
        if not reservation_id or not customer_id:
            raise ValueError("reservation id and customer id are required")
        now_ms, expires_ms = _ms(now), _ms(expires_at)
        if expires_ms <= now_ms:
            raise ValueError("expires_at must be after now")
        plan = plan_takes(takes)
        answers: list[SlotAnswer] = []
        for index, step in enumerate(plan):
            try:
                answer = await self._take_slot(
                    reservation_id, customer_id, step, now_ms=now_ms, expires_ms=expires_ms
                )
            except Unavailable:
                # outcome unknown: release this promotion too (its tombstone beats a late take)
                await self._compensate(reservation_id, plan[: index + 1], now_ms)
                raise
            if answer.code != TakeCode.OK:
                if answer.code == TakeCode.NOT_LOADED:
                    self._noticed_missing.add(step.promotion_id)
                left = await self._compensate(reservation_id, plan[:index], now_ms)
                return TakeResult(
                    code=TakeCode(answer.code),
                    promotion_id=step.promotion_id,
                    detail=answer.detail,
                    value=answer.value,
                    slots=(*answers, answer),
                    uncompensated=left,
                )
            answers.append(answer)
        return TakeResult(
            code=TakeCode.OK,
            replayed=bool(answers) and all(a.detail == "replay" for a in answers),
            slots=tuple(answers),
        )

    async def _take_slot(
        self,
        reservation_id: str,
        customer_id: str,
        step: PromotionTake,
        *,
        now_ms: int,
        expires_ms: int,
    ) -> SlotAnswer:
        keys = self._keys.promotion(step.promotion_id)
        script_keys = [
            keys.promotion,
            keys.customer_uses,
            keys.open,
            keys.reservation(reservation_id),
        ]
        args = [
            reservation_id,
            customer_id,
            str(now_ms),
            str(expires_ms),
            _opt(None if step.starts_at is None else _ms(step.starts_at)),
            _opt(None if step.ends_at is None else _ms(step.ends_at)),
            "1" if step.use else "0",
            _opt(step.max_uses),
            _opt(step.max_uses_per_customer),
            str(step.budget_amount),
            _opt(step.budget),
            str(len(step.flash)),
        ]
        for line in step.flash:
            script_keys += [keys.stock(line.sku), keys.held(line.sku)]
            args += [line.sku, str(line.units), _opt(line.per_customer_limit)]
        return await self._answer("take", step.promotion_id, script_keys, args)

    async def _compensate(
        self, reservation_id: str, done: Sequence[PromotionTake], now_ms: int
    ) -> tuple[str, ...]:
        """Release ``done`` (concurrently: the slots are independent); the promotions
        that could not be released are left to the expiry sweep."""

        async def one(step: PromotionTake) -> str | None:
            try:
                await self._release_slot(
                    step.promotion_id,
                    reservation_id,
                    skus=[line.sku for line in step.flash],
                    reason="compensated",
                    now_ms=now_ms,
                )
            except Unavailable:
                return step.promotion_id
            return None

        failed = await asyncio.gather(*(one(step) for step in done))
        return tuple(pid for pid in failed if pid is not None)

    # ------------------------------------------------------- confirm / release

    async def confirm(
        self, reservation_id: str, *, promotion_ids: Iterable[str], now: datetime
    ) -> ConfirmResult:
        now_ms = _ms(now)
        answers: list[SlotAnswer] = []
        for promotion_id in _ordered(promotion_ids):
            answer = await self._confirm_slot(promotion_id, reservation_id, now_ms)
            answers.append(answer)
            if answer.code == ConfirmCode.NOT_FOUND:
                continue
            if answer.code != ConfirmCode.CONFIRMED and not any(
                a.code == ConfirmCode.CONFIRMED for a in answers
            ):
                # nothing confirmed yet and this slot refuses: the others would too
                return ConfirmResult(ConfirmCode(answer.code), tuple(answers))
        codes = {a.code for a in answers} - {ConfirmCode.NOT_FOUND}
        if not codes:
            return ConfirmResult(ConfirmCode.NOT_FOUND, tuple(answers))
        if codes == {ConfirmCode.CONFIRMED}:
            return ConfirmResult(ConfirmCode.CONFIRMED, tuple(answers))
        return ConfirmResult(ConfirmCode.PARTIAL, tuple(answers))

    async def _confirm_slot(
        self, promotion_id: str, reservation_id: str, now_ms: int
    ) -> SlotAnswer:
        keys = self._keys.promotion(promotion_id)
        skus = await self._record_skus(keys, reservation_id)
        for _ in range(3):
            answer = await self._answer(
                "confirm",
                promotion_id,
                [keys.open, keys.reservation(reservation_id), *map(keys.stock, skus)],
                [reservation_id, str(now_ms), self._retention, str(len(skus)), *skus],
            )
            if answer.code != "KEYS_MISMATCH":
                return answer
            skus = await self._record_skus(keys, reservation_id)
        raise RuntimeError(f"reservation {reservation_id}: its record keeps changing")

    async def release(
        self,
        reservation_id: str,
        *,
        promotion_ids: Iterable[str],
        now: datetime,
        reason: str = "cancelled",
    ) -> ReleaseResult:
        now_ms = _ms(now)
        answers: list[SlotAnswer] = []
        for promotion_id in _ordered(promotion_ids):
            answer = await self._release_slot(
                promotion_id, reservation_id, skus=None, reason=reason, now_ms=now_ms
            )
            answers.append(answer)
            if answer.code == ReleaseCode.CONFIRMED and len(answers) == 1:
                # confirmed in the first slot: confirmed everywhere; nothing to give back
                return ReleaseResult(ReleaseCode.CONFIRMED, tuple(answers))
        codes = {a.code for a in answers}
        if codes <= {ReleaseCode.RELEASED}:
            return ReleaseResult(ReleaseCode.RELEASED, tuple(answers))
        if codes == {ReleaseCode.CONFIRMED}:
            return ReleaseResult(ReleaseCode.CONFIRMED, tuple(answers))
        return ReleaseResult(ReleaseCode.PARTIAL, tuple(answers))

    async def _release_slot(
        self,
        promotion_id: str,
        reservation_id: str,
        *,
        skus: Sequence[str] | None,
        reason: str,
        now_ms: int,
        expired_before: int | None = None,
    ) -> SlotAnswer:
        keys = self._keys.promotion(promotion_id)
        if skus is None:
            skus = await self._record_skus(keys, reservation_id)
        for _ in range(3):
            script_keys = [
                keys.promotion,
                keys.customer_uses,
                keys.open,
                keys.reservation(reservation_id),
            ]
            for sku in skus:
                script_keys += [keys.stock(sku), keys.held(sku)]
            answer = await self._answer(
                "release",
                promotion_id,
                script_keys,
                [
                    reservation_id,
                    str(now_ms),
                    self._retention,
                    reason,
                    _opt(expired_before),
                    str(len(skus)),
                    *skus,
                ],
            )
            if answer.code != "KEYS_MISMATCH":
                return answer
            skus = await self._record_skus(keys, reservation_id)
        raise RuntimeError(f"reservation {reservation_id}: its record keeps changing")

    async def due(
        self, promotion_ids: Iterable[str], *, now: datetime, limit: int = 100
    ) -> dict[str, list[str]]:
        ids = list(promotion_ids)
        if not ids:
            return {}
        cutoff = _ms(now) - self._grace_ms

        async def fetch() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for promotion_id in ids:
                    key = self._keys.promotion(promotion_id).open
                    pipe.zrangebyscore(key, "-inf", cutoff, start=0, num=limit)
                return list(await pipe.execute())

        found = await self._guard("due", fetch)
        return {
            promotion_id: [_text(member) for member in members]
            for promotion_id, members in zip(ids, found, strict=True)
            if members
        }

    async def sweep(self, promotion_id: str, *, now: datetime, limit: int = 100) -> int:
        now_ms = _ms(now)
        cutoff = now_ms - self._grace_ms
        released = 0
        due = await self.due([promotion_id], now=now, limit=limit)
        for reservation_id in due.get(promotion_id, ()):
            answer = await self._release_slot(
                promotion_id,
                reservation_id,
                skus=None,
                reason="expired",
                now_ms=now_ms,
                expired_before=cutoff,
            )
            if answer.code == ReleaseCode.RELEASED and answer.detail == "released":
                released += 1
        return released


# --------------------------------------------------------------------- helpers


def plan_takes(takes: Sequence[PromotionTake]) -> list[PromotionTake]:
    """The order a reservation's promotions are taken in: flash sales first, then
    by promotion id; one take per promotion (lines of the same sku merged),
    empty takes dropped."""
    by_promotion: dict[str, PromotionTake] = {}
    for take in takes:
        if take.promotion_id in by_promotion:
            raise ValueError(f"promotion {take.promotion_id} is taken twice in one reservation")
        if take.budget_amount < 0:
            raise ValueError(f"promotion {take.promotion_id}: negative budget amount")
        units: dict[str, FlashTake] = {}
        for line in take.flash:
            if line.units < 1:
                raise ValueError(f"promotion {take.promotion_id}: units of {line.sku} must be >= 1")
            if line.sku in units:
                seen = units[line.sku]
                units[line.sku] = FlashTake(
                    line.sku, seen.units + line.units, seen.per_customer_limit
                )
            else:
                units[line.sku] = line
        by_promotion[take.promotion_id] = PromotionTake(
            promotion_id=take.promotion_id,
            flash=tuple(units.values()),
            use=take.use,
            max_uses=take.max_uses,
            max_uses_per_customer=take.max_uses_per_customer,
            budget_amount=take.budget_amount,
            budget=take.budget,
            starts_at=take.starts_at,
            ends_at=take.ends_at,
        )
    steps = [step for step in by_promotion.values() if not step.is_empty]
    return sorted(steps, key=lambda step: (not step.flash, step.promotion_id))


def _ordered(promotion_ids: Iterable[str]) -> list[str]:
    return sorted(set(promotion_ids))


def _int(value: Any) -> int:
    return 0 if value is None or value in (b"", "") else int(value)


def _level(sku: str, raw: Any) -> StockLevel:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    limit = fields.get("limit", "")
    return StockLevel(
        sku=sku,
        initial=int(fields.get("initial", 0)),
        available=int(fields.get("available", 0)),
        reserved=int(fields.get("reserved", 0)),
        sold=int(fields.get("sold", 0)),
        per_customer_limit=int(limit) if limit else None,
    )
