"""Helpers shared by the subcommands: addresses, ready files, logging, signal handling."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from typing import Any

import trio

from rain.common.addresses import AddressError, join_address, parse_port, split_address
from rain.common.collector import settle_after_start_up

DEFAULT_PORT = 7210
DEFAULT_HTTP_PORT = 7222


class UserError(Exception):
    """A mistake the user can fix (bad address, port in use...): one line, exit code 2."""


def fail(message: str) -> None:
    print(f"rain: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_listen(value: str | None, default_port: int) -> tuple[str, int]:
    """`PORT`, `ADDR:PORT` or `ADDR` -> (host, port); host "" means all interfaces."""
    if value is None or value == "":
        return "", default_port
    try:
        if value.isdigit():
            return "", parse_port(value)
        return split_address(value, default_port)
    except AddressError as exc:
        raise UserError(str(exc)) from None


def parse_server_address(value: str) -> str:
    """`HOST[:PORT]` -> `HOST:PORT` (the default port when none is given)."""
    try:
        return join_address(*split_address(value, DEFAULT_PORT))
    except AddressError as exc:
        raise UserError(str(exc)) from None


def write_ready_file(path: str | None, content: dict[str, Any]) -> None:
    """Written atomically, so a watcher never reads a half-written file."""
    if not path:
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(content, f)
    os.replace(tmp, path)


def setup_logging(logdir: str | None, name: str, verbose: bool = False) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logdir:
        os.makedirs(logdir, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(logdir, f"{name}.log")))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=handlers,
                        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")


async def cancel_on_signals(scope: trio.CancelScope, *,
                            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            logging.getLogger("rain").info("received %s, stopping", signal.Signals(signum).name)
            scope.cancel()
            return


def run_service(service: Any, *args: Any) -> int:
    """Runs `service(*args, task_status=...)` until it ends or a signal arrives."""
    settle_after_start_up()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(cancel_on_signals, nursery.cancel_scope)
            await service(*args)
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    except BaseExceptionGroup as group:
        user_error = _first_leaf(group, UserError)
        if user_error is not None:
            raise user_error from None
        if _first_leaf(group, KeyboardInterrupt) is not None:
            return 130
        raise
    return 0


def _first_leaf(group: BaseExceptionGroup, kind: type[BaseException]) -> BaseException | None:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _first_leaf(exc, kind)
            if found is not None:
                return found
        elif isinstance(exc, kind):
            return exc
    return None
