"""`Context`: what a remote Python function receives as its first argument.

It lives in the executor process. Outputs made here are plain `DataInstance`s: in memory for
`blob`/`pickled`, or files moved into a private name inside the task's working directory for
`stage_file`/`stage_directory` (the governor later moves them into its object store, so staged
data is never copied).
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

    def __init__(self, spec: TaskSpec, workdir: str, function: Any) -> None:
        self.spec = spec
        self.info = TaskInfo()
        self.function = function
        self.workdir = workdir
        self.debug_lines: list[str] = []
        self._staged = itertools.count()

    def debug(self, fmt: str, *args: Any) -> None:
        """Appends one line (`fmt % args`) to the task's `info.debug`."""
        self.debug_lines.append(str(fmt) % args if args else str(fmt))

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

    def pickled(self, obj: Any) -> DataInstance:
        """An output instance holding `obj` serialized with cloudpickle."""
        return self.blob(obj, encode="cloudpickle")

    def stage_file(self, path: str, content_type: str | None = None) -> DataInstance:
        """Moves the file at `path` (relative to the working dir) into an output instance."""
        return DataInstance("blob", path=self._stage(path, os.path.isfile, "file"), content_type=content_type)

    def stage_directory(self, path: str, content_type: str | None = None) -> DataInstance:
        """Moves the directory at `path` (relative to the working dir) into an output instance."""
        return DataInstance("dir", path=self._stage(path, os.path.isdir, "directory"), content_type=content_type)

    def _stage(self, path: str, check: Any, what: str) -> str:
        source = os.path.join(self.workdir, os.fspath(path))
        if not check(source) or os.path.islink(source):
            raise RainException(f"cannot stage {path!r}: it is not a {what}")
        target = os.path.join(self.workdir, f"{STAGED_PREFIX}{next(self._staged)}")
        shutil.move(source, target)
        return target
