"""Inode leases: a reader's hard-linked files keep their stats while other trees come and go."""

from __future__ import annotations

import os

import pytest

from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.ids import ID
from rain.common.leases import REGISTRY, Lease
from rain.common.trees import LINK_BATCH, link_tree, make_read_only, remove_tree
from rain.core.governor.store import ObjectStore
from tests.files import tree_contents


@pytest.fixture
def stored(tmp_path):
    root = tmp_path / "stored"
    (root / "sub" / "deep").mkdir(parents=True)
    for i in range(20):
        (root / f"f{i}").write_bytes(b"x" * i)
    (root / "sub" / "b.txt").write_bytes(b"B")
    (root / "sub" / "deep" / "c.txt").write_bytes(b"C")
    os.symlink("sub/b.txt", root / "link")
    make_read_only(str(root))
    return str(root)


def _stats(root: str) -> dict[str, tuple[int, int, int]]:
    """(inode, link count, ctime) of every regular file of a tree, by relative path."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if not os.path.islink(os.path.join(dirpath, name)):
                found[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_ino, st.st_nlink, st.st_ctime_ns)
    return found


def _inodes(root: str) -> dict[str, int]:
    return {path: ino for path, (ino, _links, _ctime) in _stats(root).items()}


def test_other_readers_trees_do_not_touch_a_readers_files(stored, tmp_path):
    first, second = Lease(), Lease()
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    link_tree(stored, a, first)
    seen = _stats(a)
    assert _inodes(a) == _inodes(stored)  # the fast path: every file linked

    link_tree(stored, b, second)
    assert _stats(a) == seen
    assert set(_inodes(b).values()).isdisjoint(_inodes(stored).values())  # held by `first`: copied
    assert tree_contents(b) == tree_contents(a) == tree_contents(stored)
    assert all(not os.stat(os.path.join(b, path)).st_mode & 0o222 for path in _stats(b))
    remove_tree(b)
    second.release()
    assert _stats(a) == seen

    remove_tree(a)
    first.release()
    third = Lease()
    c = str(tmp_path / "c")
    link_tree(stored, c, third)
    assert _inodes(c) == _inodes(stored)  # all released: linked again
    assert tree_contents(c) == tree_contents(stored)
    remove_tree(c)
    third.release()


def test_a_reader_may_link_its_own_leased_files_again(stored, tmp_path):
    lease = Lease()
    link_tree(stored, str(tmp_path / "a"), lease)
    link_tree(stored, str(tmp_path / "again"), lease)
    assert _inodes(str(tmp_path / "again")) == _inodes(stored)
    lease.release()


def test_trees_without_lease_copy_what_a_reader_holds(stored, tmp_path):
    lease = Lease()
    a = str(tmp_path / "a")
    link_tree(os.path.join(stored, "sub"), a, lease)
    seen = _stats(a)
    built = str(tmp_path / "built")
    link_tree(stored, built)  # as MakeDirectory does: the new object shares what nobody reads
    assert _stats(a) == seen
    assert _inodes(built)["f3"] == _inodes(stored)["f3"]
    assert _inodes(built)["sub/b.txt"] != _inodes(stored)["sub/b.txt"]
    assert tree_contents(built) == tree_contents(stored)
    lease.release()


def test_single_files_are_leased_too(stored, tmp_path):
    lease, other = Lease(), Lease()
    source = os.path.join(stored, "f5")
    link_tree(source, str(tmp_path / "one"), lease)
    before = os.stat(tmp_path / "one")
    link_tree(source, str(tmp_path / "two"), other)
    after = os.stat(tmp_path / "one")
    assert (after.st_ino, after.st_nlink, after.st_ctime_ns) == (before.st_ino, before.st_nlink, before.st_ctime_ns)
    assert os.stat(tmp_path / "two").st_ino != before.st_ino
    assert (tmp_path / "two").read_bytes() == b"x" * 5
    lease.release()
    other.release()


def test_store_deletion_of_shared_inodes_waits_for_the_reader(stored, tmp_path):
    shared = str(tmp_path / "shared")  # another stored object holding links to the same files
    link_tree(stored, shared)
    lone = str(tmp_path / "lone")
    link_tree(os.path.join(stored, "f7"), lone)
    lease = Lease()
    a = str(tmp_path / "a")
    link_tree(stored, a, lease)
    seen = _stats(a)

    aside = str(tmp_path / "aside")
    assert not REGISTRY.remove_tree(shared, aside)
    assert not REGISTRY.remove_tree(lone, str(tmp_path / "unused"))
    assert not os.path.exists(shared) and os.path.isdir(aside) and os.path.exists(lone)
    assert _stats(a) == seen

    remove_tree(a)
    lease.release()
    assert not os.path.exists(aside) and not os.path.exists(lone)
    assert aside not in REGISTRY.deferred()


def test_store_deletion_of_unread_data_is_immediate(stored, tmp_path):
    shared = str(tmp_path / "shared")
    link_tree(stored, shared)
    assert REGISTRY.remove_tree(shared, str(tmp_path / "aside"))
    assert not os.path.exists(shared) and not os.path.exists(tmp_path / "aside")


def test_an_ended_lease_leases_nothing(stored, tmp_path):
    lease = Lease()
    lease.release()
    link_tree(stored, str(tmp_path / "late"), lease)  # an abandoned worker thread, say
    other = Lease()
    link_tree(stored, str(tmp_path / "b"), other)
    assert _inodes(str(tmp_path / "b")) == _inodes(stored)
    other.release()


def test_governor_store_deletes_shared_files_after_the_reading_task(tmp_path):
    store = ObjectStore(str(tmp_path / "gov"))
    source = tmp_path / "made"
    source.mkdir()
    (source / "a.txt").write_bytes(b"A")
    original = store.put_file(ObjectSpec(ID(1, 1), "d", data_type="dir"), ObjectInfo(), str(source))
    built = store.put_instance(ObjectSpec(ID(1, 2), "m", data_type="dir"), ObjectInfo(), original.instance())
    assert built.path is not None and os.stat(os.path.join(built.path, "a.txt")).st_nlink == 2  # shared

    lease = Lease()
    reader = str(tmp_path / "reader")
    original.instance(lease).link(reader)
    seen = _stats(reader)
    store.delete(built.id)
    assert store.get(built.id) is None and not os.path.exists(built.path)
    assert _stats(reader) == seen
    remove_tree(reader)
    lease.release()
    assert os.listdir(store.tmp_dir) == []
    assert os.stat(os.path.join(original.path or "", "a.txt")).st_nlink == 1


def test_a_deferred_file_replaced_meanwhile_is_left_alone(stored, tmp_path):
    lone = str(tmp_path / "lone")
    link_tree(os.path.join(stored, "f7"), lone)
    lease = Lease()
    link_tree(lone, str(tmp_path / "reader"), lease)
    assert not REGISTRY.remove_tree(lone, str(tmp_path / "unused"))
    (tmp_path / "new").write_bytes(b"new")
    os.replace(tmp_path / "new", lone)  # the same name stored again before the reader ends
    lease.release()
    assert (tmp_path / "lone").read_bytes() == b"new"
    assert lone not in REGISTRY.deferred()


def test_large_directories_are_leased_whole(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(LINK_BATCH + 10):  # more files than one hold of the lock links
        (flat / f"f{i}").write_bytes(b"%d" % i)
    make_read_only(str(flat))
    first, second = Lease(), Lease()
    link_tree(str(flat), str(tmp_path / "a"), first)
    link_tree(str(flat), str(tmp_path / "b"), second)
    assert _inodes(str(tmp_path / "a")) == _inodes(str(flat))
    assert set(_inodes(str(tmp_path / "b")).values()).isdisjoint(_inodes(str(flat)).values())
    assert tree_contents(tmp_path / "b") == tree_contents(flat)
    first.release()
    second.release()
