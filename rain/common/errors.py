"""User-facing exceptions of the client API (and of remote tasks)."""

from __future__ import annotations


class RainException(Exception):
    """Base of every error Rain reports to its user."""


class SessionException(RainException):
    """The session cannot be used: closed, unknown, or failed at the server."""


class TaskException(SessionException):
    """A task of the session failed; the message names the task, its origin and its error.

    A failed task fails its whole session, so this is a `SessionException` (as in Rain 0.4)."""


class RainWarning(Warning):
    """Something works but is probably not what the user wanted (e.g. huge pickled arguments)."""
