"""What a failed run tells the server about the inputs it left on the governor: the server makes
the governor their holder, so they are deleted there once nothing needs them (a retry may run
elsewhere)."""

from __future__ import annotations

import socket

from rain.common.attributes import ObjectSpec
from rain.common.ids import ID
from rain.plugins.api import TaskError, task_type
from tests.trio.runner_helpers import constant, item, make_runner, next_report


@task_type("test/refuse", inline=True)
def refuse(ctx):
    raise TaskError("refused")


def unused_address() -> str:
    """A loopback port nobody listens on: a fetch from it is refused at once."""
    with socket.socket() as sock:  # not a trio socket: its bind is a coroutine, never awaited here
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


async def test_a_fetch_failure_reports_the_inputs_already_here(tmp_path, nursery):
    runner, store, reporter = make_runner(tmp_path, nursery, [refuse])
    unreachable = [ObjectSpec(ID(1, 8), "").to_row(), {}, unused_address(), None]
    runner.start(item(1, "test/refuse", [constant(7, b"seven"), unreachable]))
    ok, report = await next_report(reporter)
    assert not ok and report.info["input_unavailable"] == unreachable[2]
    assert report.info["inputs_here"] == [7] and store.get(ID(1, 7)) is not None


async def test_a_task_error_reports_all_its_inputs(tmp_path, nursery):
    runner, store, reporter = make_runner(tmp_path, nursery, [refuse])
    runner.start(item(1, "test/refuse", [constant(7, b"seven"), constant(9, b"nine")]))
    ok, report = await next_report(reporter)
    assert not ok and report.info["error"] == "refused" and report.info["inputs_here"] == [7, 9]
    assert all(store.get(ID(1, oid)) is not None for oid in (7, 9))


async def test_a_task_failing_before_any_input_reports_none(tmp_path, nursery):
    runner, _store, reporter = make_runner(tmp_path, nursery, [refuse])
    runner.start(item(1, "test/refuse", []))
    ok, report = await next_report(reporter)
    assert not ok and "inputs_here" not in report.info
