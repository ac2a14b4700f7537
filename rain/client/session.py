"""`Session`: a container for one task graph, and the stack of active sessions.

Tasks and objects are created "in the active session": the innermost `with session:` block (or
`bind_only()`), else the default session. The session keeps what is not yet submitted and sends
it as one `Submit` message.
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rain.client.connection import Deferred
from rain.common.errors import RainException, SessionException, TaskException
from rain.common.ids import ID
from rain.common.states import DataObjectState, TaskState
from rain.core.protocol import messages as m

if TYPE_CHECKING:
    from rain.client.attach import AttachedObjects
    from rain.client.client import Client
    from rain.client.data import DataObject
    from rain.client.remote import Remote
    from rain.client.task import Task
    from rain.common.data_instance import DataInstance

_session_stack: list[Session] = []
_Node = TypeVar("_Node")
_default_session: Session | None = None


def get_active_session() -> Session:
    """The innermost bound session, else the default one; `RainException` when there is none."""
    if _session_stack:
        return _session_stack[-1]
    if _default_session is not None and not _default_session.closed:
        return _default_session
    raise RainException("no active session: use `with session:` or `session.bind_only()`")


class Session:
    """One task graph on the server (possibly built by several submits).

    Use as a context manager to make it active; the session is closed at the end of the block.
    `Session(None, n)` builds a graph offline (for tests of graph construction); submitting it
    raises `RainException`.
    """

    def __init__(self, client: Client | None, session_id: int, default: bool = False,
                 name: str = "Unnamed Session") -> None:
        global _default_session
        self.client = client
        self.session_id = session_id
        self.name = name
        self.closed = False
        self._ids = itertools.count(1)
        self._tasks: list[Task] = []
        self._objects: list[DataObject] = []
        # Weak: a million-task session must not pin every Task the user already dropped.
        self._submitted_tasks: Submitted[Task] = Submitted()
        self._submitted_objects: Submitted[DataObject] = Submitted()
        self._error: RainException | None = None
        self.keep_alive = False  # the session outlives its client's connection
        self._attached: AttachedObjects | None = None  # made by `Client.attach_session`
        self._function_objects: dict[Remote, list[DataObject]] = {}  # see Remote._function_inputs
        if default:
            _default_session = self

    def __repr__(self) -> str:
        return f"<Session {self.session_id} {self.name!r}>"

    # --- binding --------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True from creation until the session is closed (as in Rain 0.4)."""
        return not self.closed

    @property
    def bound(self) -> bool:
        """Whether this is the innermost bound session (the one new tasks go to)."""
        return bool(_session_stack) and _session_stack[-1] is self

    def set_as_default(self) -> None:
        """Makes this the session used when none is bound (like `default=True`)."""
        global _default_session
        if self.closed:
            raise RainException(f"session {self.session_id} is closed")
        _default_session = self

    def keep_all(self) -> None:
        """Sets the keep flag of every object not submitted yet."""
        for obj in self._objects:
            obj._keep = True

    def _push(self) -> None:
        if self.closed:
            raise RainException(f"session {self.session_id} is closed and cannot be bound again")
        _session_stack.append(self)

    def _pop(self) -> None:
        if not _session_stack or _session_stack[-1] is not self:
            raise RainException("session binding mismatch: sessions must be unbound in reverse order")
        _session_stack.pop()

    def __enter__(self) -> Session:
        self._push()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pop()
        self.close()

    @contextmanager
    def bind_only(self) -> Iterator[Session]:
        """Binds the session for a `with` block without closing it at the end."""
        self._push()
        try:
            yield self
        finally:
            self._pop()

    # --- graph construction ---------------------------------------------------------------

    def _add_task(self, task: Task) -> int:
        """Registers a new unsubmitted task; its id within the session. Tasks and objects keep
        only this int: an `ID`, a tuple subclass, would stay tracked by the cyclic GC for as
        long as the graph lives."""
        if self.closed:
            raise RainException(f"session {self.session_id} is closed")
        self._tasks.append(task)
        return next(self._ids)

    def _add_object(self, obj: DataObject) -> int:
        """Registers a new unsubmitted object; its number (see `_add_task`)."""
        if self.closed:
            raise RainException(f"session {self.session_id} is closed")
        self._objects.append(obj)
        return next(self._ids)

    @property
    def task_count(self) -> int:
        """The number of unsubmitted tasks."""
        return len(self._tasks)

    @property
    def dataobj_count(self) -> int:
        """The number of unsubmitted objects."""
        return len(self._objects)

    # --- server calls ---------------------------------------------------------------------

    def _connection(self) -> Any:
        if self.client is None:
            raise RainException("this session has no client (built offline) and cannot talk to a server")
        if self.closed:
            raise SessionException(f"session {self.session_id} is closed")
        if self._error is not None:
            raise self._error
        return self.client.connection

    def _request(self, cls: type[m.Message], **fields: Any) -> m.Message:
        self._connection()
        assert self.client is not None
        try:
            return self.client.request(cls, session=self, session_id=self.session_id, **fields)
        except TaskException as exc:
            self._error = self._task_exception(exc)
            raise self._error from None

    def _raise_refused(self) -> None:
        """Raises the error of a pipelined call of this session that the server refused."""
        assert self.client is not None
        try:
            self.client.connection.raise_refused(self)
        except TaskException as exc:
            self._error = self._task_exception(exc)
            raise self._error from None

    def _task_exception(self, exc: TaskException) -> TaskException:
        task_id = getattr(exc, "task_id", None)
        task = self._submitted_tasks.get(ID.from_wire(task_id).id) if task_id else None
        message = str(exc)
        if task is not None:
            task._state = TaskState.failed
            message += f"\nTask {task!r} was created at:\n{task.stack}"
        return TaskException(message)

    def submit(self) -> None:
        """Sends every unsubmitted task and object to the server in one message, without
        waiting for its answer: the submit is pipelined with the calls that follow it. A
        refused submit is taken back (its tasks and objects are unsubmitted again, so the
        graph can be fixed and submitted again) and its error, naming the submit, is raised by
        the session's next call."""
        from rain.client.task import _creation_site, _site_lines

        tasks, objects = self._tasks, self._objects
        for o in objects:
            if o._data is None and o._producer is None:
                raise RainException(f"{o!r} has neither data nor a task producing it; make it a task's output "
                                    "(Task(..., outputs=[obj])) or create it with blob()")
        self._connection()
        assert self.client is not None
        self._raise_refused()
        fields = {"session_id": self.session_id, "tasks": [t._to_row() for t in tasks],
                  "objects": [o._to_row() for o in objects]}
        producers = [o._producer for o in objects]
        for t in tasks:
            t._state = TaskState.not_assigned
        self._submitted_tasks.add_all(tasks)
        for o in objects:
            o._state = DataObjectState.finished if o._data is not None else DataObjectState.unfinished
            o._producer = None  # submitted tasks are held weakly: do not pin the graph upstream
        self._submitted_objects.add_all(objects)
        self._tasks = []
        self._objects = []
        site = _creation_site()

        def what() -> str:
            where = "".join(f" at {file}:{line}" for file, line, _ in _site_lines(site)[-1:])
            return (f"submit(){where} of {len(tasks)} tasks and {len(objects)} objects to session "
                    f"{self.session_id} was refused")

        def undo() -> None:
            for t in tasks:
                t._state = None
                self._submitted_tasks.discard(t._num)
            for o, producer in zip(objects, producers, strict=True):
                o._state = None
                o._producer = producer
                self._submitted_objects.discard(o._num)
            self._tasks[:0] = tasks
            self._objects[:0] = objects

        self.client.send_deferred(Deferred(m.Submit, fields, what, undo, self))

    def get_object(self, key: int | str | ID) -> DataObject:
        """An object of a session attached with `Client.attach_session`, by its id within the
        session (int or `ID`) or by its label (which must then be unique)."""
        if self._attached is None:
            raise RainException(f"session {self.session_id} was not attached; get_object works on sessions "
                                "returned by Client.attach_session")
        return self._attached.get(self.session_id, key)

    def _ids_of(self, items: Iterable[Any]) -> list[Any]:
        from rain.client.data import to_dataobj_or_task

        nodes = [to_dataobj_or_task(i, allow_task=True) for i in _flatten(items)]
        for node in nodes:
            if node._state is None:
                raise RainException(f"{node!r} is not submitted")
            if node._session is not self:
                raise RainException(f"{node!r} belongs to another session")
        return nodes

    def wait(self, items: Iterable[Any], progress: bool | None = None) -> None:
        """Waits until every given task / object is finished; `progress=True` (or
        RAIN_PROGRESS=1) shows a progress bar."""
        from rain.client.progress import progress_callback

        nodes = self._ids_of(items)
        if not nodes:
            self._connection()
            return
        with progress_callback(progress, f"session {self.session_id}") as extra:
            self._request(m.Wait, ids=[list(n.id) for n in nodes], **extra)
        for node in nodes:
            node._mark_finished()

    def wait_all(self, progress: bool | None = None) -> None:
        """Waits until every submitted task of the session is finished; `progress=True` (or
        RAIN_PROGRESS=1) shows a progress bar."""
        from rain.client.progress import progress_callback

        with progress_callback(progress, f"session {self.session_id}") as extra:
            self._request(m.Wait, ids=[], all=True, **extra)
        for task in self._submitted_tasks.values():
            task._mark_finished()

    def update(self, items: Iterable[Any]) -> None:
        """Refreshes state and info of the given tasks / objects."""
        from rain.common.attributes import ObjectInfo, TaskInfo

        nodes = self._ids_of(items)
        reply = self._request(m.Update, ids=[list(n.id) for n in nodes])
        for row in reply.tasks:  # type: ignore[attr-defined]
            task = self._submitted_tasks[ID.from_wire(row[0]).id]
            task._state = TaskState(row[1])
            task._info = TaskInfo.from_wire(row[2])
        for row in reply.objects:  # type: ignore[attr-defined]
            obj = self._submitted_objects[ID.from_wire(row[0]).id]
            obj._state = DataObjectState(row[1])
            obj._info = ObjectInfo.from_wire(row[2])

    def fetch(self, dataobject: Any, path: str | os.PathLike[str] | None = None) -> DataInstance:
        """Waits for the object to finish and downloads its data.

        With `path`, the data goes straight into a file there (a dir object: a directory),
        replacing what is at `path`, and is never held in memory; the returned instance is
        backed by that file. This is the way to fetch big objects (see docs/guide)."""
        from rain.client.data import to_dataobj_or_task
        from rain.client.fetching import fetch_data, fetch_to_path

        obj = to_dataobj_or_task(dataobject)
        if obj._state is None:
            raise RainException(f"{obj!r} is not submitted")
        if obj._session is not self:
            raise RainException(f"{obj!r} belongs to another session")
        if not obj._keep:
            raise RainException(f"{obj!r} is not kept; call keep() before submit to fetch it")
        reply = self._request(m.Fetch, id=list(obj.id))
        connections = self.client.governor_connections
        if path is not None:
            instance = fetch_to_path(reply, obj, connections, path)
        else:
            instance = fetch_data(reply, obj, connections)
        obj._info = instance.info
        obj._state = DataObjectState.finished
        return instance

    def unkeep(self, objects: Iterable[Any]) -> None:
        """Unsets the keep flag; RainException (nothing changed) if an object is not kept.

        Like `submit`, it does not wait for the server: an error the server answers (the
        session failed meanwhile) sets the flags back and is raised by the session's next call."""
        from rain.client.data import to_dataobj_or_task

        objs = [to_dataobj_or_task(o) for o in _flatten(objects)]
        for o in objs:
            if not o._keep:
                raise RainException(f"{o!r} is not kept")
        submitted = [o for o in objs if o._state is not None]
        for o in objs:
            if o._state is None:
                o._keep = False
        if not submitted:
            return
        self._connection()
        assert self.client is not None
        self._raise_refused()
        for o in submitted:
            o._keep = False

        def undo() -> None:
            for o in submitted:
                o._keep = True

        fields = {"session_id": self.session_id, "ids": [list(o.id) for o in submitted]}
        what = f"unkeep() of {len(submitted)} objects of session {self.session_id} was refused"
        self.client.send_deferred(Deferred(m.Unkeep, fields, lambda: what, undo, self))

    def close(self) -> None:
        """Closes the session: its running tasks are cancelled and its objects freed."""
        global _default_session
        if self.closed:
            return
        if self.client is not None and self.client._connection is not None:
            try:
                self.client.request(m.CloseSession, session_id=self.session_id)
            except SessionException:
                pass
            if self.client._connection is not None:  # closing a session whose submit failed does not raise
                self.client._connection.discard_refused(self)
        self._mark_closed()
        if _default_session is self:
            _default_session = None

    def _mark_closed(self) -> None:
        self.closed = True


class Submitted(Generic[_Node]):
    """The submitted tasks (or objects) of a session by their number, held weakly.

    Plain weak references in a dict, not a `WeakValueDictionary`: registering 10^5 nodes at
    submit costs a C call each instead of a keyed reference and a callback made in Python
    (that was a third of `submit()`). The entries of dropped nodes are swept out when the
    dict has doubled since the last sweep, so a long session does not accumulate them.
    """

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref[_Node]] = {}
        self._sweep_at = 1024

    def add_all(self, nodes: list[_Node]) -> None:
        ref = weakref.ref
        self._refs.update({node._num: ref(node) for node in nodes})  # type: ignore[attr-defined]
        if len(self._refs) >= self._sweep_at:
            self._refs = {num: r for num, r in self._refs.items() if r() is not None}
            self._sweep_at = max(1024, 2 * len(self._refs))

    def get(self, num: int) -> _Node | None:
        ref = self._refs.get(num)
        return ref() if ref is not None else None

    def __getitem__(self, num: int) -> _Node:
        node = self.get(num)
        if node is None:
            raise KeyError(num)
        return node

    def discard(self, num: int) -> None:
        self._refs.pop(num, None)

    def values(self) -> list[_Node]:
        """The nodes still alive."""
        return [node for node in (r() for r in self._refs.values()) if node is not None]


def _flatten(items: Any) -> Iterator[Any]:
    from rain.client.data import DataObject
    from rain.client.task import Task

    if isinstance(items, (DataObject, Task)):
        yield items
        return
    for item in items:
        if isinstance(item, (list, tuple, set)):
            yield from _flatten(item)
        else:
            yield item
