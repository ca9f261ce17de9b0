"""``python -m app.cli.recover rebuild|reconcile [PROMOTION_ID ...]``: Redis against the ledger.

``REDIS_URL``, ``DATABASE_URL``, ``DATABASE_SCHEMA`` and ``REDIS_PREFIX`` as
for the service. ``rebuild`` rebuilds the Redis counters of every promotion
with counters (or those named) from the ledger, and the claim counters (领券)
of every coupon promotion from its stored claims; ``reconcile`` prints every
difference between Redis and the ledger and exits 1 when there is any, 0 when
they agree.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from app.coupons.claim_service import ClaimService
from app.coupons.redis_claims import RedisClaims
from app.inventory.recovery import Recovery
from app.inventory.redis_stock import RedisStock
from app.inventory.stock import needs_counters
from app.promotions.snapshot import Snapshot
from app.settings import get_settings
from app.storage import db
from app.storage.redis_client import make_redis
from app.storage.sql_claims import SqlClaimRepository
from app.storage.sql_ledger import SqlReservationRepository
from app.storage.sql_promotions import SqlPromotionRepository


def _say(text: str, *, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    stream.write(text + "\n")


async def _run(command: str, only: Sequence[str]) -> int:

    settings = get_settings()
    if not settings.redis_url:
        _say(
            "REDIS_URL is not set: the embedded Redis lives inside the service process, "
            "which rebuilds it from the ledger at every start",
            error=True,
        )
        return 2
    engine = db.make_engine(settings)
    redis = make_redis(settings)
    try:
        repository = SqlPromotionRepository(engine, timeout=settings.db_timeout_seconds)
        snapshot = Snapshot(repository, default_timezone=settings.timezone)
        await snapshot.reload()
        promotions = [
            p for p in snapshot.rules.promotions if needs_counters(p) and (not only or p.id in only)
        ]
        coupons = [
            p for p in snapshot.rules.promotions if p.is_coupon and (not only or p.id in only)
        ]
        missing = sorted(set(only) - {p.id for p in promotions} - {p.id for p in coupons})
        for promotion_id in missing:
            _say(f"{promotion_id}: no such promotion with counters", error=True)
        stock = RedisStock(
            redis, prefix=settings.redis_prefix, timeout=settings.redis_timeout_seconds
        )
        ledger = SqlReservationRepository(engine, timeout=settings.db_timeout_seconds)
        recovery = Recovery(stock, ledger)
        claims = ClaimService(
            rules=snapshot,
            counters=RedisClaims(
                redis, prefix=settings.redis_prefix, timeout=settings.redis_timeout_seconds
            ),
            ledger=SqlClaimRepository(engine, timeout=settings.db_timeout_seconds),
        )
        if command == "rebuild":
            for promotion in coupons:
                _say(f"{promotion.id}: claims rebuilt: {await claims.rebuild(promotion)}")
            for promotion in promotions:
                changes = await recovery.rebuild(promotion, now=datetime.now(UTC))
                skus = ", ".join(
                    f"{c.sku} {c.status} initial {c.initial} available {c.available}"
                    for c in changes
                )
                _say(f"{promotion.id}: rebuilt{': ' + skus if skus else ''}")
            return 1 if missing else 0
        found: list[object] = [
            d for promotion in promotions for d in await recovery.reconcile(promotion)
        ]
        found += [d for promotion in coupons for d in await claims.reconcile(promotion)]
        for difference in found:
            _say(str(difference))
        checked = len({p.id for p in promotions} | {p.id for p in coupons})
        _say(f"{checked} promotions checked, {len(found)} differences")
        return 1 if found or missing else 0
    finally:
        await redis.aclose()
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.cli.recover",
        description="Rebuild the Redis counters from the ledger, or compare the two.",
    )
    parser.add_argument("command", choices=("rebuild", "reconcile"))
    parser.add_argument("promotion_ids", nargs="*", metavar="PROMOTION_ID")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(_run(args.command, args.promotion_ids))


if __name__ == "__main__":
    sys.exit(main())
