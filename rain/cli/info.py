"""`rain info [HOST:PORT]`: governors (cpus, task types, running tasks) and sessions (progress)."""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from collections.abc import Sequence

from rain.cli.common import DEFAULT_PORT, UserError
from rain.cli.security import add_access_options
from rain.common.addresses import AddressError, split_address


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show the governors and sessions of a running server")
    p.add_argument("address", nargs="?", default=f"localhost:{DEFAULT_PORT}", metavar="HOST:PORT")
    p.add_argument("--json", action="store_true", help="print the raw server info as JSON")
    add_access_options(p)
    p.set_defaults(run=run)


MIN_TYPES_WIDTH = 30  # below this the task types start on their own lines rather than wrap thinly


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns; the last one is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1] for r in rows]


def progress_text(finished: int, total: int, width: int = 20) -> str:
    """`[#########...........] 45/100 45%`"""
    done = round(width * finished / total) if total else width
    percent = f"{100 * finished // total}%" if total else "-"
    return f"[{'#' * done}{'.' * (width - done)}] {finished}/{total} {percent}"


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
    refused = info.get("refused_connections") or {}
    if refused:
        detail = ", ".join(f"{reason} {count}" for reason, count in refused.items())
        lines.append(f"refused connections: {sum(refused.values())} ({detail})")
    return "\n".join(lines)


def format_sessions(info: dict) -> str:
    """The open sessions with their progress, and the first line of each failure; a keep-alive
    session says so, and "detached" when no client is attached to it."""
    sessions = info.get("sessions", [])
    lines: list[str] = []
    session_rows = [("SESSION", "NAME", "STATUS", "PROGRESS")]
    for s in sessions:
        total, unfinished = s["tasks"], s["unfinished_tasks"]
        status = "failed" if s.get("error") else ("running" if unfinished else "idle")
        if status == "running" and s.get("waiting_tasks") and not info.get("governors"):
            status = f"waiting for a governor ({s['waiting_tasks']} ready)"
        if s.get("keep_alive"):
            status += ", keep-alive" + ("" if s.get("attached") else ", detached")
        session_rows.append((str(s["session_id"]), s["name"], status, progress_text(total - unfinished, total)))
    lines += _columns(session_rows)
    if not sessions:
        lines.append("(no open sessions)")
    for s in sessions:
        if s.get("error"):
            lines.append(f"session {s['session_id']} failed: {s['error'].splitlines()[0]}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from rain.client import Client
    from rain.common.errors import RainException

    try:
        host, port = split_address(args.address, DEFAULT_PORT)
    except AddressError as exc:
        raise UserError(str(exc)) from None
    try:
        access_file: str | bool | None = False if args.insecure else args.access_file
        with Client(host, port, access_file=access_file) as client:
            info = client.get_server_info()
    except RainException as exc:
        raise UserError(str(exc)) from None
    print(json.dumps(info, indent=2) if args.json else f"{format_table(info)}\n\n{format_sessions(info)}")
    return 0
