"""Inode leases: a file a running task reads through a hard link keeps its ctime and link count.

A read-only input is a tree of hard links to the stored files (`rain.common.trees.link_tree`).
Every new link to an inode, and every unlink of one, changes that inode's link count and ctime,
which every other link sees: GNU tar compares them before and after reading a file and fails
with "file changed as we read it" when another task merely starts or ends with the same input.

So an inode linked into a live reader's tree is *leased* to that reader (a `Lease`, one per
task, released once its trees are removed). While it is leased, nobody else links it: another
reader, or a task building a new object from it (`MakeDirectory`, `SliceDirectory`), gets a
copy of that file instead. The fast path stays one link per file whenever no live reader holds
the inode. Store deletions that would unlink a leased inode wait (`remove_tree`): the tree is
set aside and removed when the last lease on it ends.

The registry is one per process (an inode is a machine-wide thing): the governor's, where
built-in tasks and plugins place their inputs. Trees are linked in worker threads and removed
on the event loop, so a lock guards each check-and-link; a link made with no lease happens
under the lock too, so no reader can lease the inode between the check and the link.
"""

from __future__ import annotations

import os
import stat
import threading

import attrs

Key = tuple[int, int]  # (st_dev, st_ino)


class Lease:
    """The inodes one reader (a running task) holds linked into its own trees."""

    def __init__(self, registry: LeaseRegistry | None = None) -> None:
        self.registry = registry if registry is not None else REGISTRY
        self.keys: set[Key] = set()
        self.ended = False

    def release(self) -> None:
        """Call once the reader's trees are removed. The lease leases nothing after that: a
        tree still being linked by an abandoned worker thread goes the way of a lease-less one."""
        self.registry.release(self)


@attrs.define
class _Deferred:
    path: str
    blocking: set[Key]  # leased inodes in `path` when last checked
    file: Key | None = None  # a file left in place: removed only if still that inode


class LeaseRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[Key, Lease] = {}
        self._deferred: list[_Deferred] = []

    def link(self, files: list[tuple[str, str, Key]], lease: Lease | None) -> list[tuple[str, str]]:
        """Hard-links each `(src, dst, inode of src)` unless a reader other than `lease` holds the
        inode; returns the `(src, dst)` not linked (leased elsewhere, or the link failed) for
        the caller to copy. One lock for a whole directory's files keeps the fast path fast."""
        refused = []
        holders, link = self._holders, os.link
        with self._lock:
            owner = lease if lease is not None and not lease.ended else None
            for src, dst, key in files:
                holder = holders.get(key)
                if holder is not None and holder is not lease:
                    refused.append((src, dst))
                    continue
                try:
                    link(src, dst, follow_symlinks=False)
                except OSError:  # another filesystem, or a hard-link limit
                    refused.append((src, dst))
                    continue
                if owner is not None and holder is None:
                    holders[key] = owner
                    owner.keys.add(key)
        return refused

    def release(self, lease: Lease) -> None:
        """Ends `lease`, then removes the deleted data nobody holds any more."""
        with self._lock:
            lease.ended = True
            for key in lease.keys:
                if self._holders.get(key) is lease:
                    del self._holders[key]
            released, lease.keys = lease.keys, set()
            if not self._deferred or not released:
                return
            waiting = []
            for deferred in self._deferred:
                if deferred.blocking & released:
                    if deferred.file is not None and _inode(deferred.path) != deferred.file:
                        continue  # another object took the name meanwhile: not ours to remove
                    deferred.blocking = self._leased_in(deferred.path)
                    if not deferred.blocking:
                        _remove(deferred.path)
                        continue
                waiting.append(deferred)
            self._deferred = waiting

    def remove_tree(self, path: str, aside: str) -> bool:
        """Removes a stored file or tree, unless it holds an inode a live reader leases: then a
        tree is renamed to `aside` (renaming a directory changes none of its files) and a file
        stays where it is, to be removed when those leases end. True when removed now."""
        with self._lock:
            blocking = self._leased_in(path) if self._holders else set()
            if not blocking:
                _remove(path)
                return True
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)  # a move rewrites its '..'
                os.rename(path, aside)
                self._deferred.append(_Deferred(aside, blocking))
            else:  # renaming a file would change its ctime; another object may take its name meanwhile
                self._deferred.append(_Deferred(path, blocking, _inode(path)))
            return False

    def _leased_in(self, path: str) -> set[Key]:
        """The leased inodes among the files of `path` (lock held)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return set()
        if not stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            return {key} if key in self._holders else set()
        found: set[Key] = set()
        pending = [path]
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif (st.st_dev, entry.inode()) in self._holders:
                        found.add((st.st_dev, entry.inode()))
        return found

    def deferred(self) -> list[str]:
        """The set-aside paths still waiting for leases to end (for tests and monitoring)."""
        with self._lock:
            return [d.path for d in self._deferred]


def _inode(path: str) -> Key | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _remove(path: str) -> None:
    from rain.common.trees import remove_tree  # trees links through this module

    remove_tree(path)


REGISTRY = LeaseRegistry()
