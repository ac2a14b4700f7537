"""`Output` and `OutputDir`: the specification of a data object a task will produce.

The same class serves a task factory's declaration (`@remote(outputs=...)`, `Program`) and a
single call's refinement (`fn(outputs=[...])`, `prog(out=Output(...))`); `merge_with_prototype`
combines the two: what the call gives wins, the declaration fills the rest.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rain.common.content_types import check_content_type
from rain.common.errors import RainException
from rain.common.states import DataType

if TYPE_CHECKING:
    from rain.client.data import DataObject
    from rain.client.session import Session


def _check_size_hint(size_hint: Any) -> float | int | None:
    if size_hint is None:
        return None
    if isinstance(size_hint, bool) or not isinstance(size_hint, (int, float)) or not size_hint >= 0 \
            or math.isinf(size_hint):
        raise RainException(f"size_hint must be a non-negative number, got {size_hint!r}")
    return size_hint


class OutputBase:
    """A data object a task produces: label, size hint, content type, encoding, file path.

    `encode` (remote Python tasks) serializes the returned value with that content type;
    giving both `content_type` and `encode` is allowed only when they agree.
    """

    data_type = DataType.BLOB

    def __init__(self, label: str | None = None, *, size_hint: float | None = None,
                 content_type: str | None = None, mode: Any = None, encode: str | None = None,
                 path: str | None = None) -> None:
        if label is not None and not isinstance(label, str):
            raise RainException(f"Output label must be a str, got {label!r}")
        if path is not None and not isinstance(path, str):
            raise RainException(f"Output path must be a str, got {path!r}")
        content_type, encode = check_content_type(content_type), check_content_type(encode)
        if content_type is not None and encode is not None and content_type != encode:
            raise RainException(f"Output content_type {content_type!r} and encode {encode!r} must agree "
                                "when both are given")
        self.label = label if label is not None else path
        self.size_hint = _check_size_hint(size_hint)
        self.content_type = content_type
        self.encode = encode
        self.mode = mode
        self.path = path

    def _copy(self, **changes: Any) -> OutputBase:
        fields = {"label": self.label, "size_hint": self.size_hint, "content_type": self.content_type,
                  "mode": self.mode, "encode": self.encode, "path": self.path}
        fields.update(changes)
        label = fields.pop("label")
        return type(self)(label, **fields)

    def with_defaults(self, label: str | None) -> OutputBase:
        return self._copy(label=self.label if self.label is not None else label)

    def merge_with_prototype(self, proto: OutputBase) -> OutputBase:
        """This output refining a declared `proto`: the fields given here win, the others come
        from `proto`. A declared encoding follows a new content type (the value is then encoded
        with that type), as a call asking for "json" output wants JSON bytes."""
        if proto.data_type != self.data_type:
            raise RainException(f"{self!r} cannot refine {proto!r}: data types differ")
        content_type, encode = self.content_type, self.encode
        if encode is None:
            encode = proto.encode if content_type is None else (content_type if proto.encode else None)
        if content_type is None:
            content_type = proto.content_type if self.encode is None else None
        return self._copy(label=self.label if self.label is not None else proto.label,
                          size_hint=self.size_hint if self.size_hint is not None else proto.size_hint,
                          content_type=content_type, encode=encode,
                          mode=self.mode if self.mode is not None else proto.mode,
                          path=self.path if self.path is not None else proto.path)

    def create_object(self, session: Session | None = None) -> DataObject:
        from rain.client.data import DataObject

        obj = DataObject(self.label, session=session, data_type=self.data_type,
                         content_type=self.content_type or self.encode)
        if self.size_hint is not None:
            obj._size_hint = math.ceil(self.size_hint)  # the server keeps whole bytes
        return obj

    create_data_object = create_object  # the Rain 0.4 name

    def expect_dir(self) -> None:
        """Raise TypeError if this is not a directory output."""
        if self.data_type != DataType.DIRECTORY:
            raise TypeError(f"{self!r}: a directory output (OutputDir) expected")

    def expect_blob(self) -> None:
        """Raise TypeError if this is not a blob output."""
        if self.data_type != DataType.BLOB:
            raise TypeError(f"{self!r}: a blob output (Output) expected")

    def __repr__(self) -> str:
        path = f" path={self.path!r}" if self.path is not None else ""
        return f"<{type(self).__name__} {self.label!r}{path}>"


class Output(OutputBase):
    """A blob output (see `OutputBase`)."""

    data_type = DataType.BLOB


class OutputDir(OutputBase):
    """A dir output (see `OutputBase`)."""

    data_type = DataType.DIRECTORY


__all__ = ["Output", "OutputBase", "OutputDir"]
