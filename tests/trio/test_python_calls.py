"""`py/call` in a real runner with real executors: calls whose inputs are here are sent to an
idle executor without a trio task of their own, and the executor's reply reader ends them; a
crash is reported as one, and cancelling a running call kills its executor at once."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import time

import cloudpickle
import trio
import trio.testing

from rain.plugins.python.pool import get_pool
from rain.plugins.python.task import PYTHON_CALL
from tests.trio.runner_helpers import constant, make_runner, next_report, reported

FN = 5  # the object id of the function


def call(task_id: int, fn_input: object, arg: object, session_id: int = 1) -> list:
    """An AssignTasks item of a `@remote` function of one argument `x`, as a client submits it."""
    config = {"args": {"x": pickle.dumps(arg)}, "inputs": {}, "encode": [None]}
    row = [task_id, "py/call", config, [FN, "fn"], [task_id + 1000], 1, f"call{task_id}", None]
    return [session_id, row, [fn_input], [[task_id + 1000, "out0", None, "blob", None]]]


def function(fn, session_id: int = 1) -> list:
    return constant(FN, cloudpickle.dumps(fn), session_id)


def setup(tmp_path, nursery, cpus=1):
    runner, store, reporter = make_runner(tmp_path, nursery, [PYTHON_CALL], cpus=cpus)
    spawned = []
    spawn = runner._spawn
    runner._spawn = lambda task, granted=False: (spawned.append(task.spec.id.id), spawn(task, granted))
    return runner, store, reporter, spawned


async def test_calls_are_sent_without_a_task_each(tmp_path, nursery):
    runner, store, reporter, spawned = setup(tmp_path, nursery)
    pool = get_pool()
    pool.release(await pool.acquire())  # one idle executor
    runner.start(call(1, function(lambda ctx, x: f"{x}:{os.getpid()}".encode()), 1))
    for i in range(2, 6):
        runner.start(call(i, FN, i))  # queued behind the first: started when it ends
    results = [await next_report(reporter) for _ in range(5)]
    assert [(ok, body.task_id) for ok, body in results] == [(True, i) for i in range(1, 6)]
    data = [store.objects[(1, 1000 + i)].data.decode().split(":") for i in range(1, 6)]
    assert [int(x) for x, _pid in data] == [1, 2, 3, 4, 5]
    assert len({pid for _x, pid in data}) == 1  # one warm executor ran them all
    assert spawned == []
    assert runner.state.free_cpus == 1


async def test_call_without_an_idle_executor_waits_for_one(tmp_path, nursery):
    runner, _store, reporter, spawned = setup(tmp_path, nursery, cpus=2)
    runner.start(call(1, function(lambda ctx, x: b"ok"), 1))
    runner.start(call(2, FN, 2))
    assert [(await next_report(reporter))[0] for _ in range(2)] == [True, True]
    assert spawned  # a fresh governor has no executor to send to: these await one


async def test_crash_during_a_call_is_reported_as_a_crash(tmp_path, nursery):
    runner, _store, reporter, _spawned = setup(tmp_path, nursery)
    pool = get_pool()
    pool.release(await pool.acquire())
    runner.start(call(1, function(lambda ctx, x: os._exit(x)), 3))
    ok, body = await next_report(reporter)
    assert not ok and body.info.get("crashed") is True
    assert "exited with code 3" in body.info["error"]
    assert runner.state.free_cpus == 1


async def test_cancelling_a_running_call_kills_its_executor(tmp_path, nursery):
    runner, _store, reporter, spawned = setup(tmp_path, nursery)
    pool = get_pool()
    executor = await pool.acquire()
    pool.release(executor)
    marker = tmp_path / "running"

    def nap(ctx, x):
        open(x, "w").close()
        time.sleep(30)
        return b"rested"

    runner.start(call(1, function(nap), str(marker)))
    assert spawned == []
    with trio.fail_after(20):
        while not marker.exists():  # the function has started
            assert reported(reporter) == []
            await trio.sleep(0.01)
    runner.drop_session(1)
    [(ok, body)] = reported(reporter)  # ended at once, within the drop
    assert not ok and body.info["error"] == "cancelled"
    assert runner.state.free_cpus == 1 and not executor.alive
    with trio.fail_after(5):
        assert await executor.process.wait() < 0  # killed by a signal


async def test_a_call_larger_than_the_socket_buffer_is_sent_whole(tmp_path, nursery):
    runner, store, reporter, spawned = setup(tmp_path, nursery)
    pool = get_pool()
    executor = await pool.acquire()
    pool.release(executor)
    buffered = executor.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    ballast = os.urandom(4 * buffered)  # the pickled function carries it: the frame cannot go at once
    rests = []
    send_rest = executor._send_rest

    async def counted(view):
        rests.append(len(view))
        await send_rest(view)

    executor._send_rest = counted
    runner.start(call(1, function(lambda ctx, x: str(len(ballast) + x).encode()), 1))
    ok, _body = await next_report(reporter)
    assert ok and spawned == [] and len(rests) == 1  # the rest went on in the background
    assert store.objects[(1, 1001)].data == str(len(ballast) + 1).encode()


async def test_debug_lines_user_info_and_errors_come_back_from_a_sent_call(tmp_path, nursery):
    runner, _store, reporter, spawned = setup(tmp_path, nursery)
    pool = get_pool()
    pool.release(await pool.acquire())

    def chatty(ctx, x):
        ctx.debug("got {}", x)
        ctx.info.user["seen"] = x
        if x == 2:
            raise ValueError("two is right out")
        return b"fine"

    runner.start(call(1, function(chatty), 1))
    runner.start(call(2, FN, 2))
    (ok1, first), (ok2, second) = [await next_report(reporter) for _ in range(2)]
    assert ok1 and first.info["debug"] == "got 1" and first.info["user"] == {"seen": 1}
    assert not ok2 and second.info["user"] == {"seen": 2} and second.info["debug"] == "got 2"
    error = second.info["error"]
    assert error.startswith("ValueError: two is right out") and "in chatty" in error and "Traceback" in error
    assert spawned == []


async def test_an_executor_killed_while_idle_is_not_sent_calls(tmp_path, nursery):
    runner, _store, reporter, _spawned = setup(tmp_path, nursery)
    pool = get_pool()
    executor = await pool.acquire()
    pool.release(executor)
    os.kill(executor.pid, signal.SIGKILL)  # by someone else, between two calls
    with trio.fail_after(10):
        await executor.process.wait()
        await trio.testing.wait_all_tasks_blocked()  # its reply reader has seen the socket close
    assert not executor.alive
    runner.start(call(1, function(lambda ctx, x: str(os.getpid()).encode()), 1))
    ok, body = await next_report(reporter)
    assert ok, body.info
    assert executor not in pool.idle and executor not in pool.all
