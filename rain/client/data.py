"""`DataObject` and the constant factories `blob`, `pickled`, `directory`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rain.client.session import Session, get_active_session
from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.content_types import check_content_type, encode_value
from rain.common.dirtar import pack_directory
from rain.common.errors import RainException
from rain.common.ids import ID
from rain.common.states import DataObjectState, DataType

if TYPE_CHECKING:
    from rain.common.data_instance import DataInstance


class DataObject:
    """A node of the graph holding data: a constant, or the output of a task."""

    # The `ObjectSpec` is made when first asked for (see `Task` on why graph building avoids
    # allocations); until then its fields live in slots and the submit row is made from them.
    __slots__ = ("__weakref__", "_built_spec", "_content_type", "_copy", "_data", "_data_type", "_info", "_keep",
                 "_label", "_num", "_producer", "_session", "_size_hint", "_state")

    def __init__(self, label: str | None = None, session: Session | None = None,
                 data_type: DataType | str = DataType.BLOB, content_type: str | None = None) -> None:
        session = session or get_active_session()
        if label is not None and not isinstance(label, str):
            raise RainException(f"data object label must be a str, got {label!r}")
        data_type = "blob" if data_type is DataType.BLOB else DataType.from_value(data_type).value
        self._init_fields(session, label, data_type,
                          check_content_type(content_type) if content_type is not None else None)

    def _init_fields(self, session: Session, label: str | None, data_type: str, content_type: str | None) -> None:
        """Sets every field from arguments already checked (by `__init__`, or once for all the
        calls of a task factory) and registers the object; `data_type` is the `DataType` value."""
        self._num = session._add_object(self)  # first: a closed session raises before anything changes
        self._data_type = data_type
        self._content_type = content_type
        self._label = label
        self._built_spec: ObjectSpec | None = None
        self._session = session
        self._info: ObjectInfo | None = None
        self._state: DataObjectState | None = None
        self._keep = False
        self._data: bytes | None = None  # a constant's data; kept after submit for reuse
        self._size_hint: int | None = None
        self._producer: Any = None  # the unsubmitted Task producing this object
        self._copy: DataObject | None = None

    @classmethod
    def _from_server_row(cls, session: Session, row: list[Any]) -> DataObject:
        """An object another client submitted, for a session attached here: the server's row
        [id, label, data_type, content_type, keep, state]. The same fields as `__init__`
        (which is not called: the id is given, and the object is already submitted)."""
        num, label, data_type, content_type, keep, state = row
        obj = cls.__new__(cls)
        obj._data_type = data_type
        obj._content_type = content_type
        obj._num = num
        obj._label = label
        obj._built_spec = None
        obj._session = session
        obj._info = None
        obj._state = DataObjectState(state)
        obj._keep = keep
        obj._data = None
        obj._size_hint = None
        obj._producer = None
        obj._copy = None
        return obj

    @property
    def id(self) -> ID:
        """The object's `ID(session_id, id)`."""
        return ID(self._session.session_id, self._num)

    @property
    def spec(self) -> ObjectSpec:
        """What the graph declares (`ObjectSpec`: label, content type, data type); fixed at submit."""
        spec = self._built_spec
        if spec is None:
            spec = self._built_spec = ObjectSpec(self.id, self._label, self._content_type, self._data_type)
        return spec

    @property
    def info(self) -> ObjectInfo | None:
        """What happened (`ObjectInfo`: size, content type, user data) as of the last update; None before."""
        return self._info

    @property
    def state(self) -> DataObjectState | None:
        """`DataObjectState` as of the last update, wait or fetch; None before submit."""
        return self._state

    @property
    def label(self) -> str | None:
        """The label given at creation (e.g. the output label of its task)."""
        return self._label if self._built_spec is None else self._built_spec.label

    @property
    def data_type(self) -> DataType:
        """`DataType.BLOB` or `DataType.DIRECTORY`."""
        return DataType(self._data_type)

    @property
    def session(self) -> Session:
        """The session the object belongs to."""
        return self._session

    @property
    def content_type(self) -> str | None:
        """The final content type if known, else the one from the spec."""
        if self._info is not None and self._info.content_type:
            return self._info.content_type
        return self._content_type if self._built_spec is None else self._built_spec.content_type

    def keep(self) -> None:
        """Keeps the object after submit so it can be fetched or used by later submits; only before submit."""
        if self._state is not None:
            raise RainException(f"{self!r} is already submitted; keep() must be called before submit")
        self._keep = True

    def unkeep(self) -> None:
        """Lets the server free the object; RainException if it is not kept."""
        self._session.unkeep([self])

    def expect_dir(self) -> None:
        """Raise TypeError if this is not a directory object."""
        if self.data_type != DataType.DIRECTORY:
            raise TypeError(f"{self!r}: a directory object expected")

    def _resubmittable(self) -> DataObject:
        """A submitted constant the server may have freed, as an input of a new task: an
        unsubmitted copy carrying the same data (one per submit), sent again with the graph."""
        copy = self._copy
        if copy is None or copy._state is not None:
            copy = DataObject(self.label, self._session, self.data_type, self._spec_content_type)
            if self._built_spec is not None and self._built_spec.user:
                copy.spec.user = self._built_spec.user
            copy._data = self._data
            self._copy = copy
        return copy

    def is_kept(self) -> bool:
        """Whether the object is kept."""
        return self._keep

    def fetch(self, path: str | os.PathLike[str] | None = None) -> DataInstance:
        """Waits until the object is finished and downloads its data (the object must be kept).

        `path`: download straight into a file (a directory for a dir object) at `path` instead
        of into memory, replacing what is there; for big objects. The instance returned is
        backed by that file."""
        return self._session.fetch(self, path)

    def wait(self) -> None:
        """Waits until the object is finished."""
        self._session.wait([self])

    def update(self) -> None:
        """Refreshes `state` and `info` from the server without waiting."""
        self._session.update([self])

    def _mark_finished(self) -> None:
        if self._state == DataObjectState.unfinished:
            self._state = DataObjectState.finished

    @property
    def _spec_content_type(self) -> str | None:
        return self._content_type if self._built_spec is None else self._built_spec.content_type

    def _to_row(self) -> list[Any]:
        """The submit row: the spec row (`ObjectSpec.to_row` layout), then keep, constant data
        and size hint."""
        if self._built_spec is not None:
            return [*self._built_spec.to_row(), self._keep, self._data, self._size_hint]
        return [self._num, self._label, self._content_type, self._data_type, None,
                self._keep, self._data, self._size_hint]

    def __repr__(self) -> str:
        return f"<DataObject {self.id} {self.label!r} {self._data_type}>"


def to_dataobj_or_task(value: Any, allow_task: bool = False) -> Any:
    """A DataObject (a task stands for its single output), or with `allow_task` a Task as is."""
    from rain.client.task import Task

    if isinstance(value, DataObject):
        return value
    if isinstance(value, Task):
        return value if allow_task else value.output
    raise RainException(f"expected a DataObject or a Task, got {value!r}")


def to_dataobj(value: Any) -> DataObject:
    return to_dataobj_or_task(value)


def _constant(data: bytes, label: str, content_type: str | None, data_type: DataType) -> DataObject:
    obj = DataObject(label, data_type=data_type, content_type=content_type)
    obj._data = data
    return obj


def blob(value: Any, label: str = "const", content_type: str | None = None, encode: str | None = None) -> DataObject:
    """A constant blob: bytes as is, str as utf-8 text, any value with `encode=`."""
    if content_type is not None and encode is not None:
        raise RainException("specify at most one of content_type and encode")
    if encode is not None:
        check_content_type(encode)
        return _constant(encode_value(value, encode), label, encode, DataType.BLOB)
    check_content_type(content_type)
    if isinstance(value, str):
        if content_type is not None and content_type != "text" and not content_type.startswith("text-"):
            raise RainException(f"a str value needs a text content type, not {content_type!r}")
        return _constant(encode_value(value, content_type or "text"), label, content_type or "text", DataType.BLOB)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _constant(bytes(value), label, content_type, DataType.BLOB)
    raise RainException(f"blob value must be bytes or str (or use encode=), got {type(value).__name__}")


def pickled(val: Any, label: str = "pickle") -> DataObject:
    """A constant blob holding `val` pickled: `blob(val, label, encode="pickle")`."""
    return blob(val, label, encode="pickle")


def directory(path: str, label: str = "const_dir") -> DataObject:
    """A constant dir object made from a directory on the client's filesystem."""
    if not os.path.isdir(path):
        raise RainException(f"directory {path!r} does not exist")
    return _constant(pack_directory(path), label, None, DataType.DIRECTORY)
