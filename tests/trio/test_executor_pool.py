"""The governor's pool of Python executors under cancellation: a task cancelled before it
gets an executor takes none, and the pool's executors and bookkeeping stay as they were."""

from __future__ import annotations

import trio
import trio.testing

from rain.plugins.python.pool import get_pool


async def test_cancelled_before_it_starts_leaves_the_idle_executor_alone():
    pool = get_pool()
    executor = await pool.acquire()
    pool.release(executor)
    with trio.CancelScope() as scope:
        scope.cancel()
        await pool.acquire()
    assert scope.cancelled_caught
    assert executor in pool.idle and executor.alive and executor.process.poll() is None
    assert await pool.acquire() in (executor, *pool.idle)  # still usable


async def test_cancelled_while_waiting_for_a_warming_executor_leaves_no_claim():
    pool = get_pool()
    pool._ensure_spare()  # one executor starting, none idle
    assert pool._warming == 1 and not pool.idle
    with trio.CancelScope() as scope:
        scope.cancel()
        await pool.acquire()
    assert scope.cancelled_caught and pool._claims == 0 and pool._warming == 1
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.acquire)  # parks until the spare is warm
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert pool._claims == 0
    with trio.fail_after(30):
        executor = await pool.acquire()
    assert executor.alive
