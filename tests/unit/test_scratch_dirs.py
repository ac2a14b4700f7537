"""Scratch dirs of tasks: reused when a task left only files and empty dirs, else removed."""

from __future__ import annotations

import os

from rain.core.governor.context import ScratchDirs


def test_emptied_dir_is_reused_empty(tmp_path):
    pool = ScratchDirs(str(tmp_path))
    first = pool.take()
    os.mkdir(os.path.join(first, "sub"))
    with open(os.path.join(first, "out"), "w") as f:
        f.write("x")
    os.symlink("/", os.path.join(first, "link"))
    pool.give_back(first)
    assert pool.take() == first
    assert os.listdir(first) == []


def test_deep_or_changed_dirs_are_removed(tmp_path):
    pool = ScratchDirs(str(tmp_path))
    deep, locked = pool.take(), pool.take()
    os.makedirs(os.path.join(deep, "a", "b"))
    os.mkdir(os.path.join(locked, "ro"))
    os.chmod(locked, 0o500)
    pool.give_back(deep)
    pool.give_back(locked)
    assert not os.path.exists(deep) and not os.path.exists(locked)
    fresh = pool.take()
    assert fresh not in (deep, locked) and os.listdir(fresh) == []
