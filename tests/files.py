"""Helpers for tests that compare directory trees."""

from __future__ import annotations

import os


def tree_contents(root) -> dict[str, bytes | None]:  # type: ignore[no-untyped-def]
    """Relative path -> file contents (None for directories)."""
    result: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            result[os.path.normpath(os.path.join(rel, d))] = None
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                result[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return result
