"""How an Execute task can see a stored dir object: cost of each way, on small and large trees.

    python bench/dir_inputs.py [--repeat N]

Prints milliseconds per placement (median of N) for: a symlink to the stored tree (not a real
directory: find and tar see a link), a hard-link tree (`rain.common.trees.link_tree` leasing
its inodes, released once the tree is removed: what Execute does), a copy, a copy made
read-only, and reflinks (FICLONE; "n/a" where the filesystem lacks them). Trees are made in a
temporary directory on the current filesystem.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

from rain.common.leases import Lease
from rain.common.trees import copy_tree, link_tree, make_read_only, remove_tree

FICLONE = 0x40049409
LEASES: list[Lease] = []  # the reading tasks'; released after each placement, as a task's end does
TREES = {  # name: (files, bytes per file)
    "small: 10 files x 1 KiB": (10, 1024),
    "many: 2,000 files x 50 KiB": (2000, 50 * 1024),
    "big: 1 file x 200 MiB": (1, 200 * 1024 * 1024),
}


def make_tree(root: str, files: int, size: int) -> None:
    chunk = os.urandom(min(size, 1 << 20))
    for i in range(files):
        directory = os.path.join(root, f"d{i // 100}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"f{i}"), "wb") as f:
            left = size
            while left > 0:
                f.write(chunk[:left])
                left -= len(chunk)
    make_read_only(root)


def reflink_tree(src: str, dst: str) -> None:
    def clone(s: str, d: str) -> None:
        with open(s, "rb") as fs, open(d, "wb") as fd:
            fcntl.ioctl(fd.fileno(), FICLONE, fs.fileno())

    shutil.copytree(src, dst, copy_function=clone)


def leased_link_tree(src: str, dst: str) -> None:
    LEASES.append(Lease())
    link_tree(src, dst, LEASES[-1])


def copy_read_only(src: str, dst: str) -> None:
    copy_tree(src, dst)
    make_read_only(dst)


WAYS: dict[str, Callable[[str, str], None]] = {
    "symlink": lambda src, dst: os.symlink(src, dst),
    "hard-link tree": leased_link_tree,
    "copy": copy_tree,
    "read-only copy": copy_read_only,
    "reflink tree": reflink_tree,
}


def measure(way: Callable[[str, str], None], src: str, work: str, repeat: int) -> str:
    times = []
    for i in range(repeat):
        dst = os.path.join(work, f"place-{i}")
        start = time.perf_counter()
        try:
            way(src, dst)
        except OSError:
            remove_tree(dst)
            return "n/a"
        times.append(time.perf_counter() - start)
        remove_tree(dst)
        while LEASES:
            LEASES.pop().release()
    return f"{statistics.median(times) * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'tree':30}" + "".join(f"{name:>16}" for name in WAYS) + "   (ms)")
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for label, (files, size) in TREES.items():
            src = os.path.join(tmp, "src")
            make_tree(src, files, size)
            row = [measure(way, src, tmp, args.repeat) for way in WAYS.values()]
            print(f"{label:30}" + "".join(f"{cell:>16}" for cell in row))
            remove_tree(src)


if __name__ == "__main__":
    main()
