"""The governor admits tasks to its CPUs in arrival order and never overbooks them."""

from __future__ import annotations

import trio
import trio.testing

from rain.plugins.api import task_type
from tests.trio.runner_helpers import item, make_runner, next_report

in_use: list[int] = []
started: dict[str, float] = {}


@task_type("test/busy")
async def busy(ctx):
    in_use.append(ctx.cpus)
    started[ctx.spec.name] = trio.current_time()
    assert sum(in_use) <= 3
    await trio.sleep(ctx.config)
    in_use.remove(ctx.cpus)
    return [ctx.blob(b"")]


async def test_admits_in_order_without_overbooking(tmp_path, nursery, autojump_clock):
    runner, _store, reporter = make_runner(tmp_path, nursery, [busy], cpus=3)
    in_use.clear()
    started.clear()
    for task_id, (name, cpus) in enumerate([("a", 2), ("b", 2), ("c", 1), ("d", 3)], 1):
        runner.start(item(task_id, "test/busy", [], config=1.0, name=name, cpus=cpus))
        await trio.testing.wait_all_tasks_blocked()
    for _ in range(4):
        assert (await next_report(reporter))[0]
    # b waits for a (FIFO: c does not overtake b even though it would fit), then d waits for both
    assert started == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert runner.state.free_cpus == 3 and runner.state.tasks == {}


async def test_a_burst_of_tasks_granted_at_once_still_lets_others_run(tmp_path, nursery, autojump_clock):
    """A task given its CPUs without waiting yields once (shielded), as trio's locks do."""
    runner, _store, reporter = make_runner(tmp_path, nursery, [busy], cpus=3)
    in_use.clear()
    runner.start(item(1, "test/busy", [], config=0.0, name="first"))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    nursery.start_soon(ticker)
    assert (await next_report(reporter))[0]
    assert ticks > 0
