"""Inline task types in the governor's runner: run at once when they can, queued when not."""

from __future__ import annotations

import threading

import trio
import trio.testing

from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.ids import ID
from rain.core.governor.store import MEMORY_LIMIT
from rain.plugins.api import TaskError, task_type
from tests.trio.runner_helpers import constant, item, make_runner, next_report, reported

calls: list[str] = []
in_main_thread: list[bool] = []


@task_type("test/upper", inline=True)
def upper(ctx):
    calls.append(ctx.spec.name)
    in_main_thread.append(threading.current_thread() is threading.main_thread())
    if ctx.config == "task-error":
        raise TaskError("refused on purpose")
    if ctx.config == "crash":
        raise RuntimeError("crashed on purpose")
    return [ctx.blob(ctx.inputs[0].get_bytes().upper())]


@task_type("test/hold")
async def hold(ctx):
    await trio.sleep(ctx.config)
    return [ctx.blob(b"held")]


TYPES = [upper, hold]


async def test_inline_task_runs_within_start(tmp_path, nursery):
    runner, store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/upper", [constant(7, b"abc")]))
    # no checkpoint in between: the task finished and was reported inside start()
    assert in_main_thread[-1]
    [(ok, (session_id, task_id, _info, outputs))] = reported(reporter)
    assert (ok, session_id, task_id) == (True, 1, 1)
    assert store.get(ID(1, 1001)).data == b"ABC"
    assert outputs[0][0] == 1001
    assert runner.state.tasks == {}
    runner.start(item(2, "test/upper", [7]))  # the constant is now stored: the id is enough
    assert [r[1].task_id for r in reported(reporter)] == [2]


async def test_inline_task_waits_its_turn_behind_busy_cpus(tmp_path, nursery, autojump_clock):
    runner, _store, reporter = make_runner(tmp_path, nursery, TYPES)
    calls.clear()
    runner.start(item(1, "test/hold", [], config=1.0))
    await trio.testing.wait_all_tasks_blocked()
    runner.start(item(2, "test/upper", [constant(7, b"x")], name="queued"))
    assert reported(reporter) == [] and calls == []  # the only CPU is taken: no overbooking
    assert (await next_report(reporter))[1].task_id == 1  # FIFO: the holder first
    assert (await next_report(reporter))[1].task_id == 2
    assert calls == ["queued"] and trio.current_time() >= 1.0


async def test_inline_failures_are_reported_like_any_task(tmp_path, nursery):
    runner, store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/upper", [constant(7, b"x")], config="task-error"))
    runner.start(item(2, "test/upper", [constant(7, b"x")], config="crash"))
    (ok1, failed1), (ok2, failed2) = reported(reporter)
    assert not ok1 and failed1.info["error"] == "refused on purpose"
    assert not ok2 and failed2.info["error"] == "RuntimeError: crashed on purpose"
    assert "Traceback" in failed2.info["debug"]
    assert store.get(ID(1, 1001)) is None and store.get(ID(1, 1002)) is None
    runner.start(item(3, "test/upper", [constant(7, b"x")]))  # the CPU was given back
    assert reported(reporter)[0][0] is True


async def test_inline_task_with_missing_input_fails_on_the_async_path(tmp_path, nursery):
    runner, _store, reporter = make_runner(tmp_path, nursery, TYPES)
    runner.start(item(1, "test/upper", [99]))
    assert reported(reporter) == []
    ok, failed = await next_report(reporter)
    assert not ok and "should be on this governor" in failed.info["error"]


async def test_inline_task_with_a_file_input_runs_in_a_worker_thread(tmp_path, nursery):
    runner, store, reporter = make_runner(tmp_path, nursery, TYPES)
    big = b"abc" * (MEMORY_LIMIT // 3 + 1)
    stored = store.put_bytes(ObjectSpec(ID(1, 7), ""), ObjectInfo(), big)
    assert stored.path is not None  # too big for memory: a file in the store
    calls.clear()
    in_main_thread.clear()
    runner.start(item(1, "test/upper", [7], name="big"))
    assert reported(reporter) == []  # not run inline: reading the file could block the governor
    ok, (_sid, _tid, _info, _outputs) = await next_report(reporter)
    assert ok and calls == ["big"] and in_main_thread == [False]
    assert store.get(ID(1, 1001)).instance().get_bytes() == big.upper()
