"""Cancellation in the governor's runner: at every point a task can be cancelled, the CPUs it
took come back, it is reported exactly once, and nothing of a dropped session stays stored.

"In one read" below means: the messages are handled back to back with no checkpoint between
them, as the governor does with frames that arrived together (the server batches its pushes,
so `AssignTasks` followed by `DropSession` in one read is common).
"""

from __future__ import annotations

import functools
import os
import threading

import trio
import trio.testing

from rain.common.attributes import ObjectSpec
from rain.common.ids import ID
from rain.core.governor.store import MEMORY_LIMIT
from rain.core.protocol import messages as m
from rain.core.protocol.stream import MessageStream, accept_handshake
from rain.plugins.api import task_type
from tests.trio.runner_helpers import CREDS, constant, item, make_runner, next_report, reported, session_objects


@task_type("test/hold")
async def hold(ctx):
    await trio.sleep(ctx.config)
    return [ctx.blob(b"held")]


@task_type("test/upper", inline=True)
def upper(ctx):
    return [ctx.blob(ctx.inputs[0].get_bytes().upper())]


TYPES = [hold, upper]


def failed_cancelled(report: tuple[bool, list], session_id: int, task_id: int) -> bool:
    ok, body = report
    return not ok and (body.session_id, body.task_id) == (session_id, task_id) and body.info["error"] == "cancelled"


async def test_task_dropped_in_the_read_that_assigned_it_takes_no_cpu(tmp_path, nursery, autojump_clock):
    runner, _store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/hold", [], config=1.0, session_id=1))
    runner.drop_session(1)  # in one read: the task has not reached its first checkpoint
    assert failed_cancelled(await next_report(reporter), 1, 1)
    runner.start(item(2, "test/hold", [], config=1.0, session_id=2))
    ok, body = await next_report(reporter)
    assert ok and (body.session_id, body.task_id) == (2, 2)
    assert trio.current_time() == 1.0  # it started at once: the only CPU was free


async def test_task_with_a_local_input_dropped_before_it_starts(tmp_path, nursery, autojump_clock):
    runner, store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/hold", [constant(7, b"x")], config=1.0, session_id=1))
    runner.drop_session(1)
    assert failed_cancelled(await next_report(reporter), 1, 1)
    assert session_objects(store, 1) == []
    runner.start(item(2, "test/hold", [], config=1.0, session_id=2))
    assert (await next_report(reporter))[0]
    assert trio.current_time() == 1.0


async def test_task_dropped_while_waiting_for_cpus_leaves_the_queue(tmp_path, nursery, autojump_clock):
    runner, _store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/hold", [], config=1.0, session_id=2))
    await trio.testing.wait_all_tasks_blocked()
    runner.start(item(2, "test/hold", [], config=1.0, session_id=1))
    runner.start(item(3, "test/upper", [constant(7, b"x", session_id=1)], session_id=1))  # queued too
    await trio.testing.wait_all_tasks_blocked()
    runner.drop_session(1)
    reports = sorted([await next_report(reporter), await next_report(reporter)], key=lambda r: r[1].task_id)
    assert failed_cancelled(reports[0], 1, 2) and failed_cancelled(reports[1], 1, 3)
    assert trio.current_time() == 0  # at once, not when the CPU frees
    runner.start(item(4, "test/hold", [], config=1.0, session_id=2))
    assert [(await next_report(reporter))[1].task_id for _ in range(2)] == [1, 4]
    assert trio.current_time() == 2.0  # 4 waited only for 1, not for the dropped tasks


async def test_inline_task_in_the_read_before_its_drop_runs_and_is_deleted(tmp_path, nursery):
    runner, store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/upper", [constant(7, b"x")], session_id=1))
    runner.drop_session(1)
    [(ok, body)] = reported(reporter)
    assert ok and (body.session_id, body.task_id) == (1, 1)  # it ran inline, inside start()
    assert session_objects(store, 1) == []
    runner.start(item(2, "test/upper", [constant(7, b"y", session_id=2)], session_id=2))
    [(ok, body)] = reported(reporter)  # the CPU is free: inline again
    assert ok and (body.session_id, body.task_id) == (2, 2)


async def test_outputs_of_a_task_finishing_after_its_drop_are_deleted(tmp_path, nursery):
    """A thread that cannot be cancelled returns after DropSession: its outputs must not stay."""
    entered, release = threading.Event(), threading.Event()

    def block() -> None:
        entered.set()
        release.wait(10)

    @task_type("test/uncancellable")
    async def uncancellable(ctx):
        await ctx.run_sync(block, cancellable=False)
        return [ctx.blob(b"late")]

    runner, store, reporter = make_runner(tmp_path, nursery, [uncancellable])
    runner.start(item(1, "test/uncancellable", [], session_id=1))
    assert await trio.to_thread.run_sync(entered.wait, 10)
    runner.drop_session(1)
    release.set()
    assert failed_cancelled(await next_report(reporter), 1, 1)
    assert session_objects(store, 1) == []


async def test_outputs_of_an_inline_task_in_a_thread_finishing_after_its_drop_are_deleted(tmp_path, nursery):
    """An inline task with a file input runs in a worker thread, which cannot be cancelled."""
    entered, release = threading.Event(), threading.Event()

    @task_type("test/inline-block", inline=True)
    def inline_block(ctx):
        entered.set()
        release.wait(10)
        return [ctx.blob(ctx.inputs[0].get_bytes()[:3])]

    runner, store, reporter = make_runner(tmp_path, nursery, [inline_block])
    runner.start(item(1, "test/inline-block", [constant(7, b"x" * (MEMORY_LIMIT + 1))], session_id=1))
    assert await trio.to_thread.run_sync(entered.wait, 10)
    assert store.get(ID(1, 7)).path is not None  # too big for memory: a file, read in a thread
    runner.drop_session(1)
    release.set()
    assert failed_cancelled(await next_report(reporter), 1, 1)
    assert session_objects(store, 1) == []


async def test_task_dropped_while_fetching_an_input_frees_everything(tmp_path, nursery):
    """Real sockets and file writes in threads: no autojump clock (it would jump while they work)."""
    stalled = trio.Event()

    async def peer(stream: trio.abc.Stream) -> None:
        conn = MessageStream(stream, "stalling peer")
        await accept_handshake(conn, ("governor-data",), CREDS)
        await conn.receive()
        await conn.send(m.ObjectHeader("blob", 2 * MEMORY_LIMIT, {}))
        await conn.send(m.DataChunk(b"x" * (MEMORY_LIMIT + 1)))
        stalled.set()
        await trio.sleep_forever()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, peer, 0, host="127.0.0.1"))
    address = f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    runner, store, reporter = make_runner(tmp_path, nursery, TYPES)
    remote_input = [ObjectSpec(ID(1, 7), "").to_row(), {}, address, None]
    runner.start(item(1, "test/hold", [remote_input], config=1.0, session_id=1))
    await stalled.wait()
    await trio.testing.wait_all_tasks_blocked()
    runner.drop_session(1)
    assert failed_cancelled(await next_report(reporter), 1, 1)
    assert os.listdir(store.tmp_dir) == [] and store.objects == {}
    runner.start(item(2, "test/hold", [], config=0.0, session_id=2))
    assert (await next_report(reporter))[0]
    assert runner.state.free_cpus == 1 and runner.state.tasks == {}


async def test_running_task_dropped_gives_its_cpu_back(tmp_path, nursery, autojump_clock):
    runner, store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/hold", [], config=10.0, session_id=1))
    await trio.testing.wait_all_tasks_blocked()  # 1 has the CPU (trio starts tasks in any order)
    runner.start(item(2, "test/hold", [], config=1.0, session_id=2))  # waits for the CPU
    await trio.sleep(1)
    runner.drop_session(1)
    assert failed_cancelled(await next_report(reporter), 1, 1)
    ok, body = await next_report(reporter)
    assert ok and body.task_id == 2 and trio.current_time() == 2.0  # ran from the drop on
    assert session_objects(store, 1) == [] and runner.state.free_cpus == 1
