"""Python remote tasks on the client: `@remote` and `Remote` turn a function into a task factory.

Calling the factory binds the arguments against the function's signature (minus the leading
context parameter) at once, so mistakes surface at the call site, not on a governor. The
function travels once per session as a constant data object (label "fn", cloudpickle) shared by
all its tasks; each argument is cloudpickled separately (so a too-large one can be named), with
every data object inside it turned into a task input (see `rain.plugins.python.pickling`).
The governor side of the `py/call` task type is `rain.plugins.python`; the task config layout is
documented in `rain.plugins.python.invoke`.
"""

from __future__ import annotations

import functools
import inspect
import math
import pickle
import time
from collections.abc import Callable, Mapping
from typing import Any

import cbor2
import cloudpickle

from rain.client.data import DataObject
from rain.client.input import InputBase
from rain.client.output import Output, OutputBase
from rain.client.session import Session, get_active_session
from rain.client.task import Task
from rain.common.content_types import check_content_type
from rain.common.errors import RainException, RainWarning
from rain.common.labeled_list import LabeledList
from rain.common.resources import check_cpus, check_retries
from rain.common.states import DataType
from rain.plugins.python.pickling import dumps_with_inputs

TASK_TYPE = "py/call"
PICKLE_ARG_SIZE_LIMIT = 256 * 1024  # a pickled argument (or function) above this raises RainWarning
PICKLE_ARG_TIME_LIMIT = 1.0  # seconds; pickling one argument for longer raises RainWarning
PICKLE_WARNING_LIMIT = PICKLE_ARG_SIZE_LIMIT  # the former name
ARGS_INLINE_LIMIT = 64 * 1024  # pickled arguments above this travel as an input, not in the config
_NOT_GIVEN = object()


class RemoteTask(Task):
    """A task running a Python function; `remote` is the `Remote` that created it.

    Its config is made when asked for, at submit or by `spec`: until then the task keeps only
    the pickled arguments (a dict of str -> bytes, which the cyclic GC does not track) and the
    outputs' encodings (a list that the tasks of plain calls share), so one object less per
    task is tracked while a big graph is built. The "inputs" settings are the `Remote`'s."""

    TASK_TYPE = TASK_TYPE
    _RAIN_CONFIG = True
    __slots__ = ("_encodes", "remote")  # no __dict__ per task

    def __init__(self, remote: Remote, inputs: LabeledList[DataObject], outputs: list[OutputBase],
                 config: dict[str, Any], cpus: int, name: str | None, session: Session, retries: int = 0) -> None:
        """`config` as `_task_config` makes it: {"args": ..., "inputs": remote's, "encode": [...]}."""
        self.remote = remote
        self._encodes = config["encode"]
        super().__init__(inputs, outputs, config=config["args"], session=session, cpus=cpus, name=name,
                         retries=retries)

    def _task_config(self) -> dict[str, Any]:
        return {"args": self._config, "inputs": self.remote._input_settings, "encode": self._encodes}


class Remote:
    """A Python function `fn(ctx, ...)` usable as a task factory; see `remote` for the options."""

    def __init__(self, fn: Callable[..., Any], *, outputs: Any = None, inputs: Mapping[str, InputBase] | None = None,
                 auto_load: bool = False, auto_encode: str | None = None, cpus: int = 1,
                 name: str | None = None, retries: int = 0) -> None:
        if not callable(fn):
            raise TypeError(f"remote needs a callable, got {fn!r}")
        self.fn = fn
        self.fn_name = getattr(fn, "__name__", type(fn).__name__)
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                                inspect.Parameter.POSITIONAL_OR_KEYWORD):
            raise TypeError(f"remote function {self.fn_name!r} must take the task context as its first parameter")
        self.signature = signature.replace(parameters=params[1:])
        # Names that positional arguments fill in order, when binding them needs no more than
        # that (no *args, **kwargs or keyword-only parameters): the common call skips
        # `Signature.bind`, which costs as much as the rest of building the task.
        self._positional = tuple(p.name for p in params[1:]) if all(
            p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[1:]) else None
        annotations = _annotations(fn)
        self.input_config: dict[str, InputBase] = {
            p.name: annotations[p.name] for p in params[1:] if isinstance(annotations.get(p.name), InputBase)}
        for key, config in (inputs or {}).items():
            if key not in self.signature.parameters:
                raise TypeError(f"remote function {self.fn_name!r} has no parameter {key!r} (given in inputs=)")
            if not isinstance(config, InputBase):
                raise TypeError(f"inputs[{key!r}] must be an Input, got {config!r}")
            self.input_config[key] = config
        self.outputs = outputs if outputs is not None else _outputs_from_annotation(annotations.get("return"))
        self.auto_load = bool(auto_load)
        self.auto_encode = check_content_type(auto_encode)
        check_cpus(cpus, error=RainException)
        self.cpus = cpus
        check_retries(retries, error=RainException)
        self.retries = retries
        self.name = name
        self._input_settings = self._make_input_settings()
        self._declared = self._output_specs(self.outputs)  # validated now rather than at the first call
        self._plain_call_plan()
        self._pickled_fn: bytes | None = None
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Remote {self.fn_name}>"

    def __getstate__(self) -> dict[str, Any]:
        # A function may refer to other remote functions; they pickle without their caches.
        state = dict(self.__dict__)
        state["_pickled_fn"] = None
        return state

    # --- configuration -------------------------------------------------------------------

    def _plain_call_plan(self) -> None:
        """What every plain call (see `_plain_call`) repeats, worked out and checked once: the
        fields of the declared outputs' objects, the task's name and the encodings."""
        name = self.name or self.fn_name
        self._plain_arity = len(self._positional) if self._positional is not None and isinstance(name, str) else -1
        self._plain_name = name
        self._plain_outputs = [(s.label, s.data_type.value, s.content_type or s.encode,
                                None if s.size_hint is None else math.ceil(s.size_hint)) for s in self._declared]
        # Shared by the tasks of plain calls, like `_input_settings` (nothing changes them after):
        # fewer objects per task for the cyclic GC to traverse while a big graph is built.
        self._plain_labels = [s.label for s in self._declared]
        self._plain_encodes = [s.encode for s in self._declared]

    def _make_input_settings(self) -> dict[str, list[Any]]:
        settings = {}
        for key in self.signature.parameters:
            config = self.input_config.get(key)
            load = self.auto_load if config is None or config.load is None else bool(config.load)
            content_type = config.content_type if config is not None else None
            if load or content_type is not None:
                settings[key] = [load, content_type]
        return settings

    def _output_specs(self, outputs: Any) -> list[OutputBase]:
        if outputs is None:
            outputs = 1
        if isinstance(outputs, int) and not isinstance(outputs, bool):
            if outputs < 0:
                raise RainException(f"outputs must not be negative, got {outputs}")
            items: list[Any] = [None] * outputs
        elif isinstance(outputs, (str, OutputBase)):
            items = [outputs]
        elif isinstance(outputs, (list, tuple)):
            items = list(outputs)
        else:
            raise RainException(f"invalid outputs {outputs!r}: expected a number, labels or Outputs")
        specs = []
        for i, item in enumerate(items):
            if item is None or isinstance(item, str):
                item = Output(item)
            elif not isinstance(item, OutputBase):
                raise RainException(f"invalid output specification {item!r}")
            item = item.with_defaults(f"out{i}")
            if (self.auto_encode is not None and item.data_type == DataType.BLOB and item.encode is None
                    and item.content_type is None):
                item = type(item)(item.label, size_hint=item.size_hint, mode=item.mode, path=item.path,
                                  encode=self.auto_encode)
            specs.append(item)
        return _unique_labels(specs)

    def _call_specs(self, outputs: Any, output: Any) -> list[OutputBase]:
        """The outputs of one call. A list as long as the declaration refines it item by item
        (None keeps the declared output, a string relabels it, an `Output` overrides the fields
        it gives), as in Rain 0.4; a list or number of another length replaces it."""
        if output is not _NOT_GIVEN:
            if outputs is not _NOT_GIVEN:
                raise RainException("give at most one of output= and outputs=")
            outputs = [output]
        if outputs is _NOT_GIVEN:
            return self._declared
        declared = self._declared
        if isinstance(outputs, int) and not isinstance(outputs, bool) and outputs == len(declared):
            return declared
        if not isinstance(outputs, (list, tuple)) or len(outputs) != len(declared):
            return self._output_specs(outputs)
        specs = []
        for item, proto in zip(outputs, declared, strict=True):
            if item is None:
                specs.append(proto)
            elif isinstance(item, str):
                specs.append(proto._copy(label=item))
            elif isinstance(item, OutputBase):
                specs.append(item.merge_with_prototype(proto))
            else:
                raise RainException(f"invalid output specification {item!r}")
        return _unique_labels(specs)

    # --- calling ---------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> RemoteTask:
        """A task running the function; besides its arguments it takes `outputs=`/`output=`
        (refining the declared outputs), `name=`, `session=` and `retries=` (unless the function
        itself has parameters of those names)."""
        if not kwargs and len(args) == self._plain_arity:
            task = self._plain_call(args)
            if task is not None:
                return task
        own: dict[str, Any] = {key: kwargs.pop(key) for key in ("outputs", "output", "name", "session", "retries")
                               if key in kwargs and key not in self.signature.parameters}
        outputs, output = own.get("outputs", _NOT_GIVEN), own.get("output", _NOT_GIVEN)
        name: str | None = own.get("name")
        if not kwargs and self._positional is not None and len(args) == len(self._positional):
            arguments: Mapping[str, Any] = dict(zip(self._positional, args, strict=True))
        else:
            try:
                arguments = self.signature.bind(*args, **kwargs).arguments
            except TypeError as exc:
                raise TypeError(f"{self.fn_name}(): {exc}") from None
        session: Session = own.get("session") or get_active_session()
        specs = self._call_specs(outputs, output)
        inputs: LabeledList[DataObject] = LabeledList()
        inputs.append(self._function_object(session), label="fn")
        pickled = self._pickle_arguments(arguments, inputs, session)
        config: dict[str, Any] = {"args": pickled, "inputs": self._input_settings,
                                  "encode": [s.encode for s in specs]}
        if sum(len(v) for v in pickled.values()) > ARGS_INLINE_LIMIT:
            holder = DataObject("args", session=session, content_type="cbor")
            holder._data = cbor2.dumps(pickled)
            inputs.append(holder, label="args")
            config["args"] = None
        return RemoteTask(self, inputs, specs, config, self.cpus, name or self.name or self.fn_name, session,
                          own.get("retries", self.retries))

    def _plain_call(self, args: tuple[Any, ...]) -> RemoteTask | None:
        """The task of the most common call, built without the general path's per-call work:
        positional arguments of plain types only (nothing in them to turn into an input) and
        small enough to travel in the config, with the declared outputs. None for any other call.

        The same task as the general path builds (ids, inputs, config, outputs), in a third of
        its time: for graphs of many small tasks, building them is what the user waits for
        before anything runs."""
        pickled = {}
        size = 0
        dumps, protocol, plain = pickle.dumps, pickle.HIGHEST_PROTOCOL, _PLAIN
        for key, value in zip(self._positional, args, strict=True):  # type: ignore[arg-type]
            if type(value) not in plain:
                return None
            data = pickled[key] = dumps(value, protocol)
            size += len(data)
        if size > ARGS_INLINE_LIMIT:
            return None  # the general path moves the arguments into an input
        session = get_active_session()
        fn_inputs = self._function_inputs(session)
        fn_object = fn_inputs[0]
        if fn_object._state is not None and not fn_object._keep:
            return None  # submitted and unkept since: the general path sends a copy
        outputs = []
        for label, data_type, content_type, size_hint in self._plain_outputs:
            obj = DataObject.__new__(DataObject)
            obj._init_fields(session, label, data_type, content_type)
            if size_hint is not None:
                obj._size_hint = size_hint
            outputs.append(obj)
        task = RemoteTask.__new__(RemoteTask)
        task.remote = self
        task._encodes = self._plain_encodes
        task._init_fields(session, fn_inputs, _FN_LABEL, outputs, self._plain_labels, TASK_TYPE, pickled,
                          self.cpus, self.retries, self._plain_name, None)
        return task

    def _function_object(self, session: Session) -> DataObject:
        """The session's object holding the pickled function, made on its first call there."""
        return self._function_inputs(session)[0]

    def _function_inputs(self, session: Session) -> list[DataObject]:
        """[the function's object in the session]: the inputs of every plain call's task, one
        list shared by them all (a task never changes its inputs), so that the cyclic GC has one
        object less per task to traverse. The session keeps it (the object refers to its session,
        so a cache here would keep every session the function was ever called in alive)."""
        inputs = session._function_objects.get(self)
        if inputs is None:
            if self._pickled_fn is None:
                self._pickled_fn = _checked(lambda: cloudpickle.dumps(self.fn, protocol=pickle.HIGHEST_PROTOCOL),
                                            self.fn_name)
            obj = DataObject("fn", session=session, content_type="cloudpickle")
            obj._data = self._pickled_fn
            obj.keep()
            inputs = session._function_objects[self] = [obj]
        return inputs

    def _pickle_arguments(self, arguments: Mapping[str, Any], inputs: LabeledList[DataObject],
                          session: Session) -> dict[str, bytes]:
        positions: dict[int, int] = {}

        def register(value: Any) -> int | None:
            if isinstance(value, Task):
                value = value.output
            elif not isinstance(value, DataObject):
                return None
            if value.session is not session:
                raise RainException(f"argument object {value!r} belongs to another session")
            index = positions.get(id(value))
            if index is None:
                index = positions[id(value)] = len(inputs)
                inputs.append(value)
            return index

        result = {}
        for key, value in arguments.items():
            if type(value) in _PLAIN:  # nothing in it to replace by an input: plain pickle, in C
                result[key] = _check_size(pickle.dumps(value, pickle.HIGHEST_PROTOCOL), key)
                continue
            try:
                data = _checked(functools.partial(dumps_with_inputs, value, register), key)
            except (RainException, RainWarning):
                raise
            except Exception as exc:
                raise RainException(f"cannot pickle argument {key!r} of {self.fn_name}(): "
                                    f"{type(exc).__name__}: {exc}") from exc
            result[key] = data
        return result


_FN_LABEL = ["fn"]  # the input labels of a plain call's task (shared, never changed)
_PLAIN = frozenset((int, float, str, bytes, bool, type(None)))  # pickled alike by pickle and cloudpickle


def _check_size(data: bytes, name: str) -> bytes:
    if len(data) > PICKLE_ARG_SIZE_LIMIT:
        raise RainWarning(f"Pickled object {name} length {len(data)} > PICKLE_ARG_SIZE_LIMIT="
                          f"{PICKLE_ARG_SIZE_LIMIT}. Consider using a blob() for the data.")
    return data


def _checked(dumps: Callable[[], bytes], name: str) -> bytes:
    """Pickles, raising RainWarning (as Rain 0.4 did) when the result is too big to travel with
    the graph, or took too long: such data should be a data object (`blob()`, `pickled()`)."""
    started = time.perf_counter()
    data = _check_size(dumps(), name)
    elapsed = time.perf_counter() - started
    if elapsed > PICKLE_ARG_TIME_LIMIT:
        raise RainWarning(f"Pickling object {name} took {elapsed:.1f} s > PICKLE_ARG_TIME_LIMIT="
                          f"{PICKLE_ARG_TIME_LIMIT}. Consider using a blob() for the data.")
    return data


def _unique_labels(specs: list[OutputBase]) -> list[OutputBase]:
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise RainException(f"output labels must be unique, got {labels}")
    return specs


def remote(fn: Any = None, *, outputs: Any = None, inputs: Mapping[str, InputBase] | None = None,
           auto_load: bool = False, auto_encode: str | None = None, cpus: int = 1,
           name: str | None = None, retries: int = 0) -> Any:
    """Decorator making a remote Python task factory from `fn(ctx, ...)`.

    `outputs`: a number, labels or `Output`s (default: the return annotation, else 1);
    `inputs`: `{param: Input(load=..., content_type=...)}` (or annotate the parameters);
    `auto_load`: pass loaded values instead of `DataInstance`s; `auto_encode`: encoding of
    outputs that declare none; `cpus`: CPUs the task holds; `name`: default task name;
    `retries`: how many times a task reruns after the function fails.
    Usable as `@remote` or `@remote(...)`.
    """
    options = {"inputs": inputs, "auto_load": auto_load, "auto_encode": auto_encode, "cpus": cpus, "name": name,
               "retries": retries}
    if fn is not None and not callable(fn):  # @remote(2) or @remote(["a", "b"])
        outputs, fn = fn, None
    if fn is not None:
        return Remote(fn, outputs=outputs, **options)  # type: ignore[arg-type]
    return lambda f: Remote(f, outputs=outputs, **options)  # type: ignore[arg-type]


def _annotations(fn: Any) -> dict[str, Any]:
    """The function's annotations, with string annotations evaluated where possible."""
    raw = dict(getattr(fn, "__annotations__", None) or {})
    code = getattr(fn, "__code__", None)
    namespace: dict[str, Any] = {}
    if code is not None and getattr(fn, "__closure__", None):
        for var, cell in zip(code.co_freevars, fn.__closure__, strict=False):
            try:
                namespace[var] = cell.cell_contents
            except ValueError:
                pass
    result = {}
    for key, value in raw.items():
        if isinstance(value, str):
            try:
                value = eval(value, getattr(fn, "__globals__", {}), namespace)
            except Exception:
                pass
        result[key] = value
    return result


def _outputs_from_annotation(annotation: Any) -> Any:
    if isinstance(annotation, int) and not isinstance(annotation, bool):
        return annotation
    if isinstance(annotation, (str, OutputBase)):
        return [annotation]
    if isinstance(annotation, (list, tuple)) and all(isinstance(a, (str, OutputBase)) for a in annotation):
        return list(annotation)
    return None
