"""Fenced code blocks of the Markdown pages, and which of them run (see docs/README.md).

A block whose info string is `python` runs; `python no-run` marks one that does not (a
fragment, or code for another place such as a plugin module). Other languages never run.
"""

from __future__ import annotations

import os
import re

import attrs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_LANGUAGE = "python"
NO_RUN = "no-run"
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@attrs.frozen
class Block:
    path: str  # relative to the repository root
    line: int  # 1-based line of the first code line
    info: str
    code: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def runs(self) -> bool:
        return self.language == RUN_LANGUAGE and NO_RUN not in self.info.split()[1:]


def doc_pages() -> list[str]:
    """README.md and every Markdown page under docs/ (build output excluded), repo-relative."""
    pages = ["README.md"]
    for root, dirs, files in os.walk(os.path.join(REPO_ROOT, "docs")):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        pages += sorted(os.path.relpath(os.path.join(root, f), REPO_ROOT) for f in files if f.endswith(".md"))
    return pages


def blocks(page: str) -> list[Block]:
    with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as f:
        lines = f.read().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.fullmatch(rf" {{0,3}}{fence[0]}{{{len(fence)},}}\s*", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        found.append(Block(page, i + 2, opening["info"].strip(), "\n".join(body) + "\n"))
        i = j + 1
    return found


def runnable_pages() -> list[str]:
    return [page for page in doc_pages() if any(b.runs for b in blocks(page))]
