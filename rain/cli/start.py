"""`rain start`: a server and governors as child processes, stopped together.

Children run in their own process groups (so a terminal's Ctrl+C reaches only us) and are
stopped by us: SIGTERM to each group, SIGKILL if it does not end in time. `rain start` is
ready (its ready file written) only when every governor has registered. Governors on other
hosts (`--governor-host-file`) are started over ssh, see `rain.cli.ssh_governors`; on the nodes
of a PBS or Slurm job (`--autoconf`) over ssh or srun, see `rain.cli.hpc`.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import sys
import tempfile
from typing import Any

import trio

from rain.cli.common import DEFAULT_PORT, UserError, parse_listen, run_service, setup_logging, write_ready_file
from rain.cli.hpc import AUTOCONF, Launcher, autoconf_launcher, autoconf_places
from rain.cli.security import add_access_options, add_tls_options, dashboard_url
from rain.cli.ssh_governors import read_host_file, server_host, ssh_argv, wait_for_governors
from rain.core.access import AccessError, AccessFile
from rain.core.access import load as load_access_file
from rain.core.protocol.auth import INSECURE

logger = logging.getLogger("rain.start")
STOP_GRACE = 5.0
READY_TIMEOUT = 60.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("start", help="start a server and local governors in the foreground")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--simple", action="store_true", help="one server and one local governor")
    mode.add_argument("--local-governors", metavar="N[,N...]", help="local governors with N cpus each")
    mode.add_argument("--governor-host-file", metavar="FILE",
                      help="governors on other hosts, started over ssh: one 'HOST [CPUS]' per line")
    mode.add_argument("--autoconf", choices=AUTOCONF,
                      help="governors on the nodes of this PBS or Slurm job (srun inside Slurm, else ssh)")
    p.add_argument("--listen", help="[ADDR:]PORT of the server (default 7210)")
    p.add_argument("--http-listen", help="[ADDR:]PORT of the monitoring HTTP server")
    p.add_argument("--cpus", type=int, help="cpus of the --simple governor")
    p.add_argument("--logdir", help="directory for the logs of all processes")
    p.add_argument("--workdir", help="base directory for the governors' work dirs and the server's journal")
    journal = p.add_mutually_exclusive_group()
    journal.add_argument("--journal", metavar="PATH", help="the server's journal (default: WORKDIR/server.journal, "
                         "else ~/.rain/journal-PORT when the port is fixed)")
    journal.add_argument("--no-journal", action="store_true", help="run the server without a journal")
    p.add_argument("--ready-file", help="file created once the server and all governors are ready")
    p.add_argument("--config", help="TOML config file passed to every governor")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="extra plugin module loaded by every governor")
    p.add_argument("--no-entry-points", action="store_true",
                   help="governors load no plugins of installed packages, only built-ins, --plugin and --config")
    add_access_options(p)
    p.add_argument("--new-key", action="store_true", help="replace the key in the access file by a new one")
    add_tls_options(p)
    p.set_defaults(run=run)


async def stop_process_group(process: trio.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    with trio.move_on_after(STOP_GRACE):
        await process.wait()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    await process.wait()


async def wait_ready(path: str, process: trio.Process, what: str) -> dict[str, Any]:
    """Polls for the child's ready file; a child that dies first is an error."""
    with trio.move_on_after(READY_TIMEOUT):
        while True:
            if os.path.exists(path):
                with open(path) as f:
                    return json.load(f)
            if process.returncode is not None:
                raise UserError(f"{what} exited with code {process.returncode} before it was ready")
            await trio.sleep(0.02)
    raise UserError(f"{what} was not ready within {READY_TIMEOUT:.0f} s")


async def run_child(argv: list[str], *, task_status: trio.TaskStatus[trio.Process] = trio.TASK_STATUS_IGNORED) -> None:
    async with trio.open_nursery() as nursery:
        process = await nursery.start(functools.partial(
            trio.run_process, argv, check=False, start_new_session=True, deliver_cancel=stop_process_group))
        task_status.started(process)


def governor_places(args: argparse.Namespace) -> list[tuple[str | None, int | None]]:
    """(host, cpus) per governor; host None = a local child process, cpus None = all."""
    if args.simple:
        return [(None, args.cpus)]
    if args.governor_host_file:
        return read_host_file(args.governor_host_file)  # type: ignore[return-value]
    if args.autoconf:
        return autoconf_places(args.autoconf)  # type: ignore[return-value]
    try:
        cpus = [int(n) for n in args.local_governors.split(",")]
    except ValueError:
        raise UserError(f"invalid --local-governors {args.local_governors!r}") from None
    if any(n < 1 for n in cpus):
        raise UserError("--local-governors needs positive cpu counts")
    return [(None, n) for n in cpus]


def server_security_options(args: argparse.Namespace) -> list[str]:
    options = ["--insecure"] if args.insecure else []
    if args.new_key:
        options.append("--new-key")
    if args.access_file:
        options += ["--access-file", os.path.abspath(args.access_file)]
    if args.tls:
        options.append("--tls")
    for flag, value in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if value:
            options += [flag, os.path.abspath(value)]
    return options


def governor_options(args: argparse.Namespace, index: int, cpus: int | None, access_file: str | None) -> list[str]:
    """`access_file` None: the server runs --insecure, and so do the governors."""
    options = ["--access-file", access_file] if access_file else ["--insecure"]
    if args.logdir:
        options += ["--logdir", args.logdir]
    if cpus is not None:
        options += ["--cpus", str(cpus)]
    for module in args.plugin:
        options += ["--plugin", module]
    if args.config:
        options += ["--config", os.path.abspath(args.config)]
    if args.no_entry_points:
        options.append("--no-entry-points")
    if args.workdir:
        options += ["--workdir", os.path.join(os.path.abspath(args.workdir), f"governor-{index}")]
    return options


async def serve(args: argparse.Namespace) -> None:
    places = governor_places(args)  # a bad host file or --local-governors fails before anything starts
    launch: Launcher = autoconf_launcher(args.autoconf) if args.autoconf else ssh_argv
    rain = [sys.executable, "-m", "rain"]
    common = ["--logdir", args.logdir] if args.logdir else []
    with tempfile.TemporaryDirectory(prefix="rain-start-") as tmp:
        async with trio.open_nursery() as nursery:
            server_ready = os.path.join(tmp, "server.ready")
            server_argv = [*rain, "server", "--ready-file", server_ready, *common, *server_security_options(args)]
            if args.listen:
                server_argv += ["--listen", args.listen]
            if args.http_listen:
                server_argv += ["--http-listen", args.http_listen]
            journal = journal_path(args)
            if journal is not None:  # its governors are new processes: none of the old ones comes back
                server_argv += ["--journal", journal, "--restore-grace", "0"]
            server = await nursery.start(run_child, server_argv)
            info = await wait_ready(server_ready, server, "the server")
            address = f"127.0.0.1:{info['port']}"
            access_file = info.get("access_file")
            access = load_access(access_file)
            local, remote = [], []
            remote_address = f"{server_host(args.listen)}:{info['port']}"
            for i, (host, n) in enumerate(places):
                options = governor_options(args, i, n, access_file)
                if host is not None:
                    remote.append(await nursery.start(run_child, launch(host, [remote_address, *options])))
                    continue
                ready = os.path.join(tmp, f"governor-{i}.ready")
                argv = [*rain, "governor", address, "--ready-file", ready, "--listen", "127.0.0.1:0", *options]
                local.append((ready, await nursery.start(run_child, argv)))
            ids = [(await wait_ready(ready, proc, "a governor"))["governor_id"] for ready, proc in local]
            credentials = access.client_credentials() if access is not None else INSECURE
            if remote:
                registered = None
                with trio.move_on_after(READY_TIMEOUT):
                    registered = await wait_for_governors(address, len(remote), remote, credentials)
                if registered is None:
                    raise UserError(f"only some governors registered within {READY_TIMEOUT:.0f} s")
                ids = registered
            print(f"rain is ready: server at {address}, governors {', '.join(ids)}", flush=True)
            if info.get("http_port") is not None:
                http_host = parse_listen(args.http_listen, info["http_port"])[0]
                print(f"dashboard: {dashboard_url(access, http_host, info['http_port'])}", flush=True)
            write_ready_file(args.ready_file, {"port": info["port"], "address": address,
                                               "http_port": info.get("http_port"), "governors": ids,
                                               "access_file": access_file})
            await server.wait()
            raise UserError(f"the server exited with code {server.returncode}")


def journal_path(args: argparse.Namespace) -> str | None:
    """Where the server keeps its journal: a restarted `rain start` finds its sessions again."""
    if args.no_journal:
        return None
    if args.journal:
        return os.path.abspath(args.journal)
    if args.workdir:
        return os.path.join(os.path.abspath(args.workdir), "server.journal")
    port = parse_listen(args.listen, DEFAULT_PORT)[1]
    if port == 0:
        return None  # a new port each time: nothing would find the journal again
    return os.path.join(os.path.expanduser("~"), ".rain", f"journal-{port}")


def load_access(path: str | None) -> AccessFile | None:
    if path is None:
        return None
    try:
        return load_access_file(path)
    except AccessError as exc:
        raise UserError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    setup_logging(args.logdir, "start")
    return run_service(serve, args)
