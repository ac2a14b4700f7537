"""Progress bars for `Session.wait(..., progress=True)` and `Session.wait_all(progress=True)`.

The bar is moved by `Progress` messages the server pushes a few times a second while the wait
is pending; the client sends nothing more and polls nothing. `RAIN_PROGRESS=1` in the
environment turns bars on for every wait that does not say otherwise. With bars off nothing
here runs and tqdm is not even imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rain.core.protocol import messages as m


def progress_wanted(progress: bool | None) -> bool:
    if progress is None:
        return os.environ.get("RAIN_PROGRESS") == "1"
    return bool(progress)


class ProgressBar:
    """A tqdm bar: finished of total, failures in the postfix, tqdm's own rate."""

    def __init__(self, description: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(desc=description, total=None, unit="task", dynamic_ncols=True, leave=True)
        self._failed = 0

    def update(self, msg: m.Progress) -> None:
        bar = self._bar
        if bar.total != msg.total:
            bar.total = msg.total
        if msg.failed != self._failed:
            self._failed = msg.failed
            bar.set_postfix(failed=msg.failed, refresh=False)
        if msg.finished > bar.n:
            bar.update(msg.finished - bar.n)  # through update(), so tqdm computes the rate
        bar.refresh()  # pushes come a few times a second at most: show each one

    def finish(self, done: bool) -> None:
        bar = self._bar
        if done and bar.total is not None and bar.n < bar.total:
            bar.update(bar.total - bar.n)
        bar.close()


@contextmanager
def progress_callback(progress: bool | None, description: str) -> Iterator[dict[str, Any]]:
    """Keyword arguments for `Connection.request`: `on_progress` when a bar is wanted, else none."""
    if not progress_wanted(progress):
        yield {}
        return
    bar = ProgressBar(description)
    done = False
    callback: Callable[[m.Progress], None] = bar.update
    try:
        yield {"on_progress": callback}
        done = True
    finally:
        bar.finish(done)
