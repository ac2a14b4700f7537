"""Every runnable example of README.md and docs/ runs against a live cluster.

Each page is one test: its `python` blocks run in order in one namespace, as a reader would
paste them into one interpreter, in a fresh current directory. A failure points at the page and
line (the code is compiled with the page as its file name and its real line numbers). The
convention for which blocks run is in docs/README.md.
"""

from __future__ import annotations

import gc
import os

import pytest

from tests.docs.markdown import NO_RUN, RUN_LANGUAGE, blocks, doc_pages, runnable_pages


@pytest.mark.timeout(180)
@pytest.mark.parametrize("page", runnable_pages())
def test_page_examples_run(page, to_docs_cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    try:
        for block in blocks(page):
            if block.runs:
                code = compile("\n" * (block.line - 1) + block.code, block.path, "exec")
                exec(code, namespace)
    finally:
        for value in list(namespace.values()):
            close = getattr(value, "close", None)
            if type(value).__name__ == "Client" and callable(close):
                close()
        namespace.clear()
        gc.collect()


def test_python_blocks_say_whether_they_run():
    """A typo in the marker (`python norun`) must not silently turn a block into one that runs
    or one that does not."""
    for page in doc_pages():
        for block in blocks(page):
            if block.language == RUN_LANGUAGE:
                assert block.info.split()[1:] in ([], [NO_RUN]), f"{page}:{block.line - 1}: {block.info!r}"


def test_every_page_is_found():
    pages = doc_pages()
    assert "README.md" in pages and os.path.join("docs", "plugins.md") in pages
    assert not any("_build" in p for p in pages)
