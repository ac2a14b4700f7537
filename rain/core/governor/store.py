"""A governor's object store: small blobs in memory, large blobs and all dirs as files.

Stored files and trees are made read-only, so tasks that link them cannot change data other
tasks may read. Deleting stored data that shares files a running task reads through its own
hard links waits for that task's end (`rain.common.leases`). Objects are keyed by ID. What to
delete and when is decided by the governor's state machine (state.py).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import attrs

from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.data_instance import DataInstance
from rain.common.dirtar import check_tree, link_tree, make_read_only, tree_size
from rain.common.ids import ID
from rain.common.leases import REGISTRY, Lease
from rain.common.states import DataType

MEMORY_LIMIT = 256 * 1024


@attrs.define(eq=False)
class StoredObject:
    spec: ObjectSpec
    info: ObjectInfo
    data: bytes | None = None
    path: str | None = None

    @property
    def id(self) -> ID:
        return self.spec.id

    @property
    def size(self) -> int:
        return self.info.size or 0

    def instance(self, lease: Lease | None = None) -> DataInstance:
        """The data as a task reads it; with the task's `lease` its `link` leases the inodes."""
        return DataInstance.unchecked(DataType.from_value(self.spec.data_type), self.data, self.path, None,
                                      self.spec, self.info_copy(), lease)

    def info_copy(self) -> ObjectInfo:
        """A copy a task may change (`info.user`) without touching the stored one."""
        info = self.info
        return ObjectInfo(info.error, info.size, info.content_type, info.debug, dict(info.user))


class ObjectStore:
    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.objects_dir = os.path.join(workdir, "objects")
        self.tasks_dir = os.path.join(workdir, "tasks")
        self.tmp_dir = os.path.join(workdir, "tmp")
        for d in (self.objects_dir, self.tasks_dir, self.tmp_dir):
            os.makedirs(d, exist_ok=True)
        self.objects: dict[ID, StoredObject] = {}
        self._counter = 0
        self.stored_bytes = 0  # sizes of `objects`, kept as they come and go (for monitoring)
        self.received_bytes = 0  # fetched from peers since start (for monitoring)

    def get(self, oid: ID) -> StoredObject | None:
        return self.objects.get(oid)

    def path_for(self, oid: ID) -> str:
        return os.path.join(self.objects_dir, f"{oid.session_id}-{oid.id}")

    def temp_path(self, prefix: str) -> str:
        self._counter += 1
        return os.path.join(self.tmp_dir, f"{prefix}-{self._counter}")

    def put_bytes(self, spec: ObjectSpec, info: ObjectInfo, data: bytes) -> StoredObject:
        info.size = size = len(data)
        if spec.data_type == "dir":
            from rain.common.dirtar import unpack_directory

            path = self.path_for(spec.id)
            unpack_directory(data, path)
            make_read_only(path)
            return self._add(StoredObject(spec, info, path=path))
        if size <= MEMORY_LIMIT:
            return self._add(StoredObject(spec, info, data=data))
        path = self.path_for(spec.id)
        with open(path, "wb") as f:
            f.write(data)
        make_read_only(path)
        return self._add(StoredObject(spec, info, path=path))

    def put_file(self, spec: ObjectSpec, info: ObjectInfo, path: str) -> StoredObject:
        """Moves a file or directory (not copied) into the store; a directory holding special
        files or links leading out of it is refused (RainException)."""
        if spec.data_type == "dir":
            check_tree(path)
        target = self.path_for(spec.id)
        shutil.move(path, target)
        make_read_only(target)
        info.size = tree_size(target)
        return self._add(StoredObject(spec, info, path=target))

    def put_instance(self, spec: ObjectSpec, info: ObjectInfo, instance: DataInstance) -> StoredObject:
        if instance.path is not None:
            if instance.object_id is not None and instance.object_id in self.objects:
                # A pass-through of a stored object: hard links share the data, nothing moves.
                copy = self.temp_path("link")
                link_tree(instance.path, copy)  # new writable dirs: a read-only one cannot be moved
                return self.put_file(spec, info, copy)
            return self.put_file(spec, info, instance.path)
        return self.put_bytes(spec, info, instance.data or b"")

    def _add(self, obj: StoredObject) -> StoredObject:
        old = self.objects.pop(obj.id, None)
        if old is not None:
            self.stored_bytes -= old.size
            if old.path and old.path != obj.path:
                self._remove(old.path)
        self.objects[obj.id] = obj
        self.stored_bytes += obj.size
        return obj

    def delete(self, oid: ID) -> None:
        obj = self.objects.pop(oid, None)
        if obj is None:
            return
        self.stored_bytes -= obj.size
        if obj.path is not None:
            self._remove(obj.path)

    def _remove(self, path: str) -> None:
        """Removes stored data; files a running task reads through its hard links (leased,
        see `rain.common.leases`) are removed only once that task ends."""
        REGISTRY.remove_tree(path, self.temp_path("deleted"))

    def summary(self) -> dict[str, Any]:
        return {"objects": len(self.objects)}
