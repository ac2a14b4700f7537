"""Classifying what ends a connection, for the one-line log at each connection boundary."""

from __future__ import annotations

import trio

from rain.core.protocol.framing import ProtocolError

CONNECTION_ERRORS = (ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError,
                     ConnectionError)


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside `exc` (nurseries wrap everything in groups)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def is_connection_error(exc: BaseException) -> bool:
    """True when every leaf is an expected end of a connection (bad peer, broken stream)."""
    return all(isinstance(leaf, CONNECTION_ERRORS) for leaf in leaves(exc))


def describe(exc: BaseException) -> str:
    return "; ".join(str(leaf) or type(leaf).__name__ for leaf in leaves(exc))

