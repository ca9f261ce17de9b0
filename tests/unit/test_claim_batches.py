"""The group commit of claims (``app.storage.sql_claims._ClaimBatches``) with a fake
writer: who is written with whom, and what each waiting claim is told.

The same batches against PostgreSQL: the 1,000-claim race and the replays of
tests/integration/test_claims.py and tests/api/test_coupons.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from app.coupons.claims import NewClaim
from app.errors import Unavailable
from app.storage.sql_claims import BATCH_MAX, BATCHES_IN_FLIGHT, _ClaimBatches, _Waiting

AT = datetime(2026, 11, 11, tzinfo=UTC)


def claim(n: int, customer: str | None = None, promotion: str = "p") -> NewClaim:
    return NewClaim(
        claim_id=f"k{n}",
        promotion_id=promotion,
        customer_id=customer or f"u{n}",
        code=f"C{n}",
        claimed_at=AT,
        slot=n + 1,
    )


class Writer:
    """Records each batch; a batch ends when the test releases it."""

    def __init__(self, *, refuse: set[str] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.refuse = refuse or set()  # customers at their limit
        self.fail: BaseException | None = None

    async def __call__(self, batch: list[_Waiting]) -> set[tuple[str, str]]:
        self.batches.append([w.claim.claim_id for w in batch])
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {
            (w.claim.promotion_id, w.claim.customer_id)
            for w in batch
            if w.claim.customer_id not in self.refuse
        }


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def batches_written() -> tuple[float, float]:
    """(batches, claims) of ``pricing_claim_batch_size`` so far."""
    count = REGISTRY.get_sample_value("pricing_claim_batch_size_count") or 0.0
    total = REGISTRY.get_sample_value("pricing_claim_batch_size_sum") or 0.0
    return count, total


async def test_light_load_writes_each_claim_at_once_and_a_rush_waits_for_one_batch() -> None:
    seen_before = batches_written()
    writer = Writer()
    batches = _ClaimBatches(writer)
    first = [asyncio.ensure_future(batches.add(claim(n), None)) for n in range(BATCHES_IN_FLIGHT)]
    await settle()
    # nothing in flight: each started its own batch at once
    assert writer.batches == [[f"k{n}"] for n in range(BATCHES_IN_FLIGHT)]
    rush = [
        asyncio.ensure_future(batches.add(claim(n), None))
        for n in range(BATCHES_IN_FLIGHT, BATCHES_IN_FLIGHT + 300)
    ]
    await settle()
    assert len(writer.batches) == BATCHES_IN_FLIGHT  # the rush waits
    writer.release.set()
    assert all(await asyncio.gather(*first, *rush))
    # the rush went in batches of at most BATCH_MAX, each as full as the queue allowed
    sizes = [len(b) for b in writer.batches[BATCHES_IN_FLIGHT:]]
    assert sum(sizes) == 300
    assert max(sizes) == BATCH_MAX
    assert sorted(k for b in writer.batches for k in b) == sorted(
        f"k{n}" for n in range(BATCHES_IN_FLIGHT + 300)
    )
    # each batch is counted, with its size, in pricing_claim_batch_size
    count, total = batches_written()
    assert (count - seen_before[0], total - seen_before[1]) == (
        len(writer.batches),
        BATCHES_IN_FLIGHT + 300,
    )


async def test_one_customer_is_never_twice_in_a_batch_and_each_learns_its_own_count() -> None:
    writer = Writer(refuse={"late"})
    batches = _ClaimBatches(writer)
    blockers = [
        asyncio.ensure_future(batches.add(claim(100 + n), None)) for n in range(BATCHES_IN_FLIGHT)
    ]
    await settle()
    same = [asyncio.ensure_future(batches.add(claim(n, customer="twice"), 5)) for n in range(3)]
    other = asyncio.ensure_future(batches.add(claim(9, customer="late"), 1))
    await settle()
    writer.release.set()
    assert await asyncio.gather(*same) == [True, True, True]
    assert await other is False  # the writer did not count it: the customer is at the limit
    await asyncio.gather(*blockers)
    for batch in writer.batches:
        customers = [k for k in batch if k in {"k0", "k1", "k2"}]
        assert len(customers) <= 1, batch


async def test_a_failed_batch_fails_each_of_its_claims_and_the_next_ones_still_go() -> None:
    writer = Writer()
    writer.fail = Unavailable("the database did not answer")
    batches = _ClaimBatches(writer)
    waiting = [asyncio.ensure_future(batches.add(claim(n), None)) for n in range(10)]
    await settle()
    writer.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    writer.fail = None
    assert await batches.add(claim(50), None) is True


async def test_a_cancelled_claim_waiting_for_its_batch_is_left_out() -> None:
    writer = Writer()
    batches = _ClaimBatches(writer)
    blockers = [
        asyncio.ensure_future(batches.add(claim(100 + n), None)) for n in range(BATCHES_IN_FLIGHT)
    ]
    await settle()
    gone = asyncio.ensure_future(batches.add(claim(1), None))
    kept = asyncio.ensure_future(batches.add(claim(2), None))
    await settle()
    gone.cancel()
    writer.release.set()
    assert await kept is True
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.gather(*blockers)
    assert "k1" not in [k for b in writer.batches for k in b]
