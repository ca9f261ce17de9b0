"""``ClaimCounters`` on Redis: the claim decided by one Lua script per claim.

The keys (``app.inventory.keys``: ``claims``, ``claimers``, ``claim_ids``) sit
in the promotion's hash tag ``{p:<id>}``, so a claim is one script in one slot
on a single Redis and on a Redis Cluster alike. The scripts live in
``app/coupons/lua/*.lua`` (KEYS, ARGV and returns at the top of each),
registered once per client (EVALSHA, loaded again on ``NOSCRIPT``). Every call
goes through the Redis breaker, under a deadline (``app.storage.redis_calls``);
a missed deadline or a lost connection becomes ``app.errors.Unavailable``.
redis-py may send a script twice (it retries after a connection error):
``claim.lua`` looks up the claim id before anything else,
so the second run answers ``replay`` with the same code and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from app.coupons.claims import ClaimCode, ClaimCounts, ClaimLimits, CounterAnswer, StoredClaim
from app.inventory.keys import DEFAULT_PREFIX, KeySpace
from app.resilience.breaker import CircuitBreaker
from app.storage.batches import Batches
from app.storage.redis_calls import RedisCalls, RedisClient, lua_script
from app.storage.redis_calls import ms as _ms
from app.storage.redis_calls import opt as _opt
from app.storage.redis_calls import text as _text

SCRIPTS = ("claim", "unclaim", "claims_rebuild")
REBUILD_CHUNK = 5_000  # claims per rebuild call: a few hundred kB of arguments
# claims sent in one pipeline at most, and pipelines in flight at once
PIPELINE_MAX = 128
PIPELINES_IN_FLIGHT = 2


@dataclass(frozen=True, slots=True)
class _Run:
    keys: Sequence[str]
    args: Sequence[str]


class _Pipelined:
    """Concurrent runs of one script sent together (``app.storage.batches``): every
    run queued while ``PIPELINES_IN_FLIGHT`` pipelines are in flight goes in the
    next one (at most ``PIPELINE_MAX``): one round trip, one connection, one
    deadline for all of them. Each run is still its own ``EVALSHA`` (atomic, as
    alone) and gets its own reply or error. A pipeline that fails fails each of its
    runs (``Unavailable``); redis-py may send a pipeline again after a connection
    error, which ``claim.lua`` answers ``replay``. A run Redis does not know the
    script of (``NOSCRIPT``: Redis restarted) goes again on its own, which loads it."""

    def __init__(self, redis: Redis, script: AsyncScript, guard: RedisCalls, what: str) -> None:
        self._redis = redis
        self._script = script
        self._guard = guard
        self._what = what
        self._batches: Batches[_Run, Any] = Batches(
            self._send, most=PIPELINE_MAX, in_flight=PIPELINES_IN_FLIGHT
        )

    async def run(self, keys: Sequence[str], args: Sequence[str]) -> Any:
        return await self._batches.add(_Run(keys, args))

    async def _send(self, batch: list[_Run]) -> list[Any]:
        async def send() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for run in batch:
                    pipe.evalsha(self._script.sha, len(run.keys), *run.keys, *run.args)
                return list(await pipe.execute(raise_on_error=False))

        replies = await self._guard(self._what, send)
        for at, (run, reply) in enumerate(zip(batch, replies, strict=True)):
            if isinstance(reply, NoScriptError):
                try:
                    replies[at] = await self._alone(run)
                except Exception as exc:  # that run's own error
                    replies[at] = exc
        return replies

    async def _alone(self, run: _Run) -> Any:
        """The run in a call of its own (``AsyncScript`` loads the script again)."""
        return await self._guard(self._what, lambda: self._script(keys=run.keys, args=run.args))


def lua_source(name: str) -> str:
    """The script ``app/coupons/lua/<name>.lua`` as Redis runs it (``lua_script``)."""
    return lua_script("app.coupons.lua", name)


class RedisClaims:
    """``ClaimCounters`` on Redis (single, cluster, or the embedded fakeredis)."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 1.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._redis = redis
        self._keys = KeySpace(prefix)
        self._guard = RedisCalls(timeout=timeout, breaker=breaker)
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(lua_source(name)) for name in SCRIPTS
        }
        # claims in one pipeline on a single Redis; on a cluster each on its own
        self._claims = (
            _Pipelined(redis, self._scripts["claim"], self._guard, "claim")
            if isinstance(redis, Redis)
            else None
        )

    @property
    def keys(self) -> KeySpace:
        return self._keys

    async def _pipelined(self, name: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        assert self._claims is not None, name
        return await self._claims.run(keys, args)

    async def _script(self, name: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        script = self._scripts[name]
        return await self._guard(name, lambda: script(keys=keys, args=args))

    async def claim(
        self,
        promotion_id: str,
        *,
        claim_id: str,
        customer_id: str,
        code: str,
        limits: ClaimLimits,
        now: datetime,
    ) -> CounterAnswer:
        keys = self._keys.promotion(promotion_id)
        claim = self._script if self._claims is None else self._pipelined
        reply = await claim(
            "claim",
            [keys.claims, keys.claimers, keys.claim_ids, keys.claim_free],
            [
                claim_id,
                customer_id,
                code,
                str(_ms(now)),
                _opt(None if limits.starts_at is None else _ms(limits.starts_at)),
                _opt(None if limits.ends_at is None else _ms(limits.ends_at)),
                _opt(limits.max_claims),
                _opt(limits.max_claims_per_customer),
            ],
        )
        answer, detail, value, slot = (_text(part) for part in reply)
        return CounterAnswer(ClaimCode(answer), detail, value, int(slot or 0))

    async def unclaim(self, promotion_id: str, claim_id: str) -> bool:
        keys = self._keys.promotion(promotion_id)
        reply = await self._script(
            "unclaim", [keys.claimers, keys.claim_ids, keys.claim_free], [claim_id]
        )
        return _text(reply[0]) == "OK"

    async def rebuild(
        self, promotion_id: str, claims: Sequence[StoredClaim], *, now: datetime
    ) -> bool:
        keys = self._keys.promotion(promotion_id)
        held = {claim.slot for claim in claims}
        free = [slot for slot in range(1, max(held, default=0) + 1) if slot not in held]
        size = REBUILD_CHUNK
        count = max(1, -(-len(claims) // size), -(-len(free) // size))
        for index in range(count):
            chunk = claims[index * size : (index + 1) * size]
            holes = free[index * size : (index + 1) * size]
            args = [
                "1" if index == 0 else "0",
                "1" if index == count - 1 else "0",
                str(_ms(now)),
                str(len(chunk)),
                str(len(holes)),
            ]
            for claim in chunk:
                args += [claim.claim_id, claim.code, claim.customer_id, str(claim.slot)]
            args += [str(slot) for slot in holes]
            reply = await self._script(
                "claims_rebuild",
                [keys.claims, keys.claimers, keys.claim_ids, keys.claim_free],
                args,
            )
            if _text(reply[0]) == "ALREADY":
                return False
        return True

    async def unload(self, promotion_id: str) -> None:
        keys = self._keys.promotion(promotion_id)
        await self._guard("unload claims", lambda: self._redis.hdel(keys.claims, "loaded_at"))

    async def loaded(self, promotion_id: str) -> bool:
        keys = self._keys.promotion(promotion_id)
        return bool(
            await self._guard(
                "claims loaded", lambda: self._redis.hexists(keys.claims, "loaded_at")
            )
        )

    async def inspect(self, promotion_id: str) -> ClaimCounts | None:
        keys = self._keys.promotion(promotion_id)

        async def fetch() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hexists(keys.claims, "loaded_at")
                pipe.hgetall(keys.claimers)
                pipe.hkeys(keys.claim_ids)
                return list(await pipe.execute())

        loaded, claimers, claim_ids = await self._guard("inspect claims", fetch)
        if not loaded:
            return None
        return ClaimCounts(
            total=len(claim_ids),
            by_customer={_text(k): int(v) for k, v in claimers.items()},
            claim_ids=frozenset(_text(c) for c in claim_ids),
        )
