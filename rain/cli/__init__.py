"""The `rain` command: `server`, `governor`, `start` and `info`.

Each subcommand is a thin shell around a core `serve_*` function: it parses arguments, sets up
logging, runs trio with a signal watcher that cancels the top nursery (SIGINT/SIGTERM), writes
the ready file once the service is really up, and turns user errors into one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from rain.cli.common import UserError, fail


def build_parser() -> argparse.ArgumentParser:
    from rain.cli import governor, info, server, start

    parser = argparse.ArgumentParser(prog="rain", description="Rain distributed task-graph framework")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (server, governor, start, info):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except UserError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code or 0)
