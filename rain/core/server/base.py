"""What every part of the `Server` (server.py) builds on: its state, the journal and event
hooks, and the error a refused client request raises."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from rain.core.protocol import messages as m
from rain.core.protocol.messages import ErrorCategory
from rain.core.server.held import HeldOutputs
from rain.core.server.progress import ProgressWatchers
from rain.core.server.state import GovernorState, SessionState, TaskNode
from rain.core.server.submit import SubmitLimits


class RequestError(Exception):
    """A client request is refused; `category` selects the client's exception class."""

    def __init__(self, message: str, category: ErrorCategory = ErrorCategory.RAIN, task_id: Any = None) -> None:
        super().__init__(message)
        self.category = category
        self.task_id = task_id


class ServerBase:
    """The state every part of the server reads and changes: one set of attributes, made here
    so that each part sees them all, typed."""

    def __init__(self, *, delete_timeout: float = 2.0, test_mode: bool = False,
                 clock: Callable[[], float] = time.monotonic, events: Any = None,
                 submit_limits: SubmitLimits | None = None, heartbeat_timeout: float = 10.0,
                 max_governor_losses: int = 3) -> None:
        self.delete_timeout = delete_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.max_governor_losses = max_governor_losses
        self.submit_limits = submit_limits or SubmitLimits()
        self.refused: Counter[str] = Counter()  # connections refused in their handshake, by reason
        self.test_mode = test_mode
        self.clock = clock
        self.events = events
        self.sessions: dict[int, SessionState] = {}
        self.governors: dict[str, GovernorState] = {}
        self.type_counts: Counter[str] = Counter()
        self.input_kinds: dict[str, list[str]] = {}  # task type -> accepted inputs, when declared
        self.ready: dict[tuple[int, str], deque[TaskNode]] = {}
        self.durations: dict[str, float] = {}
        self.progress = ProgressWatchers()
        self.held = HeldOutputs()  # small kept outputs, to answer their fetch without the governor
        self._next_session_id = 1
        self.journal: Any = None  # a `Journal` (journal.py), or None: nothing survives a restart
        self.incarnation = ""  # names this server's session numbering for reconnecting governors
        self.restoring: set[str] | None = None  # governors awaited after a restore; None: not restoring
        self.lost_governors: set[str] = set()  # declared lost by this process: what they report is not trusted
        # requests answered once the restore is over: (client link, request id, handler)
        self.after_restore: list[tuple[Any, int, Callable[[], None]]] = []

    def journal_append(self, item: list[Any]) -> None:
        if self.journal is not None:
            self.journal.append(item)

    def acknowledge(self, link: Any, reply: m.Message) -> None:
        """Sends a reply once what it confirms is in the journal (at once without a journal)."""
        if self.journal is None:
            link.send(reply)
        else:
            self.journal.after_write(lambda: link.send(reply))

    def record_event(self, kind: str, **fields: Any) -> None:
        if self.events is not None:
            self.events.record(kind, fields)
