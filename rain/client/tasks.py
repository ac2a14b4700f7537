"""Built-in task types (`buildin/...`) as client-side task classes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rain.client.data import to_dataobj
from rain.client.output import Output, OutputBase, OutputDir
from rain.client.program import ExecutePlan, check_path
from rain.client.session import Session
from rain.client.task import Task
from rain.common.errors import RainException
from rain.common.states import DataType


class Concat(Task):
    """Concatenates the given blobs in order."""

    TASK_TYPE = "buildin/concat"
    _RAIN_CONFIG = True

    def __init__(self, inputs: Iterable[Any], *, name: str | None = None, session: Session | None = None) -> None:
        super().__init__(list(inputs), 1, name=name, session=session)


class Sleep(Task):
    """Forwards `input` after `timeout` seconds (for tests and demos): the output has the
    input's data type (a directory stays a directory) and content type."""

    TASK_TYPE = "buildin/sleep"
    _RAIN_CONFIG = True

    def __init__(self, input: Any, timeout: float, *, name: str | None = None, session: Session | None = None,
                 cpus: int = 1) -> None:
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise RainException(f"Sleep timeout must be a non-negative number, got {timeout!r}")
        obj = to_dataobj(input)
        cls = OutputDir if obj.data_type == DataType.DIRECTORY else Output
        super().__init__([obj], [cls(content_type=obj.content_type)], config=float(timeout), name=name,
                         session=session, cpus=cpus)


def concat(inputs: Iterable[Any], **kwargs: Any) -> Concat:
    return Concat(inputs, **kwargs)


def sleep(timeout: float, dataobj: Any, **kwargs: Any) -> Sleep:
    """The older call order `sleep(seconds, object)`."""
    return Sleep(dataobj, timeout, **kwargs)


def _output(output: Any, cls: type[OutputBase], what: str) -> OutputBase:
    """The output spec of a single-output task: default, a label, or an Output of the right kind."""
    if output is None:
        return cls()
    if isinstance(output, str):
        return cls(output)
    if not isinstance(output, OutputBase) or output.data_type != cls.data_type:
        raise RainException(f"{what} output must be a label or an {cls.__name__}, got {output!r}")
    return output


def _path(path: Any, what: str) -> str:
    if not isinstance(path, str) or not path:
        raise RainException(f"{what} path must be a non-empty string, got {path!r}")
    return path


class Load(Task):
    """Loads a file at an absolute `path` on the governor into a blob."""

    TASK_TYPE = "buildin/open"
    _RAIN_CONFIG = True

    def __init__(self, path: str, output: Any = None, *, name: str | None = None,
                 session: Session | None = None) -> None:
        super().__init__((), [_output(output, Output, "Load")], config={"path": _path(path, "Load")},
                         name=name, session=session)


class LoadDir(Task):
    """Loads a directory at an absolute `path` on the governor into a dir object."""

    TASK_TYPE = "buildin/open_dir"
    _RAIN_CONFIG = True

    def __init__(self, path: str, output: Any = None, *, name: str | None = None,
                 session: Session | None = None) -> None:
        super().__init__((), [_output(output, OutputDir, "LoadDir")], config={"path": _path(path, "LoadDir")},
                         name=name, session=session)


class Store(Task):
    """Writes `input` to an absolute `path` on the governor (a blob as a file, a dir as a directory)."""

    TASK_TYPE = "buildin/export"
    _RAIN_CONFIG = True

    def __init__(self, input: Any, path: str, *, name: str | None = None, session: Session | None = None) -> None:
        super().__init__([to_dataobj(input)], 0, config={"path": _path(path, "Store")}, name=name,
                         session=session)


class MakeDirectory(Task):
    """Builds a dir object from `(path, object)` pairs or a `{path: object}` dict.

    Paths are relative and may be nested; a dir object is merged in as a subtree ('' or '.'
    makes it the base). Two inputs claiming the same file fail the task.
    """

    TASK_TYPE = "buildin/make_directory"
    _RAIN_CONFIG = True

    def __init__(self, paths_objects: Any, *, name: str | None = None, session: Session | None = None) -> None:
        pairs = list(paths_objects.items() if isinstance(paths_objects, Mapping) else paths_objects)
        paths, objs = [], []
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise RainException(f"MakeDirectory needs (path, object) pairs, got {pair!r}")
            path, obj = pair[0], to_dataobj(pair[1])
            if obj.data_type == DataType.DIRECTORY and path in ("", "."):
                paths.append("")
            else:
                paths.append(check_path(path, "MakeDirectory path"))
            objs.append(obj)
        super().__init__(objs, [OutputDir()], config=paths, name=name, session=session)


class SliceDirectory(Task):
    """Extracts `path` from a dir object: a file as a blob, or with a trailing '/' a subtree."""

    TASK_TYPE = "buildin/slice_directory"
    _RAIN_CONFIG = True

    def __init__(self, input: Any, path: str, output: Any = None, *, name: str | None = None,
                 session: Session | None = None) -> None:
        obj = to_dataobj(input)
        if obj.data_type != DataType.DIRECTORY:
            raise RainException(f"SliceDirectory needs a dir object, got {obj!r}")
        path = _path(path, "SliceDirectory")
        if path.rstrip("/"):
            check_path(path.rstrip("/"), "SliceDirectory path")
        cls = OutputDir if path.endswith("/") else Output
        spec = cls(path) if output is None else _output(output, cls, "SliceDirectory")  # label: the path
        super().__init__([obj], [spec], config={"path": path},
                         name=name, session=session)


class Execute(Task):
    """Runs an external program in a fresh working directory; see `rain.client.program`.

    `args` is a string (split shell-like) or a list of strings, data objects (put in a fresh
    file), `Input`s and `Output`s (their paths); `stdout=True|label|Output`, `stdin=` a data
    object or `Input`; `input_paths` / `output_paths` map files without touching the command line.
    """

    TASK_TYPE = "buildin/run"
    _RAIN_CONFIG = True

    def __init__(self, args: Any, stdout: Any = None, stdin: Any = None, input_paths: Iterable[Any] = (),
                 output_paths: Iterable[Any] = (), shell: bool = False, *, name: str | None = None,
                 session: Session | None = None, cpus: int = 1, retries: int = 0) -> None:
        plan = ExecutePlan.parse(args, stdout, stdin, input_paths, output_paths, shell)
        self._init_from_plan(plan, name, session, cpus, retries)

    @classmethod
    def _from_plan(cls, plan: ExecutePlan, *, name: str | None, session: Session | None, cpus: int,
                   retries: int = 0) -> Execute:
        task = cls.__new__(cls)
        task._init_from_plan(plan, name, session, cpus, retries)
        return task

    def _init_from_plan(self, plan: ExecutePlan, name: str | None, session: Session | None, cpus: int,
                        retries: int = 0) -> None:
        if plan.unbound:
            raise RainException(f"input {plan.unbound[0]!r} has no data object")
        Task.__init__(self, plan.task_inputs(), plan.task_outputs(), config=plan.config(), name=name,
                      session=session, cpus=cpus, retries=retries)
