"""`Input`/`Output` (and the Dir variants): how a task reads and produces data objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rain.common.content_types import check_content_type
from rain.common.errors import RainException
from rain.common.states import DataType

if TYPE_CHECKING:
    from rain.client.data import DataObject
    from rain.client.session import Session


class InputBase:
    data_type = DataType.BLOB

    def __init__(self, label: str | None = None, path: str | None = None, dataobj: Any = None,
                 load: bool | None = None, content_type: str | None = None, write: bool = False) -> None:
        from rain.client.data import to_dataobj

        if label is not None and not isinstance(label, str):
            raise RainException(f"Input label must be a str, got {label!r}")
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
    data_type = DataType.BLOB


class InputDir(InputBase):
    data_type = DataType.DIRECTORY


class OutputBase:
    data_type = DataType.BLOB

    def __init__(self, label: str | None = None, *, size_hint: int | None = None,
                 content_type: str | None = None, mode: Any = None, encode: str | None = None,
                 path: str | None = None) -> None:
        if label is not None and not isinstance(label, str):
            raise RainException(f"Output label must be a str, got {label!r}")
        if content_type is not None and encode is not None:
            raise RainException("specify at most one of content_type and encode")
        self.label = label if label is not None else path
        self.size_hint = size_hint
        self.content_type = check_content_type(content_type)
        self.encode = check_content_type(encode)
        self.mode = mode
        self.path = path

    def with_defaults(self, label: str | None) -> OutputBase:
        out = type(self)(self.label if self.label is not None else label, size_hint=self.size_hint,
                         content_type=self.content_type, mode=self.mode, encode=self.encode, path=self.path)
        return out

    def create_object(self, session: Session | None = None) -> DataObject:
        from rain.client.data import DataObject

        obj = DataObject(self.label, session=session, data_type=self.data_type,
                         content_type=self.content_type or self.encode)
        obj._size_hint = self.size_hint
        return obj

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r}>"


class Output(OutputBase):
    data_type = DataType.BLOB


class OutputDir(OutputBase):
    data_type = DataType.DIRECTORY
