"""Governors on other hosts for `rain start --governor-host-file`: the file, and the ssh command.

Each governor runs as `ssh HOST <command>` with the same Python interpreter path and working
directory as `rain start`, as on a cluster with a shared file system. A remote governor's ready
file would be on its own host, so readiness is read from the server instead: `rain start` is
ready when as many governors as hosts have registered. Stopping `rain start` ends the ssh
sessions and stops the server; a governor whose server connection closes stops by itself, so
nothing is left running on the hosts.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from typing import Any

import trio

from rain.cli.common import DEFAULT_PORT, UserError, parse_listen
from rain.core.protocol import messages as m
from rain.core.protocol.auth import Credentials
from rain.core.protocol.stream import open_message_stream

SSH = ["ssh", "-o", "BatchMode=yes"]
FORWARDED_ENV = ("PYTHONPATH",)
POLL_INTERVAL = 0.1


def read_host_file(path: str) -> list[tuple[str, int | None]]:
    """Lines `HOST [CPUS]`; blank lines and `#` comments are skipped."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read governor host file {path}: {exc.strerror or exc}") from None
    hosts: list[tuple[str, int | None]] = []
    for number, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        cpus = None
        if len(fields) > 2 or (len(fields) == 2 and not (fields[1].isdigit() and int(fields[1]) > 0)):
            raise UserError(f"{path}:{number}: expected 'HOST [CPUS]', got {line.strip()!r}")
        if len(fields) == 2:
            cpus = int(fields[1])
        hosts.append((fields[0], cpus))
    if not hosts:
        raise UserError(f"governor host file {path} lists no hosts")
    return hosts


def server_host(listen: str | None) -> str:
    """The server's address as the hosts should dial it: the listen address, or our name."""
    host = parse_listen(listen, DEFAULT_PORT)[0]
    if host and host not in ("0.0.0.0", "::"):
        return f"[{host}]" if ":" in host else host
    return socket.gethostname()


def ssh_argv(host: str, governor_args: list[str]) -> list[str]:
    env = [f"{name}={os.environ[name]}" for name in FORWARDED_ENV if name in os.environ]
    env += [f"{name}={value}" for name, value in sorted(os.environ.items()) if name.startswith("RAIN_")]
    command = ["cd", os.getcwd(), "&&", "exec", "env", *env, sys.executable, "-m", "rain", "governor", *governor_args]
    quoted = " ".join(part if part == "&&" else shlex.quote(part) for part in command)
    return [*SSH, host, quoted]


async def wait_for_governors(address: str, count: int, processes: list[Any], credentials: Credentials) -> list[str]:
    """Ids of the first `count` governors registered at the server; an ssh that ends first fails.
    The caller bounds the wait."""
    conn = await open_message_stream(address, "client", credentials)
    try:
        request_id = 0
        while True:
            request_id += 1
            await conn.send(m.GetServerInfo(request_id))
            reply = await conn.receive_expected(m.Ok)
            governors = reply.value["governors"]
            if len(governors) >= count:
                return [g["governor_id"] for g in governors]
            for process in processes:
                if process.returncode is not None:
                    raise UserError(f"a governor started over ssh exited with code {process.returncode} "
                                    "before it registered (see its log)")
            await trio.sleep(POLL_INTERVAL)
    finally:
        await conn.aclose()
