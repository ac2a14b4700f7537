"""`rain info [HOST:PORT]`: governors, their cpus, task types and running tasks."""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap

from rain.cli.common import DEFAULT_PORT, UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show the governors of a running server")
    p.add_argument("address", nargs="?", default=f"localhost:{DEFAULT_PORT}", metavar="HOST:PORT")
    p.add_argument("--json", action="store_true", help="print the raw server info as JSON")
    p.set_defaults(run=run)


MIN_TYPES_WIDTH = 30  # below this the task types start on their own lines rather than wrap thinly


def format_table(info: dict, width: int | None = None) -> str:
    """The governors as a table; the task-type column is wrapped to `width` (the terminal's)."""
    if width is None:
        width = shutil.get_terminal_size().columns
    rows = [("GOVERNOR", "CPUS", "FREE", "TASKS", "OBJECTS", "TASK TYPES")]
    for g in info["governors"]:
        rows.append((g["governor_id"], str(g["resources"]["cpus"]), str(g.get("free_cpus", "?")),
                     str(len(g["tasks"])), str(len(g["objects"])), ", ".join(g.get("task_types", []))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    indent = sum(widths) + 2 * len(widths)
    if width - indent < MIN_TYPES_WIDTH:
        indent = 4
    lines = []
    for r in rows:
        head = "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  "
        wrapped = textwrap.wrap(r[-1], max(width - indent, MIN_TYPES_WIDTH), break_on_hyphens=False) or [""]
        if indent == len(head):
            lines.append(head + wrapped[0])
            wrapped = wrapped[1:]
        else:
            lines.append(head.rstrip())
        lines += [" " * indent + part for part in wrapped]
    if len(rows) == 1:
        lines.append("(no governors connected)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from rain.client import Client
    from rain.common.errors import RainException

    host, _, port = args.address.rpartition(":")
    if not host:
        host, port = args.address, str(DEFAULT_PORT)
    if not port.isdigit():
        raise UserError(f"invalid address {args.address!r}")
    try:
        with Client(host, int(port)) as client:
            info = client.get_server_info()
    except RainException as exc:
        raise UserError(str(exc)) from None
    print(json.dumps(info, indent=2) if args.json else format_table(info))
    return 0
