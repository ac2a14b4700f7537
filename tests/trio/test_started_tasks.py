"""Task types with `start` in the governor's runner: a task whose inputs are here waits for
its CPUs without a trio task, is started synchronously when it gets them, and ends when its
`done` is called; cancelling it calls its `cancel` and ends it at once."""

from __future__ import annotations

import attrs
import trio
import trio.testing

from rain.common.ids import ID
from rain.plugins.api import TaskError, TaskType, task_type
from tests.trio.runner_helpers import constant, item, make_runner, next_report, reported


@attrs.define
class Worker:
    """Stands in for a pool of worker processes: remembers each started run until a test ends it."""

    runs: dict[str, tuple] = attrs.Factory(dict)  # task name -> (ctx, done)
    cancelled: list[str] = attrs.Factory(list)
    refuse: bool = False  # no idle worker: `start` returns None

    def start(self, ctx, done):
        if ctx.config == "bad":
            raise TaskError("refused at start")
        if ctx.config == "at once":  # answered before `start` returns
            done([ctx.blob(b"now")], None)
            return lambda: self.cancelled.append("at once")
        if self.refuse:
            return None
        name = ctx.spec.name
        self.runs[name] = (ctx, done)
        return lambda: self.cancelled.append(name)

    def finish(self, name: str, data: bytes) -> None:
        ctx, done = self.runs.pop(name)
        done([ctx.blob(data + ctx.inputs[0].get_bytes())], None)

    def fail(self, name: str, exc: Exception) -> None:
        _ctx, done = self.runs.pop(name)
        done(None, exc)


async def awaited_run(ctx):
    return [ctx.blob(b"awaited")]


@task_type("test/hold")
async def hold(ctx):
    await trio.sleep(ctx.config)
    return [ctx.blob(b"held")]


def setup(tmp_path, nursery, cpus=1):
    worker = Worker()
    started = TaskType("test/worker", awaited_run, start=worker.start)
    runner, store, reporter = make_runner(tmp_path, nursery, [started, hold], cpus=cpus)
    spawned = []
    spawn = runner._spawn
    runner._spawn = lambda task, granted=False: (spawned.append(task.spec.name), spawn(task, granted))
    return runner, store, reporter, worker, spawned


async def test_started_task_ends_when_done_is_called(tmp_path, nursery):
    runner, store, reporter, worker, spawned = setup(tmp_path, nursery)
    runner.start(item(1, "test/worker", [constant(7, b"-in")], name="a"))
    assert list(worker.runs) == ["a"] and spawned == []  # started within start(), no trio task
    runner.start(item(2, "test/worker", [7], name="b"))
    assert list(worker.runs) == ["a"]  # the only CPU is taken
    worker.finish("a", b"A")
    assert list(worker.runs) == ["b"]  # its CPU went to the next one at once
    worker.finish("b", b"B")
    assert [(ok, body.task_id) for ok, body in reported(reporter)] == [(True, 1), (True, 2)]
    assert [store.get(ID(1, oid)).data for oid in (1001, 1002)] == [b"A-in", b"B-in"]
    assert runner.state.free_cpus == 1 and runner.state.tasks == {}
    assert spawned == []


async def test_started_task_failure_and_error_at_start(tmp_path, nursery):
    runner, _store, reporter, worker, _spawned = setup(tmp_path, nursery)
    runner.start(item(1, "test/worker", [constant(7, b"x")], name="a"))
    worker.fail("a", TaskError("the worker says no"))
    runner.start(item(2, "test/worker", [7], name="b"))
    try:
        raise RuntimeError("unexpected")
    except RuntimeError as exc:  # as a worker's completion catches a bug of its own
        worker.fail("b", exc)
    runner.start(item(3, "test/worker", [7], config="bad", name="c"))
    reports = reported(reporter)
    assert [(ok, body.task_id, body.info["error"]) for ok, body in reports] == [
        (False, 1, "the worker says no"), (False, 2, "RuntimeError: unexpected"), (False, 3, "refused at start")]
    assert "Traceback" in reports[1][1].info["debug"] and "test_started_tasks.py" in reports[1][1].info["debug"]
    assert runner.state.free_cpus == 1 and runner.state.tasks == {}


async def test_cancelled_started_task_ends_at_once_and_its_late_done_is_ignored(tmp_path, nursery):
    runner, _store, reporter, worker, _spawned = setup(tmp_path, nursery)
    runner.start(item(1, "test/worker", [constant(7, b"x")], name="a", session_id=1))
    ctx, done = worker.runs["a"]
    runner.drop_session(1)
    assert worker.cancelled == ["a"]
    [(ok, body)] = reported(reporter)
    assert not ok and body.info["error"] == "cancelled"
    assert runner.state.free_cpus == 1 and runner.state.tasks == {}
    done([ctx.blob(b"too late")], None)  # a worker that answered anyway: nobody hears it
    assert reported(reporter) == []


async def test_task_cancelled_while_waiting_for_cpus_is_never_started(tmp_path, nursery):
    runner, _store, reporter, worker, spawned = setup(tmp_path, nursery)
    runner.start(item(1, "test/worker", [constant(7, b"x", session_id=2)], name="a", session_id=2))
    runner.start(item(2, "test/worker", [constant(7, b"x")], name="b", session_id=1))
    runner.drop_session(1)
    [(ok, body)] = reported(reporter)
    assert (ok, body.task_id, body.info["error"]) == (False, 2, "cancelled")
    worker.finish("a", b"A")
    assert list(worker.runs) == [] and worker.cancelled == [] and spawned == []
    assert [(ok, body.task_id) for ok, body in reported(reporter)] == [(True, 1)]


async def test_task_the_type_cannot_start_now_is_awaited(tmp_path, nursery):
    runner, _store, reporter, worker, spawned = setup(tmp_path, nursery)
    worker.refuse = True
    runner.start(item(1, "test/worker", [constant(7, b"x")], name="a"))
    ok, _body = await next_report(reporter)
    assert ok and spawned == ["a"] and worker.runs == {}
    assert runner.state.free_cpus == 1


async def test_task_with_an_input_to_fetch_gets_a_trio_task(tmp_path, nursery):
    runner, _store, reporter, worker, spawned = setup(tmp_path, nursery)
    runner.start(item(1, "test/worker", [8], name="missing"))  # not stored here
    ok, body = await next_report(reporter)
    assert not ok and "should be on this governor" in body.info["error"]
    assert spawned == ["missing"] and worker.runs == {}


async def test_queued_task_waits_without_a_trio_task(tmp_path, nursery, autojump_clock):
    runner, _store, reporter, worker, spawned = setup(tmp_path, nursery)
    runner.start(item(1, "test/hold", [], config=1.0, name="first"))
    await trio.testing.wait_all_tasks_blocked()
    runner.start(item(2, "test/worker", [constant(7, b"x")], name="queued"))
    assert spawned == ["first"] and worker.runs == {}  # its inputs are here: it waits without a task
    await trio.sleep(1.0)
    assert (await next_report(reporter))[1].task_id == 1
    assert list(worker.runs) == ["queued"]  # granted when the hold ended
    worker.finish("queued", b"Q")
    assert (await next_report(reporter))[0]


async def test_done_called_within_start_ends_the_task(tmp_path, nursery):
    runner, store, reporter, worker, spawned = setup(tmp_path, nursery)
    runner.start(item(1, "test/worker", [constant(7, b"x")], config="at once"))
    [(ok, body)] = reported(reporter)
    assert ok and body.task_id == 1 and store.get(ID(1, 1001)).data == b"now"
    assert runner.state.free_cpus == 1 and runner.state.tasks == {} and spawned == []
    runner.drop_session(1)
    assert worker.cancelled == []  # nothing left to cancel
