"""`rain server`: the scheduler process clients and governors connect to."""

from __future__ import annotations

import argparse
import logging
import os

import trio

from rain.cli.common import (
    DEFAULT_HTTP_PORT,
    DEFAULT_PORT,
    UserError,
    parse_listen,
    run_service,
    setup_logging,
    write_ready_file,
)
from rain.cli.security import (
    add_access_options,
    add_limit_options,
    add_tls_options,
    dashboard_url,
    endpoint_limits,
    parse_size,
    server_access,
)
from rain.core.server.submit import SubmitLimits

logger = logging.getLogger("rain.server")
DEFAULT_SUBMIT = SubmitLimits()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run the Rain server")
    p.add_argument("--listen", help="[ADDR:]PORT for clients and governors (default 7210)")
    p.add_argument("--http-listen", help="[ADDR:]PORT of the monitoring HTTP server (default 127.0.0.1:7222: "
                   "loopback only, as the port has no authentication; 0.0.0.0:PORT opens it to all)")
    p.add_argument("--logdir", help="directory for the log file and the event database")
    p.add_argument("--ready-file", help="file created once the server accepts connections")
    p.add_argument("--journal", metavar="PATH",
                   help="journal file: sessions, graphs and results survive a restart on the same file")
    p.add_argument("--restore-grace", type=float, default=60.0, metavar="SECONDS",
                   help="after a restore, how long to wait for the journal's governors before computing "
                        "again what only they held (default 60); sessions no client took back are closed "
                        "a minute later (or this long, if longer)")
    add_access_options(p)
    p.add_argument("--new-key", action="store_true", help="replace the key in the access file by a new one")
    add_tls_options(p)
    add_limit_options(p, "client, governor")
    p.add_argument("--max-submit-tasks", type=int, default=DEFAULT_SUBMIT.max_tasks, metavar="N",
                   help=f"refuse submits of more tasks (default {DEFAULT_SUBMIT.max_tasks:,})")
    p.add_argument("--max-submit-bytes", default=str(DEFAULT_SUBMIT.max_bytes), metavar="SIZE",
                   help=f"refuse larger submits (default {DEFAULT_SUBMIT.max_bytes >> 20}M)")
    p.add_argument("--heartbeat-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="declare a governor lost when it is silent this long (default 10)")
    p.add_argument("--max-governor-losses", type=int, default=3, metavar="N",
                   help="fail a task's session when N governors were lost under the task (default 3)")
    p.set_defaults(run=run)


def delete_timeout_from_env() -> float:
    value = os.environ.get("RAIN_DELETE_LIST_TIMEOUT", "2")
    try:
        return max(0.0, float(value))
    except ValueError:
        raise UserError(f"invalid RAIN_DELETE_LIST_TIMEOUT {value!r}") from None


def submit_limits(args: argparse.Namespace) -> SubmitLimits:
    if args.max_submit_tasks < 1:
        raise UserError(f"invalid --max-submit-tasks {args.max_submit_tasks}")
    return SubmitLimits(args.max_submit_tasks, parse_size(args.max_submit_bytes))


async def serve(args: argparse.Namespace) -> None:
    from rain.core.protocol.auth import INSECURE
    from rain.core.server.main import ServerConfig, serve_server

    host, port = parse_listen(args.listen, DEFAULT_PORT)
    http_host, http_port = parse_listen(args.http_listen, DEFAULT_HTTP_PORT)
    limits = endpoint_limits(args, ("client", "governor"))
    submits = submit_limits(args)
    if not args.heartbeat_timeout > 0:
        raise UserError(f"invalid --heartbeat-timeout {args.heartbeat_timeout:g}: must be positive")
    if args.max_governor_losses < 1:
        raise UserError(f"invalid --max-governor-losses {args.max_governor_losses}: must be at least 1")
    try:
        listeners = await trio.open_tcp_listeners(port, host=host or None)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.listen or port}: {exc.strerror or exc}") from None
    bound = listeners[0].socket.getsockname()[1]
    access = server_access(args, host, bound)  # named by the bound port, known only now
    from rain.core.access import AccessError

    try:
        credentials = access.credentials() if access is not None else INSECURE
    except AccessError as exc:
        raise UserError(str(exc)) from None
    config = ServerConfig(
        delete_timeout=delete_timeout_from_env(),
        test_mode=os.environ.get("RAIN_TEST_MODE") == "1",
        logdir=args.logdir,
        http_host=http_host or "127.0.0.1",
        http_port=http_port,
        credentials=credentials,
        limits=limits,
        submit_limits=submits,
        journal=os.path.abspath(args.journal) if args.journal else None,
        restore_grace=max(0.0, args.restore_grace),
        heartbeat_timeout=args.heartbeat_timeout,
        max_governor_losses=args.max_governor_losses,
    )
    from rain.core.server.journal import JournalError

    async with trio.open_nursery() as nursery:
        try:
            info = await nursery.start(serve_server, config, listeners)
        except (JournalError, OSError) as exc:
            raise UserError(f"cannot use the journal {args.journal}: {exc}") from None
        security = "insecure" if access is None else f"key in {access.path}" + (", TLS" if access.tls else "")
        logger.info("server listening on port %d (monitoring on port %s; %s)", bound, info.http_port, security)
        print(f"rain server listening on port {bound}", flush=True)
        if access is not None:
            print(f"access file: {access.path}", flush=True)
        if info.http_port is not None:
            print(f"dashboard: {dashboard_url(access, http_host, info.http_port)}", flush=True)
        write_ready_file(args.ready_file, {"port": bound, "address": f"{host or '127.0.0.1'}:{bound}",
                                           "http_port": info.http_port,
                                           "access_file": access.path if access is not None else None,
                                           "tls": bool(access is not None and access.tls)})


def run(args: argparse.Namespace) -> int:
    setup_logging(args.logdir, "server")
    return run_service(serve, args)
