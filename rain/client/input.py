"""`Input` and `InputDir`: how a task reads a data object (label, file path, loading, writability)."""

from __future__ import annotations

from typing import Any

from rain.common.content_types import check_content_type
from rain.common.errors import RainException
from rain.common.states import DataType


class InputBase:
    """An input of a task: a data object (or, in a `Program`, a placeholder bound at call time).

    `label` names it (the keyword of a `Program` call), `path` is its file name in an
    `Execute` working directory, `load`/`content_type` configure remote Python tasks, and
    `write=True` gives an `Execute` a private writable copy instead of the read-only data.
    """

    data_type = DataType.BLOB

    def __init__(self, label: str | None = None, path: str | None = None, dataobj: Any = None,
                 load: bool | None = None, content_type: str | None = None, write: bool = False) -> None:
        from rain.client.data import to_dataobj

        if label is not None and not isinstance(label, str):
            raise RainException(f"Input label must be a str, got {label!r}")
        if path is not None and not isinstance(path, str):
            raise RainException(f"Input path must be a str, got {path!r}")
        self.label = label
        self.path = path
        self.dataobj = to_dataobj(dataobj) if dataobj is not None else None
        self.load = load
        self.content_type = check_content_type(content_type)
        self.write = write
        if self.dataobj is not None and self.dataobj.data_type != self.data_type:
            raise RainException(f"{type(self).__name__} needs a {self.data_type.value} object, got {self.dataobj!r}")

    def bind(self, dataobj: Any) -> InputBase:
        """A copy of this placeholder attached to a concrete object."""
        return type(self)(self.label, self.path, dataobj, self.load, self.content_type, self.write)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r} path={self.path!r} obj={self.dataobj!r}>"


class Input(InputBase):
    """A blob input (see `InputBase`)."""

    data_type = DataType.BLOB


class InputDir(InputBase):
    """A dir input (see `InputBase`)."""

    data_type = DataType.DIRECTORY


__all__ = ["Input", "InputBase", "InputDir"]
