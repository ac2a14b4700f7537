"""A restarted server: its state rebuilt from the journal, then completed by the governors.

`restore` replays the journal's items through the same `Server` methods that handled them
live (opening sessions, applying submits, unkeeping, failing, closing), so the restore path is
exercised by every live run. Task finishes, a million for a large session, are replayed a run
at a time (`bulk_finish`), to the state `Server.finish_task` reaches one by one (compared by
the unit tests). Replayed objects have no holders: the governors that come back report what
they hold (`adopt_inventory`), and until the governors the journal knew are all back (or the
grace time is over) nothing is scheduled. Then `rerun_lost_outputs` has what no governor holds
recomputed from lineage, like the objects of a lost governor (`recovery.recover_objects`), and
scheduling resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from rain.common.ids import ID
from rain.common.states import DataObjectState, TaskState
from rain.core.protocol import messages as m
from rain.core.protocol.codec import decode
from rain.core.protocol.framing import ProtocolError
from rain.core.server.bulk_finish import finish_replayed
from rain.core.server.recovery import recover_objects

if TYPE_CHECKING:
    from rain.core.server.server import Server
    from rain.core.server.state import GovernorState, TaskNode

logger = logging.getLogger(__name__)
FINISHED = DataObjectState.finished
UNFINISHED = DataObjectState.unfinished
WAITING = (TaskState.not_assigned, TaskState.ready)


def restore(server: Server, items: list[list[Any]]) -> None:
    """Replays journal items; one that cannot be applied is skipped with a warning."""
    from rain.core.server.server import RequestError

    journal, server.journal = server.journal, None  # replayed items are already in the file
    expected: set[str] = set()
    server.restoring = expected
    try:
        for n, item in _with_finishes_merged(items):
            try:
                _replay(server, item, expected, n)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, RequestError) as exc:
                logger.warning("journal item %d (%r) skipped: %s", n, item[0], exc)
    finally:
        server.journal = journal
    server.restoring = expected
    logger.info("restored %d sessions from the journal; waiting for governors %s", len(server.sessions),
                ", ".join(sorted(expected)) or "(none)")


def _with_finishes_merged(items: list[list[Any]]) -> Iterator[tuple[int, list[Any]]]:
    """The items with their index, each run of single "finished" items of one session (as
    older journals and `Server.finish_task` write them) merged into one "finished_tasks" item."""
    run: list[Any] | None = None
    first = 0
    for n, item in enumerate(items):
        if item[0] == "finished" and len(item) == 4:
            if run is None or run[1] != item[1]:
                if run is not None:
                    yield first, run
                first, run = n, ["finished_tasks", item[1], [], []]
            run[2].append(item[2])
            run[3].append(item[3])
            continue
        if run is not None:
            yield first, run
            run = None
        yield n, item
    if run is not None:
        yield first, run


def _replay(server: Server, item: list[Any], expected: set[str], n: int) -> None:
    kind, sid = item[0], item[1]
    if kind == "session":
        server._open_session(sid, item[2], None, bool(item[3]))
        return
    if kind == "governor":
        expected.add(item[2])
        return
    if kind == "governor_lost":
        expected.discard(item[2])
        return
    if kind == "next_session":
        server._next_session_id = max(server._next_session_id, item[2])
        return
    session = server.sessions[sid]
    if kind == "submit":
        server._apply_submit(session, item[2], item[3])
    elif kind == "submit_frame":
        submit = _submit_message(item[2])
        server._apply_submit(session, submit.tasks, submit.objects)
    elif kind == "finished_tasks":
        for problem in finish_replayed(server, session, item[2], item[3]):
            logger.warning("journal item %d (finished task) skipped: %s", n, problem)
    elif kind == "unkeep":
        server.unkeep(session, [ID.from_wire(i) for i in item[2]])
    elif kind == "failed":
        server.fail_session(session, item[2])
        session.failed_task = item[3]
    elif kind == "close":
        server.close_session(session)
    elif kind == "finished":
        raise ValueError("malformed finished item")
    else:
        raise ValueError(f"unknown journal item kind {kind!r}")


def _submit_message(frame: bytes) -> m.Submit:
    try:
        msg = decode(frame)
    except ProtocolError as exc:
        raise ValueError(f"bad submit frame: {exc}") from None
    if not isinstance(msg, m.Submit):
        raise ValueError(f"a {type(msg).__name__} message instead of a submit")
    return msg


def governor_back(server: Server, gov: GovernorState) -> None:
    """Ends the restore once every governor the journal knew is registered again."""
    if server.restoring is None:
        return
    server.restoring.discard(gov.id)
    if not server.restoring:
        end_restore(server)


def end_restore(server: Server) -> None:
    if server.restoring is None:
        return
    if server.restoring:
        logger.warning("governors %s did not come back; what only they held is computed again",
                       ", ".join(sorted(server.restoring)))
    server.restoring = None
    rerun_lost_outputs(server)
    server.schedule()
    pending, server.after_restore = server.after_restore, []
    for link, request_id, handler in pending:
        _answer_later(link, request_id, handler)


def _answer_later(link: Any, request_id: int, handler: Callable[[], None]) -> None:
    """Runs a request put off until the restore was over; a refusal now is sent to its client."""
    from rain.core.server.server import RequestError

    try:
        handler()
    except RequestError as exc:
        link.send(m.Error(request_id, str(exc), exc.category.value, exc.task_id))


def close_unclaimed(server: Server) -> None:
    """Closes the restored sessions no client came back for, as if their client had left now."""
    for session in [s for s in server.sessions.values() if s.client is None and not s.keep_alive]:
        server.close_session(session, "closed because its client did not come back after the server restarted")


def adopt_inventory(server: Server, gov: GovernorState, objects: Iterable[Any], tasks: Iterable[Any]) -> None:
    """A governor registering again reports its objects ([session, id, info]) and the tasks it
    still runs or has results for ([session, id]): the server keeps what it still needs, takes
    the tasks as assigned there and tells the governor to delete the rest."""
    adopted_outputs: set[ID] = set()
    for sid, tid in tasks:
        session = server.sessions.get(sid)
        task = session.tasks.get(tid) if session is not None and session.alive else None
        if task is None:
            if session is None:
                gov.link.drop_session(sid)
            continue
        if task.state in WAITING:
            task.state = TaskState.assigned
            task.governor = gov
            gov.free_cpus -= task.cpus
            gov.running[task.full_id] = task
            adopted_outputs.update(o.full_id for o in task.outputs)
    unjournaled: dict[ID, Any] = {}
    for sid, oid, info in objects:
        full_id = ID(sid, oid)
        session = server.sessions.get(sid)
        obj = session.objects.get(oid) if session is not None and session.alive else None
        if obj is not None and obj.state is FINISHED and obj.data is None:
            obj.add_holder(gov.id)
            gov.objects.add(full_id)
        elif obj is not None and obj.state is UNFINISHED and full_id not in adopted_outputs:
            unjournaled[full_id] = info
        elif full_id not in adopted_outputs:
            gov.link.delete(full_id)
    if unjournaled:
        _finish_unjournaled(server, gov, unjournaled)


def _finish_unjournaled(server: Server, gov: GovernorState, outputs: dict[ID, Any]) -> None:
    """Outputs of tasks that finished on `gov` while their report or its journal record was
    lost with the server: a task whose outputs are all here is finished as if reported now;
    the other objects are deleted (their tasks run again)."""
    producers: dict[ID, TaskNode] = {}
    for sid in {i.session_id for i in outputs}:
        for waiting in server.sessions[sid].tasks.values():
            if waiting.state in WAITING:
                producers.update((o.full_id, waiting) for o in waiting.outputs)
    for full_id in list(outputs):
        if full_id not in outputs:
            continue  # finished with an earlier output of its task
        task = producers.get(full_id)
        if task is None or not all(o.full_id in outputs for o in task.outputs):
            del outputs[full_id]
            gov.link.delete(full_id)
            continue
        server.finish_task(task, [[o.id, outputs.pop(o.full_id)] for o in task.outputs], gov)


# --- recomputing what no governor holds -------------------------------------------------------


def rerun_lost_outputs(server: Server) -> None:
    """Objects finished before the restart that no returning governor holds are recomputed
    through the same lineage recovery as a lost governor's (`recovery.recover_objects`)."""
    lost = [obj for session in server.sessions.values() if session.alive
            for obj in session.objects.values() if obj.state is FINISHED and not obj.available]
    recover_objects(server, lost)
