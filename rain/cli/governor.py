"""`rain governor SERVER:PORT`: a worker node running tasks with its CPUs."""

from __future__ import annotations

import argparse
import logging
import os
import tomllib
from typing import TYPE_CHECKING

from rain.cli.common import UserError, parse_listen, parse_server_address, run_service, setup_logging, write_ready_file
from rain.cli.security import add_access_options, add_limit_options, dialing_credentials, endpoint_limits
from rain.common.addresses import split_address
from rain.common.resources import check_cpus

if TYPE_CHECKING:
    from rain.plugins.api import TaskType

logger = logging.getLogger("rain.governor")
# Only fetch requests arrive on a data port: small frames are enough.
DATA_PORT_FRAMES = {"governor-data": 1 << 20, "client": 1 << 20}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("governor", help="run a governor (worker) attached to a server")
    p.add_argument("server", metavar="SERVER_HOST:PORT", help="address of the Rain server")
    p.add_argument("--cpus", type=int, default=None, help="CPUs to offer (default: all of the machine)")
    p.add_argument("--workdir", help="directory for stored objects and task scratch dirs")
    p.add_argument("--logdir", help="directory for the log file")
    p.add_argument("--listen", help="[ADDR:]PORT of the data port (default: a free port)")
    p.add_argument("--ready-file", help="file created once the governor is registered at the server")
    p.add_argument("--reconnect-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="when the server connection drops, keep tasks and objects and dial the server again "
                        "for this long before stopping (default 300)")
    p.add_argument("--config", help="TOML file; its `plugins = [...]` list is loaded after --plugin")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="extra plugin module")
    p.add_argument("--no-entry-points", action="store_true",
                   help="do not load the plugins of installed packages (entry points); only the built-in "
                        "ones, --plugin and --config")
    add_access_options(p)
    add_limit_options(p, "governor-data, client: peers of the data port; default 1M")
    p.set_defaults(run=run)


def config_plugins(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read config file {path!r}: {exc}") from None
    unknown = sorted(set(data) - {"plugins"})
    if unknown:
        logger.warning("config file %r: ignoring unknown keys %s", path, ", ".join(unknown))
    plugins = data.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise UserError(f"config file {path!r}: 'plugins' must be a list of module names")
    return plugins


def load_task_types(args: argparse.Namespace) -> dict[str, TaskType]:
    """Built-ins, entry points (unless `--no-entry-points`), `--plugin` modules, then the config
    file's `plugins` list; each wrapped to check its inputs when it declares them."""
    from rain.plugins.loading import PluginError, build_plugin_manager, collect_task_types

    extra = [(name, "--plugin") for name in args.plugin]
    extra += [(name, f"config file {args.config}") for name in config_plugins(args.config)]
    try:
        pm = build_plugin_manager(extra, entry_points=not args.no_entry_points)
        task_types = collect_task_types(pm)
    except PluginError as exc:
        raise UserError(str(exc)) from None
    logger.info("plugins: %s", ", ".join(name for name, _ in pm.list_name_plugin()))
    logger.info("task types: %s", ", ".join(sorted(task_types)))
    return {name: t.checking_inputs() for name, t in task_types.items()}


async def serve(args: argparse.Namespace, task_types: dict[str, TaskType]) -> None:
    from rain.core.governor.main import GovernorConfig, default_workdir, serve_governor
    from rain.core.protocol.framing import ProtocolError

    cpus = args.cpus if args.cpus is not None else (os.cpu_count() or 1)
    check_cpus(cpus, "--cpus", error=UserError)
    host, port = parse_listen(args.listen, 0)
    workdir = os.path.abspath(args.workdir or default_workdir())
    server_address = parse_server_address(args.server)
    credentials = dialing_credentials(args, split_address(server_address)[1], listening=True)
    limits = endpoint_limits(args, ("governor-data", "client"), DATA_PORT_FRAMES)
    config = GovernorConfig(server_address, cpus, workdir, host, port, credentials, limits,
                            max(0.0, args.reconnect_timeout))
    import trio

    async with trio.open_nursery() as nursery:
        try:
            governor_id = await nursery.start(serve_governor, config, task_types)
        except (ConnectionError, OSError, ProtocolError) as exc:
            raise UserError(str(exc)) from None
        except trio.TooSlowError:
            raise UserError(f"no handshake with the rain server at {server_address} within the time limit") from None
        print(f"rain governor {governor_id} registered", flush=True)
        write_ready_file(args.ready_file, {"governor_id": governor_id})


def run(args: argparse.Namespace) -> int:
    from rain.core.governor.spawn import drop_dac_override_for_children

    setup_logging(args.logdir, f"governor-{os.getpid()}")
    if os.geteuid() == 0 and not drop_dac_override_for_children():
        logger.warning("running as root without CAP_SETPCAP: programs may write into their read-only inputs")
    return run_service(serve, args, load_task_types(args))
