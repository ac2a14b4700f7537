"""`Task`: a node of the graph that runs on a governor, identified by its `task_type` string."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import cbor2

from rain.client.data import DataObject, to_dataobj
from rain.client.input import InputBase
from rain.client.output import Output, OutputBase
from rain.client.session import Session, get_active_session
from rain.common.attributes import TaskInfo, TaskSpec, TaskSpecInput
from rain.common.data_instance import DataInstance
from rain.common.errors import RainException
from rain.common.ids import ID
from rain.common.labeled_list import DuplicateLabelError, LabeledList
from rain.common.resources import check_cpus, check_retries
from rain.common.states import TaskState

ONE_OUTPUT: Any = type("OneOutput", (), {"__repr__": lambda self: "ONE_OUTPUT"})()  # the default: 1 blob
_OWN_PREFIX = __name__.rsplit(".", 1)[0]
_MAX_SITES = 4
# id(code object) -> whether it belongs to rain.client (graph building is hot). Keyed by id:
# hashing a code object hashes its constants and names every time, up to a microsecond for a big
# function, per frame of every task built. The code objects are kept, so no id is reused.
_is_internal: dict[int, bool] = {}
_seen_codes: list[Any] = []


def _creation_site() -> tuple[Any, ...]:
    """The user's frames that created the task, as (code, instruction offset) pairs flattened
    into one tuple, innermost first. The line numbers are worked out only when printed
    (`_site_lines`): `frame.f_lineno` decodes the line table, which per task costs more than
    the rest of building a small task."""
    frame: Any = sys._getframe(2)
    sites: list[Any] = []
    is_internal = _is_internal
    while frame is not None:
        code = frame.f_code
        internal = is_internal.get(id(code))
        if internal is None:
            _seen_codes.append(code)
            internal = is_internal[id(code)] = frame.f_globals.get("__name__", "").startswith(_OWN_PREFIX)
        if not internal:
            sites += (code, frame.f_lasti)
            if len(sites) == 2 * _MAX_SITES:
                break
        frame = frame.f_back
    return tuple(sites)


def _site_lines(sites: tuple[Any, ...]) -> list[tuple[str, int, str]]:
    """(file, line, function) of each recorded frame, outermost first."""
    lines = []
    for i in range(len(sites) - 2, -1, -2):
        code, offset = sites[i], sites[i + 1]
        line = next((n for start, end, n in code.co_lines() if start <= offset < end and n is not None),
                    code.co_firstlineno)
        lines.append((code.co_filename, line, code.co_name))
    return lines


class Task:
    """A task instance in the graph; particular types are chosen by `task_type`.

    `inputs` is a sequence of data objects, tasks (their single output), `Input` specs or
    `(label, object)` pairs; `outputs` is None (no outputs, as in Rain 0.4; left out it means
    one unlabelled blob), a number (that many unlabelled blobs), or a sequence of labels,
    `Output` specs, None items (an unlabelled blob) or existing unsubmitted data objects (which
    this task will produce). Everything the server would
    refuse is refused here, with a `RainException` naming the argument.
    """

    # Building a graph of a million tasks is bound by allocation and by Python's cyclic GC,
    # whose passes cost in proportion to the container objects alive. So a task holds its
    # inputs and outputs as plain lists (labels only when there are any) and its fields in
    # slots; the `TaskSpec` and the `LabeledList`s of `inputs`/`outputs` are made when first
    # asked for. The submit row is made straight from the fields.
    __slots__ = ("__dict__", "__weakref__", "_built_spec", "_config", "_cpus", "_info", "_input_labels", "_inputs",
                 "_name", "_num", "_output_labels", "_outputs", "_retries", "_session", "_sites", "_state",
                 "_task_type", "_user", "_views")  # a __dict__ only when a user sets an attribute of their own

    # Subclasses whose config is built by Rain itself skip the CBOR check of `config`.
    _RAIN_CONFIG = False

    def __init__(self, inputs: Iterable[Any] = (), outputs: Any = ONE_OUTPUT, *, task_type: str | None = None,
                 config: Any = None, session: Session | None = None, cpus: int = 1,
                 name: str | None = None, user_spec: dict[str, Any] | None = None, retries: int = 0) -> None:
        session = session or get_active_session()
        task_type = task_type or getattr(type(self), "TASK_TYPE", None)
        if not isinstance(task_type, str) or not task_type:
            raise RainException(f"task_type must be a non-empty string, got {task_type!r}")
        if type(cpus) is not int or cpus < 0 or type(retries) is not int or retries < 0:  # calls only to raise
            check_cpus(cpus, error=RainException)
            check_retries(retries, error=RainException)
        if name is not None and not isinstance(name, str):
            raise RainException(f"task name must be a str, got {name!r}")
        if config is not None and not self._RAIN_CONFIG:
            _check_cbor(config, "task config")
        if user_spec is not None:
            if not isinstance(user_spec, dict):
                raise RainException(f"user_spec must be a dict, got {user_spec!r}")
            _check_cbor(user_spec, "user_spec")
            user_spec = dict(user_spec)
        input_objects, input_labels = _make_inputs(inputs, session)
        if outputs is ONE_OUTPUT or (type(outputs) is int and outputs == 1):
            output = DataObject.__new__(DataObject)  # `DataObject(None, session)`, its arguments known good
            output._init_fields(session, None, "blob", None)
            output_objects: list[DataObject] = [output]
            output_labels = None
        else:
            output_objects, output_labels = _make_outputs(outputs, session, input_objects)
        self._init_fields(session, input_objects, input_labels, output_objects, output_labels, task_type, config,
                          cpus, retries, name, user_spec)

    def _init_fields(self, session: Session, inputs: list[DataObject], input_labels: list[Any] | None,
                     outputs: list[DataObject], output_labels: list[Any] | None, task_type: str, config: Any,
                     cpus: int, retries: int, name: str | None, user_spec: dict[str, Any] | None) -> None:
        """Sets every field from arguments already checked (by `__init__`, or by a task factory
        that checked them once for all its calls, see `RemoteTask`) and registers the task."""
        self._num = session._add_task(self)  # first: a closed session raises before anything changes
        self._session = session
        self._inputs, self._input_labels = inputs, input_labels
        self._outputs, self._output_labels = outputs, output_labels
        for obj in outputs:
            obj._producer = self
        self._task_type = task_type
        self._config = config
        self._cpus = cpus
        self._retries = retries
        self._name = name
        self._user = user_spec
        self._built_spec: TaskSpec | None = None
        self._views: tuple[LabeledList[DataObject], LabeledList[DataObject]] | None = None
        self._state: TaskState | None = None
        self._info: TaskInfo | None = None
        self._sites = _creation_site()

    def _to_row(self) -> Sequence[Any]:
        """The submit row (`TaskSpec.to_row` layout), from the spec if it was built (and maybe
        changed), else straight from the fields."""
        if self._built_spec is not None:
            return self._built_spec.to_row()
        labels, objs, outs = self._input_labels, self._inputs, self._outputs
        if len(objs) == 1:  # the usual shapes skip the loops: submit calls this for every task
            inputs: list[Any] = [objs[0]._num, None if labels is None else labels[0]]
        else:
            inputs = []
            if labels is None:
                for obj in objs:
                    inputs += (obj._num, None)
            else:
                for obj, label in zip(objs, labels, strict=True):
                    inputs += (obj._num, label)
        return [self._num, self._task_type, self._task_config(), inputs,
                [outs[0]._num] if len(outs) == 1 else [o._num for o in outs],
                self._cpus if not self._retries else {"cpus": self._cpus, "retries": self._retries},
                self._name, self._user or None]

    def _task_config(self) -> Any:
        """The config of the spec and the submit row (a subclass may keep less until then)."""
        return self._config

    # --- attributes -----------------------------------------------------------------------

    @property
    def id(self) -> ID:
        """The task's `ID(session_id, id)`."""
        return ID(self._session.session_id, self._num)

    @property
    def spec(self) -> TaskSpec:
        """What was asked for (`TaskSpec`: task type, config, inputs, outputs, resources, name); fixed at submit."""
        spec = self._built_spec
        if spec is None:
            labels = self._input_labels or [None] * len(self._inputs)
            spec = self._built_spec = TaskSpec(
                id=self.id, task_type=self._task_type, config=self._task_config(),
                inputs=[TaskSpecInput(o.id, label) for o, label in zip(self._inputs, labels, strict=True)],
                outputs=[o.id for o in self._outputs], resources=self._resources(), name=self._name,
                user=dict(self._user or {}))
        return spec

    def _resources(self) -> dict[str, Any]:
        return {"cpus": self._cpus, "retries": self._retries} if self._retries else {"cpus": self._cpus}

    @property
    def retries(self) -> int:
        """How many times the task runs again after an error of its own (a lost governor or a
        crashed executor does not count: see `rain server --max-governor-losses`)."""
        return self._retries

    @retries.setter
    def retries(self, value: int) -> None:
        if self._state is not None:
            raise RainException("retries cannot change after submit")
        check_retries(value, error=RainException)
        self._retries = value
        if self._built_spec is not None:
            self._built_spec.resources = self._resources()

    @property
    def info(self) -> TaskInfo | None:
        """What happened (`TaskInfo`: error, start time, duration, governor, debug, user) as of the last update."""
        return self._info

    @property
    def state(self) -> TaskState | None:
        """`TaskState` as of the last update or wait; None before submit."""
        return self._state

    @property
    def name(self) -> str | None:
        """The task's name (shown in errors and monitoring), or None."""
        return self._built_spec.name if self._built_spec is not None else self._name

    @property
    def task_type(self) -> str:
        """The task type string, e.g. "buildin/concat"."""
        return self._task_type

    @property
    def session(self) -> Session:
        """The session the task belongs to."""
        return self._session

    @property
    def inputs(self) -> LabeledList[DataObject]:
        """The input data objects, by position or label."""
        return self._labeled()[0]

    @property
    def outputs(self) -> LabeledList[DataObject]:
        """The output data objects, by position or label."""
        return self._labeled()[1]

    def _labeled(self) -> tuple[LabeledList[DataObject], LabeledList[DataObject]]:
        views = self._views
        if views is None:
            views = self._views = (LabeledList(self._inputs, self._input_labels),
                                   LabeledList(self._outputs, self._output_labels))
        return views

    @property
    def output(self) -> DataObject:
        """The single output; `RainException` when the task has another number of outputs."""
        if len(self._outputs) != 1:
            raise RainException(f"{self!r} has {len(self._outputs)} outputs; use .outputs")
        return self._outputs[0]

    @property
    def stack(self) -> str:
        """Where in the user's code the task was created (shown when it fails)."""
        return "".join(f'  File "{f}", line {n}, in {fn}\n' for f, n, fn in _site_lines(self._sites))

    # --- actions --------------------------------------------------------------------------

    def keep_outputs(self) -> None:
        """Keeps every output (before submit)."""
        for o in self._outputs:
            o.keep()

    def unkeep_outputs(self) -> None:
        """Releases every output."""
        self._session.unkeep(list(self._outputs))

    def fetch_outputs(self) -> list[DataInstance]:
        """Fetches every output (they must be kept), in order."""
        return [o.fetch() for o in self._outputs]

    def wait(self) -> None:
        """Waits until the task is finished."""
        self._session.wait([self])

    def update(self) -> None:
        """Refreshes `state` and `info` from the server without waiting."""
        self._session.update([self])

    def _mark_finished(self) -> None:
        if self._state is not None and self._state != TaskState.failed:
            self._state = TaskState.finished
            for o in self._outputs:
                o._mark_finished()

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Task {self._task_type}{name} {self.id}>"


def _check_cbor(value: Any, what: str) -> None:
    try:
        cbor2.dumps(value)
    except Exception as exc:
        raise RainException(f"{what} must be CBOR-encodable (dicts, lists, str, bytes, numbers...): {exc}") from None


def _make_inputs(inputs: Iterable[Any], session: Session) -> tuple[list[DataObject], list[Any] | None]:
    """The input objects and their labels (None when no input has one)."""
    labelled = type(inputs) is not list and isinstance(inputs, LabeledList)
    if not labelled and type(inputs) is not list and isinstance(inputs, (DataObject, Task, InputBase)):
        raise RainException("inputs must be a sequence (wrap a single input in a list)")
    objs: list[DataObject] = []
    labels: list[Any] | None = None
    pairs = inputs.items() if labelled else inputs  # type: ignore[attr-defined]
    for pair in pairs:
        if type(pair) is DataObject and pair._session is session and pair._state is None:
            objs.append(pair)  # the common case: an unsubmitted object of this session, no label
            if labels is not None:
                labels.append(None)
            continue
        label, item = pair if labelled else _input_pair(pair)
        if isinstance(item, InputBase):
            if item.dataobj is None:
                raise RainException(f"{item!r} has no data object")
            label, item = item.label if item.label is not None else label, item.dataobj
        if label is not None and not isinstance(label, str):
            raise RainException(f"input label must be a str, got {label!r}")
        obj = to_dataobj(item)
        if obj.session is not session:
            raise RainException(f"input {obj!r} belongs to another session")
        if obj._state is not None and not obj._keep:
            if obj._data is None:
                raise RainException(f"input {obj!r} is from an earlier submit and was not kept; "
                                    "call keep() before submit to use it again")
            obj = obj._resubmittable()  # a constant: the client still has its data
        if label is not None:
            if labels is None:
                labels = [None] * len(objs)
            elif label in labels:
                raise DuplicateLabelError(f"duplicate label {label!r}")
        objs.append(obj)
        if labels is not None:
            labels.append(label)
    return objs, labels


def _input_pair(item: Any) -> tuple[Any, Any]:
    if isinstance(item, tuple):
        if len(item) != 2:
            raise RainException(f"an input pair must be (label, object), got {item!r}")
        return item[0], item[1]
    return None, item


def _make_outputs(outputs: Any, session: Session,
                  inputs: list[DataObject]) -> tuple[list[DataObject], list[Any] | None]:
    """The output objects and their labels (None when no output has one)."""
    if outputs is None:
        return [], None
    if outputs is ONE_OUTPUT:
        outputs = 1
    if isinstance(outputs, int) and not isinstance(outputs, bool):
        if outputs < 0:
            raise RainException(f"outputs must not be negative, got {outputs}")
        return [DataObject(None, session) for _ in range(outputs)], None
    if isinstance(outputs, (str, OutputBase, DataObject)):
        specs: list[Any] = [outputs]
    else:
        specs = list(outputs)
    result: LabeledList[DataObject] = LabeledList()
    existing: list[DataObject] = []
    for spec in specs:
        if spec is None:  # a plain unlabelled blob
            result.append(DataObject(None, session))
            continue
        if isinstance(spec, str):
            spec = Output(spec)
        if isinstance(spec, DataObject):
            _check_existing_output(spec, session, existing)
            existing.append(spec)
            obj = spec
        elif isinstance(spec, OutputBase):
            obj = spec.create_object(session)
        else:
            raise RainException(f"invalid output specification {spec!r}")
        result.append(obj, label=obj.label)  # checks that labels are unique
    if existing:
        _check_no_cycle(existing, inputs)
    labels = list(result.labels)
    return list(result), (labels if any(label is not None for label in labels) else None)


def _check_existing_output(obj: DataObject, session: Session, taken: list[DataObject]) -> None:
    if obj.session is not session:
        raise RainException(f"output {obj!r} belongs to another session")
    if obj._state is not None:
        raise RainException(f"output {obj!r} is already submitted; a task can only produce a new object")
    if obj._data is not None:
        raise RainException(f"output {obj!r} is a constant; a task cannot produce it")
    if obj._producer is not None or any(o is obj for o in taken):
        raise RainException(f"output {obj!r} is already an output of {obj._producer or 'this task'!r}")


def _check_no_cycle(outputs: list[DataObject], inputs: list[DataObject]) -> None:
    """An existing object made an output must not feed (directly or not) this task's inputs."""
    targets = {id(o) for o in outputs}
    stack = list(inputs)
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in targets:
            raise RainException(f"output {obj!r} is also an input of the task (directly or through other "
                                "tasks); the graph would have a cycle")
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if obj._producer is not None:
            stack.extend(obj._producer._inputs)
