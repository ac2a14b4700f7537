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

logger = logging.getLogger("rain.server")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run the Rain server")
    p.add_argument("--listen", help="[ADDR:]PORT for clients and governors (default 7210)")
    p.add_argument("--http-listen", help="[ADDR:]PORT of the monitoring HTTP server (default 127.0.0.1:7222: "
                   "loopback only, as the port has no authentication; 0.0.0.0:PORT opens it to all)")
    p.add_argument("--logdir", help="directory for the log file and the event database")
    p.add_argument("--ready-file", help="file created once the server accepts connections")
    p.set_defaults(run=run)


def delete_timeout_from_env() -> float:
    value = os.environ.get("RAIN_DELETE_LIST_TIMEOUT", "2")
    try:
        return max(0.0, float(value))
    except ValueError:
        raise UserError(f"invalid RAIN_DELETE_LIST_TIMEOUT {value!r}") from None


async def serve(args: argparse.Namespace) -> None:
    from rain.core.server.main import ServerConfig, serve_server

    host, port = parse_listen(args.listen, DEFAULT_PORT)
    http_host, http_port = parse_listen(args.http_listen, DEFAULT_HTTP_PORT)
    config = ServerConfig(
        delete_timeout=delete_timeout_from_env(),
        test_mode=os.environ.get("RAIN_TEST_MODE") == "1",
        logdir=args.logdir,
        http_host=http_host or "127.0.0.1",
        http_port=http_port,
    )
    try:
        listeners = await trio.open_tcp_listeners(port, host=host or None)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.listen or port}: {exc.strerror or exc}") from None
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        info = await nursery.start(serve_server, config, listeners)
        logger.info("server listening on port %d (monitoring on port %s)", bound, info.http_port)
        print(f"rain server listening on port {bound}", flush=True)
        write_ready_file(args.ready_file, {"port": bound, "address": f"{host or '127.0.0.1'}:{bound}",
                                           "http_port": info.http_port})


def run(args: argparse.Namespace) -> int:
    setup_logging(args.logdir, "server")
    return run_service(serve, args)
