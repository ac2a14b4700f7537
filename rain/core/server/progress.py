"""Progress pushed to clients that wait with `progress=True`.

A watcher is a pending `Wait` (its `Waiter`) and the number of items it awaits. A ticker calls
`tick()` a few times a second; each watcher costs O(1) there (the waiter's remaining count, or
the session's unfinished-task count for a whole-session wait), and a `Progress` message goes
out only when the numbers changed. Nothing is done per task, and nothing when nobody watches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio

from rain.core.protocol import messages as m

if TYPE_CHECKING:
    from rain.core.server.state import SessionState, Waiter

PROGRESS_PERIOD = 0.2


@attrs.define(eq=False)
class Watcher:
    session: SessionState
    waiter: Waiter
    total: int | None  # None: every task of the session (the total grows with submits)
    last: tuple[int, int, int] | None = None


class ProgressWatchers:
    def __init__(self) -> None:
        self.watchers: list[Watcher] = []

    def watch(self, session: SessionState, waiter: Waiter, total: int | None) -> None:
        self.watchers.append(Watcher(session, waiter, total))

    def tick(self) -> None:
        if not self.watchers:
            return
        alive = []
        for watcher in self.watchers:
            if watcher.waiter not in watcher.session.waiters:
                continue  # answered (or failed): the reply itself ends the bar
            alive.append(watcher)
            numbers = _numbers(watcher)
            if numbers != watcher.last:
                watcher.last = numbers
                watcher.waiter.link.send(m.Progress(watcher.waiter.request_id, *numbers))
        self.watchers = alive


def _numbers(watcher: Watcher) -> tuple[int, int, int]:
    session = watcher.session
    failed = 1 if session.error is not None else 0
    if watcher.total is None:
        total = len(session.tasks)
        return total - session.unfinished_tasks, failed, total
    return watcher.total - watcher.waiter.remaining, failed, watcher.total


async def serve_progress(watchers: ProgressWatchers, period: float = PROGRESS_PERIOD) -> None:
    while True:
        await trio.sleep(period)
        watchers.tick()
