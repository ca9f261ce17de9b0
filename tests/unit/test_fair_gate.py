"""``FairGate``: the database pool's callers in the order they came."""

from __future__ import annotations

import asyncio

import pytest

from app.storage.fair_gate import FairGate


async def test_permits_go_to_the_waiters_in_the_order_they_came() -> None:
    gate = FairGate(1)
    await gate.acquire()
    order: list[int] = []

    async def waiter(n: int) -> None:
        async with gate.held():
            order.append(n)
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(waiter(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert gate.waiting == 5
    gate.release()
    # a latecomer asking while the permit is being handed over waits its turn
    late = asyncio.create_task(waiter(99))
    await asyncio.gather(*tasks, late)
    assert order == [0, 1, 2, 3, 4, 99]
    await gate.acquire()  # every permit came back
    assert gate.waiting == 0


async def test_a_waiter_cancelled_while_waiting_leaves_the_queue() -> None:
    gate = FairGate(1)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    assert first.cancelled()
    gate.release()
    await asyncio.wait_for(second, 1)  # the permit skipped the cancelled waiter


async def test_a_waiter_cancelled_as_it_is_handed_a_permit_passes_it_on() -> None:
    gate = FairGate(1)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # handed to the first waiter...
    first.cancel()  # ...which is cancelled (its deadline) before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the permit was not lost
    gate.release()
    await asyncio.wait_for(gate.acquire(), 1)


def test_a_gate_needs_a_permit() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FairGate(0)
