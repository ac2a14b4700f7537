"""Life-cycle states of tasks and objects, and data types; string valued so the wire carries names."""

from __future__ import annotations

import enum


class TaskState(str, enum.Enum):
    """Where a task is: waiting (`not_assigned`, `ready`), on a governor, or done."""

    not_assigned = "not_assigned"
    ready = "ready"
    assigned = "assigned"
    running = "running"
    finished = "finished"
    failed = "failed"


class DataObjectState(str, enum.Enum):
    """Whether an object's data exists yet (`finished`) or was deleted (`removed`)."""

    unfinished = "unfinished"
    finished = "finished"
    removed = "removed"


class DataType(str, enum.Enum):
    """What a data object holds: a blob (bytes) or a directory tree; prints as "blob" / "dir"."""

    BLOB = "blob"
    DIRECTORY = "dir"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def from_value(cls, value: str | DataType) -> DataType:
        try:  # a dict lookup: calling the enum costs ten times as much, for every data instance
            return _DATA_TYPES[value]
        except (KeyError, TypeError):
            raise ValueError(f"invalid data type {value!r} (expected 'blob' or 'dir')") from None


_DATA_TYPES = {member.value: member for member in DataType}  # a member is equal to its value
