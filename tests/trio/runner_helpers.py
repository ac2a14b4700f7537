"""A real `TaskRunner` with a real store and reporter, fed `AssignTasks` items by hand.

Only the server is absent: items are built as the server builds them and reports are read
from the reporter's queue.
"""

from __future__ import annotations

from typing import Any

import trio

from rain.common.attributes import ObjectSpec
from rain.common.ids import ID
from rain.common.rows import FinishedTask
from rain.core.governor.reports import Reporter
from rain.core.governor.runner import TaskRunner
from rain.core.governor.store import ObjectStore
from rain.core.protocol.auth import Credentials, new_key
from rain.plugins.api import TaskType

CREDS = Credentials(new_key())  # the cluster key of the runner and of the peers tests start


def item(task_id: int, kind: str, inputs: list[Any], config: Any = None, name: str | None = None,
         session_id: int = 1, cpus: int = 1) -> list[Any]:
    """One AssignTasks item: the task's row, its input records, one output (id task_id + 1000)."""
    refs = [x for oid in inputs for x in (oid if isinstance(oid, int) else oid[0][0], None)]
    row = [task_id, kind, config, refs, [task_id + 1000], cpus, name or f"t{task_id}", None]
    return [session_id, row, inputs, [[task_id + 1000, "", None, "blob", None]]]


def constant(oid: int, data: bytes, session_id: int = 1) -> list[Any]:
    """An input sent with its data, as the server sends a constant a governor does not have."""
    return [ObjectSpec(ID(session_id, oid), "").to_row(), {}, None, data]


def reported(reporter: Reporter) -> list[tuple[bool, Any]]:
    """Every report queued so far, without waiting: (finished?, row)."""
    return [(isinstance(row, FinishedTask), row) for row in reporter.take_queued()]


async def next_report(reporter: Reporter) -> tuple[bool, Any]:
    with trio.fail_after(5):
        await reporter.wait_queued()
    [row] = reporter.take_queued(1)
    return isinstance(row, FinishedTask), row


def make_runner(tmp_path: Any, nursery: trio.Nursery, task_types: list[TaskType],
                cpus: int = 1) -> tuple[TaskRunner, ObjectStore, Reporter]:
    store = ObjectStore(str(tmp_path))
    reporter = Reporter()
    runner = TaskRunner(nursery, store, {t.task_type: t for t in task_types}, reporter, "g1", cpus, CREDS)
    return runner, store, reporter


def session_objects(store: ObjectStore, session_id: int) -> list[ID]:
    return sorted(oid for oid in store.objects if oid.session_id == session_id)
