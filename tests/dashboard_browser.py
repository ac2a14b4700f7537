"""Headless Chromium driving the dashboard, for the browser test and the screenshots in docs/.

Debian's `chromium` is driven over CDP by playwright's Python package, pointed at the system
browser (no browser download). The flags keep Chromium from reaching for the network, which
on an offline machine makes it hang at start-up.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1360, "height": 900}


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def open_page(profile_dir: str) -> Iterator[Any]:
    """A page in a fresh headless Chromium with its own profile directory."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile_dir, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport=VIEWPORT, device_scale_factor=1)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            context.close()


def screenshot(page: Any, directory: str, name: str) -> str:
    """Saves a full-page PNG in `directory`, and a copy in $RAIN_SCREENSHOT_DIR when set (docs)."""
    path = os.path.join(directory, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    docs_dir = os.environ.get("RAIN_SCREENSHOT_DIR")
    if docs_dir:
        os.makedirs(docs_dir, exist_ok=True)
        shutil.copy(path, os.path.join(docs_dir, f"dashboard-{name}.png"))
    return path
