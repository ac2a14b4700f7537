"""Sphinx configuration of Rain's documentation (`make docs`).

The pages are Markdown (MyST), so they read the same on a forge as on the built site; the API
reference is generated from docstrings (autodoc + napoleon for Google-style sections). The build
runs with warnings as errors: a broken link, a page missing from the table of contents or a
docstring that does not parse fails it.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # document the checkout, even before `pip install`

import rain

project = "Rain"
author = "The Rain developers"
copyright = "The Rain developers"
release = version = rain.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
default_role = "code"  # `name` in docstrings reads as code, as in the Markdown pages

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Python's and trio's objects resolve against their inventories when those are reachable;
# without the network the build still succeeds (the links are just plain text then).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
intersphinx_disabled_reftypes = ["*"]

html_theme = "furo"
html_title = f"Rain {release}"


# Pages that features in progress add at the top of docs/; index.md lists them, and until one
# exists its entry is left out of the table of contents (rather than being a build error).
OPTIONAL_PAGES = ("monitoring", "security", "compatibility")


def _drop_missing_optional_pages(app, docname: str, source: list[str]) -> None:  # type: ignore[no-untyped-def]
    if docname != root_doc:
        return
    for page in OPTIONAL_PAGES:
        if not os.path.exists(os.path.join(app.srcdir, f"{page}.md")):
            source[0] = source[0].replace(f"\n{page}\n", "\n")


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("source-read", _drop_missing_optional_pages)
