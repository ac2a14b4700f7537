"""`Context`: what a remote Python function receives as its first argument.

It lives in the executor process. Outputs made here are plain `DataInstance`s: in memory for
`blob`/`pickled`, or files moved out of the function's working directory into a private name
in the executor's staging directory for `stage_file`/`stage_directory`; the governor later
moves them into its object store, so staged data is never copied.
"""

from __future__ import annotations

import itertools
import os
import shutil
from typing import Any

from rain.common.attributes import TaskInfo, TaskSpec
from rain.common.content_types import check_content_type, encode_value
from rain.common.data_instance import DataInstance
from rain.common.errors import RainException

STAGED_PREFIX = ".rain-staged-"


class Context:
    """The running task as seen by its function.

    Attributes: `spec` (the task's `TaskSpec`), `info` (a `TaskInfo`; `info.user` is writable
    and reaches `task.info.user` in the client), `function` (the unpickled function), `workdir`
    (the task's fresh working directory, also the current directory while the task runs).
    """

    def __init__(self, spec: TaskSpec | None, workdir: str, function: Any, stage_dir: str | None = None,
                 spec_wire: dict[str, Any] | None = None) -> None:
        self._spec = spec
        self._spec_wire = spec_wire  # read into `spec` on first use: most functions never ask
        self._info: TaskInfo | None = None  # made on first use too (an executor builds a Context per call)
        self.function = function
        self.workdir = workdir
        self.stage_dir = stage_dir if stage_dir is not None else os.path.dirname(os.path.abspath(workdir))
        self.debug_lines: list[str] = []
        self._staged: itertools.count[int] | None = None
        self.staged = False  # a file was put into stage_dir (see executor.ExecutorDirs)

    @property
    def spec(self) -> TaskSpec:
        if self._spec is None:
            assert self._spec_wire is not None, "a Context needs a spec or its wire form"
            self._spec = TaskSpec.from_wire(self._spec_wire)
        return self._spec

    @property
    def info(self) -> TaskInfo:
        if self._info is None:
            self._info = TaskInfo()
        return self._info

    @info.setter
    def info(self, info: TaskInfo) -> None:
        self._info = info

    @property
    def user_info(self) -> dict[str, Any]:
        """`info.user` as a plain dict, for the governor: {} when the function never asked for
        `info` (or replaced `info.user` with something that is not a dict)."""
        user = self._info.user if self._info is not None else None
        return dict(user) if isinstance(user, dict) else {}

    def debug(self, message: str, *args: Any, **kw: Any) -> None:
        """Appends one line to the task's `info.debug`: `message.format(*args, **kw)`.

        `ctx.debug("a = {}", a)` as in Rain 0.4; a message with `%` fields and no `{}` fields
        is formatted with `%` instead (`ctx.debug("a = %s", a)`, this package's older form).
        """
        if not isinstance(message, str):
            raise RainException(f"the debug message must be a str, got {message!r}")
        if not args and not kw:
            text = message
        elif kw or "{" in message or "%" not in message:
            text = message.format(*args, **kw)
        else:
            text = message % args
        self.debug_lines.append(text)

    def blob(self, value: Any, content_type: str | None = None, encode: str | None = None) -> DataInstance:
        """An output instance: bytes as they are, str as text, anything with `encode=`."""
        if content_type is not None and encode is not None:
            raise RainException("specify at most one of content_type and encode")
        if encode is not None:
            encode = check_content_type(encode)
            return DataInstance("blob", data=encode_value(value, encode), content_type=encode)
        content_type = check_content_type(content_type)
        if isinstance(value, str):
            content_type = content_type or "text"
            if not content_type.startswith("text"):
                raise RainException(f"a str value needs a text content type, not {content_type!r}")
            return DataInstance("blob", data=encode_value(value, content_type), content_type=content_type)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return DataInstance("blob", data=bytes(value), content_type=content_type)
        raise RainException(f"blob value must be bytes or str (or use encode=), got {type(value).__name__}")

    def pickled(self, obj: Any, content_type: str = "pickle") -> DataInstance:
        """An output instance holding `obj` pickled (`content_type` "pickle" or "cloudpickle")."""
        if content_type not in ("pickle", "cloudpickle"):
            raise RainException(f"pickled() content_type must be 'pickle' or 'cloudpickle', got {content_type!r}")
        return self.blob(obj, encode=content_type)

    def stage_file(self, path: str, content_type: str | None = None) -> DataInstance:
        """Moves the file at relative `path` out of the working directory into an output instance."""
        return DataInstance("blob", path=self._stage(path, os.path.isfile, "file"), content_type=content_type)

    def stage_directory(self, path: str, content_type: str | None = "dir") -> DataInstance:
        """Moves the directory at relative `path` out of the working directory into an output
        instance (content type "dir", as in Rain 0.4)."""
        return DataInstance("dir", path=self._stage(path, os.path.isdir, "directory"), content_type=content_type)

    def _stage(self, path: str, check: Any, what: str) -> str:
        """The path is taken relative to the current directory, like any file the function opens."""
        path = os.fspath(path)
        if os.path.isabs(path):
            raise RainException(f"cannot stage {path!r}: the path must be relative (to the working directory)")
        source = os.path.abspath(path)
        if not check(source) or os.path.islink(source):
            raise RainException(f"cannot stage {path!r}: it is not a {what}")
        return self.stage_path(source)

    def stage_path(self, source: str | None = None) -> str:
        """A fresh private name in the staging dir, with the file or tree at `source` moved there."""
        if self._staged is None:
            self._staged = itertools.count()
        target = os.path.join(self.stage_dir, f"{STAGED_PREFIX}{next(self._staged)}")
        self.staged = True
        if source is not None:
            shutil.move(source, target)
        return target
