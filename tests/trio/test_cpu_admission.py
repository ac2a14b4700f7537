"""The governor's CPU gate: FIFO admission, never overbooked, cancellation gives CPUs back."""

from __future__ import annotations

import trio
import trio.testing

from rain.core.governor.runner import CpuGate


async def test_admits_in_order_without_overbooking(autojump_clock):
    gate = CpuGate(3)
    in_use = []
    order = []

    async def job(name: str, cpus: int, seconds: float) -> None:
        await gate.acquire(cpus)
        in_use.append(cpus)
        order.append((name, trio.current_time()))
        assert sum(in_use) <= 3
        await trio.sleep(seconds)
        in_use.remove(cpus)
        gate.release(cpus)

    async with trio.open_nursery() as nursery:
        for name, cpus, seconds in [("a", 2, 1), ("b", 2, 1), ("c", 1, 1), ("d", 3, 1)]:
            nursery.start_soon(job, name, cpus, seconds)
            await trio.testing.wait_all_tasks_blocked()
    # b waits for a (FIFO: c does not overtake b even though it would fit), then d waits for both
    assert dict(order) == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert gate.free == 3


async def test_cancelled_waiter_leaves_the_queue(autojump_clock):
    gate = CpuGate(1)
    await gate.acquire(1)
    with trio.move_on_after(1):
        await gate.acquire(1)
    got = []

    async def later() -> None:
        await gate.acquire(1)
        got.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        await trio.sleep(2)
        gate.release(1)
    assert got == [3]
    assert gate.free == 0


async def test_acquire_in_a_cancelled_scope_takes_nothing():
    """A task cancelled before it reaches the gate (its session closed right after the
    assignment) must not keep the CPUs it never used."""
    gate = CpuGate(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await gate.acquire(1)
    assert scope.cancelled_caught and gate.free == 1
    await gate.acquire(1)  # free for the next task at once
    assert gate.free == 0
