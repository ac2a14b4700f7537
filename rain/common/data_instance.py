"""`DataInstance`: the data of one finished data object, as a client or a task sees it.

An instance wraps either bytes in memory or a path on disk (a file for a blob, a
directory for a dir object; a dir may also arrive in memory as a tar archive).
It gives uniform access to the raw bytes, the decoded value, and to copies or
read-only links on the local filesystem, whichever of the two forms it holds.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from rain.common import dirtar
from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.content_types import check_content_type, decode_value, text_encoding
from rain.common.errors import RainException
from rain.common.ids import ID
from rain.common.leases import Lease
from rain.common.states import DataType

_NOTHING = object()


class DataInstance:
    """Data of a finished data object, held as bytes or as a path.

    Users do not create these directly; they come from `fetch()` or from the
    context of a running remote task.
    """

    def __init__(
        self,
        data_type: str | DataType = DataType.BLOB,
        *,
        data: bytes | None = None,
        path: str | os.PathLike[str] | None = None,
        content_type: str | None = None,
        spec: ObjectSpec | None = None,
        info: ObjectInfo | None = None,
        object_id: ID | None = None,
        data_object: Any = None,
        lease: Lease | None = None,
    ) -> None:
        if (data is None) == (path is None):
            raise ValueError("DataInstance needs exactly one of data and path")
        self.data_type: DataType = DataType.from_value(data_type)
        self._data: bytes | None = data if data is None or isinstance(data, bytes) else bytes(data)
        self._path: str | None = os.fspath(path) if path is not None else None
        self._content_type = check_content_type(content_type)
        if data_object is not None:  # a client-side DataObject this data belongs to
            spec = spec if spec is not None else data_object.spec
            info = info if info is not None else data_object.info
        self.spec: ObjectSpec | None = spec
        self.info: ObjectInfo = info if info is not None else ObjectInfo()
        if object_id is None and spec is not None:
            object_id = spec.id
        self.object_id: ID | None = object_id
        self._load_cache: Any = _NOTHING
        self.lease = lease  # the reading task's, where `link` leases the inodes it links

    @classmethod
    def unchecked(cls, data_type: DataType, data: bytes | None, path: str | None, content_type: str | None,
                  spec: ObjectSpec | None, info: ObjectInfo, lease: Lease | None) -> DataInstance:
        """The instance `__init__` would make of values the caller already checked (a stored
        object, bytes an executor returned): a governor makes several per task."""
        self = cls.__new__(cls)
        self.data_type = data_type
        self._data = data
        self._path = path
        self._content_type = content_type
        self.spec = spec
        self.info = info
        self.object_id = spec.id if spec is not None else None
        self._load_cache = _NOTHING
        self.lease = lease
        return self

    @property
    def content_type(self) -> str | None:
        """Dynamic type (info) if set, else the static one (spec), else the given one."""
        if self.info.content_type:
            return self.info.content_type
        if self.spec is not None and self.spec.content_type:
            return self.spec.content_type
        return self._content_type

    @property
    def data(self) -> bytes | None:
        """The bytes held in memory, if the instance is not backed by disk."""
        return self._data

    @property
    def path(self) -> str | None:
        """The file or directory holding the data, if the instance is backed by disk."""
        return self._path

    @property
    def size(self) -> int:
        """Size in bytes: of the data held, or of the file / all files of the tree."""
        if self._data is not None:
            return len(self._data)
        assert self._path is not None
        return dirtar.tree_size(self._path)

    def get_bytes(self) -> bytes:
        """Raw content; a directory object gives a tar archive."""
        if self._data is not None:
            return self._data
        assert self._path is not None
        if self.data_type == DataType.DIRECTORY:
            return dirtar.pack_directory(self._path)
        with open(self._path, "rb") as f:
            return f.read()

    def get_str(self) -> str:
        """Content decoded as text ("text-ENC" gives the encoding, utf-8 otherwise)."""
        if self.data_type == DataType.DIRECTORY:
            raise RainException(f"cannot read a directory object as text ({self!r})")
        encoding = text_encoding(self.content_type)
        try:
            return self.get_bytes().decode(encoding)
        except UnicodeDecodeError as exc:
            raise RainException(f"cannot decode {self!r} as {encoding} text: {exc}") from exc

    def load(self, cache: bool = False) -> Any:
        """Deserialize the content according to the content type.

        With `cache=True` the value is decoded once and the same object returned by every
        later `load(cache=True)`; do not modify it then.
        """
        if cache and self._load_cache is not _NOTHING:
            return self._load_cache
        if self.data_type == DataType.DIRECTORY:
            raise RainException(
                f"cannot load a directory object ({self!r}); use write() or link()"
            )
        value = decode_value(self.get_bytes(), self.content_type)
        if cache:
            self._load_cache = value
        return value

    def write(self, path: str | os.PathLike[str]) -> None:
        """Create a fresh writable copy at `path` (a file, or a directory for dirs).

        Whatever is at `path` already (a file, a link or a whole tree) is replaced.
        """
        target = os.fspath(path)
        if os.path.lexists(target):
            if self._path is not None and os.path.realpath(target) == os.path.realpath(self._path):
                raise RainException(f"cannot write data to {target!r}: it holds the data itself")
            dirtar.remove_tree(target)
        if self.data_type == DataType.DIRECTORY:
            if self._data is not None:
                dirtar.unpack_directory(self._data, target)
            else:
                assert self._path is not None
                dirtar.copy_tree(self._path, target)
            dirtar.make_writable(target)
            return
        if self._data is not None:
            with open(target, "xb") as f:
                f.write(self._data)
        else:
            assert self._path is not None
            shutil.copyfile(self._path, target)
            dirtar.make_writable(target)

    def link(self, path: str | os.PathLike[str]) -> None:
        """Make the data visible read-only at `path`, as a real file or directory.

        A disk-backed instance is hard-linked (a dir as a tree of new directories holding
        hard links, see `rain.common.trees.link_tree`), so the files share the stored,
        read-only data; otherwise a read-only copy is written. `path` must not exist. The
        input of a task on a governor leases what it links to that task, so no other task
        starting or ending changes the files it sees (a file held by another copied instead).
        """
        target = os.fspath(path)
        if os.path.lexists(target):
            raise RainException(f"cannot link data to {target!r}: path exists")
        if self._path is not None:
            if os.stat(self._path).st_mode & 0o222:  # stored data is read-only already: no tree walk
                dirtar.make_read_only(self._path)
            dirtar.link_tree(self._path, target, self.lease)
        elif self.data_type == DataType.BLOB:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            with open(fd, "wb") as f:
                f.write(self._data or b"")
        else:
            self.write(target)
            dirtar.make_read_only(target)

    def __repr__(self) -> str:
        where = f"path={self._path!r}" if self._path is not None else f"{len(self._data or b'')} bytes"
        oid = f" id={self.object_id!r}" if self.object_id is not None else ""
        return (
            f"<DataInstance {self.data_type.value}{oid} {where} "
            f"content_type={self.content_type!r}>"
        )
