"""`rain start --autoconf pbs|slurm`: the job's nodes and CPUs from the batch scheduler.

PBS writes the job's nodes to `$PBS_NODEFILE`, one line per CPU (a node with 4 CPUs appears 4
times), as Rain 0.4 read it. Slurm describes them in `$SLURM_JOB_NODELIST` in its compact
syntax (`n[01-03,07],gpu[1-2]-ib`) and the CPUs in `$SLURM_JOB_CPUS_PER_NODE` (`16(x3),8`);
`scontrol show hostnames` expands the list where Slurm's tools are installed, else our own
parser does. Governors are started with `srun` inside a Slurm job (one step per node), else
over ssh, like `--governor-host-file`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

from rain.cli.common import UserError
from rain.cli.ssh_governors import ssh_argv

Place = tuple[str, int | None]
Launcher = Callable[[str, list[str]], list[str]]


# --- PBS -------------------------------------------------------------------------------------


def pbs_places(environ: dict[str, str]) -> list[Place]:
    """(host, cpus) in the order of the node file; cpus = the host's lines in it."""
    path = environ.get("PBS_NODEFILE")
    if not path:
        raise UserError("--autoconf pbs: PBS_NODEFILE is not set (not inside a PBS job?)")
    try:
        with open(path) as f:
            hosts = [line.strip() for line in f if line.strip()]
    except OSError as exc:
        raise UserError(f"--autoconf pbs: cannot read PBS_NODEFILE {path}: {exc.strerror or exc}") from None
    if not hosts:
        raise UserError(f"--autoconf pbs: PBS_NODEFILE {path} lists no nodes")
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host] = counts.get(host, 0) + 1
    return list(counts.items())


# --- Slurm -----------------------------------------------------------------------------------


def expand_nodelist(nodelist: str) -> list[str]:
    """Slurm's compact host list -> host names, in order: `n[01-03,07],gpu[1-2]-ib` ->
    n01 n02 n03 n07 gpu1-ib gpu2-ib. Ranges keep their zero padding; several bracket groups
    in one name expand as a product."""
    hosts: list[str] = []
    for item in _split_top_level(nodelist.strip()):
        hosts.extend(_expand_item(item))
    if not hosts:
        raise UserError(f"--autoconf slurm: empty node list {nodelist!r}")
    return hosts


def _split_top_level(text: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise UserError(f"--autoconf slurm: unbalanced ']' in node list {text!r}")
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise UserError(f"--autoconf slurm: unbalanced '[' in node list {text!r}")
    items.append("".join(current))
    return [item for item in items if item]


def _expand_item(item: str) -> list[str]:
    match = re.search(r"\[([^\[\]]*)\]", item)
    if match is None:
        return [item]
    prefix, suffix = item[:match.start()], item[match.end():]
    return [expanded for value in _expand_ranges(match.group(1), item)
            for expanded in _expand_item(prefix + value + suffix)]


def _expand_ranges(ranges: str, item: str) -> list[str]:
    values = []
    for part in ranges.split(","):
        low, sep, high = part.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise UserError(f"--autoconf slurm: invalid range {part!r} in {item!r}")
        if not sep:
            values.append(low)
            continue
        if int(high) < int(low):
            raise UserError(f"--autoconf slurm: descending range {part!r} in {item!r}")
        width = len(low)
        values.extend(str(n).zfill(width) for n in range(int(low), int(high) + 1))
    return values


def expand_cpus_per_node(text: str, count: int) -> list[int | None]:
    """`16(x3),8` -> [16, 16, 16, 8]; padded with None (all CPUs) when missing or short."""
    cpus: list[int | None] = []
    for part in filter(None, text.split(",")):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if match is None:
            raise UserError(f"--autoconf slurm: invalid SLURM_JOB_CPUS_PER_NODE {text!r}")
        cpus += [int(match.group(1))] * int(match.group(2) or 1)
    return (cpus + [None] * count)[:count]


def slurm_hosts(nodelist: str) -> list[str]:
    """`scontrol show hostnames` when Slurm's tools are here; our own parser otherwise."""
    if shutil.which("scontrol"):
        try:
            out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                                 check=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise UserError(f"--autoconf slurm: scontrol show hostnames failed: {exc}") from None
        hosts = out.split()
        if hosts:
            return hosts
    return expand_nodelist(nodelist)


def slurm_places(environ: dict[str, str]) -> list[Place]:
    nodelist = environ.get("SLURM_JOB_NODELIST") or environ.get("SLURM_NODELIST")
    if not nodelist:
        raise UserError("--autoconf slurm: SLURM_JOB_NODELIST is not set (not inside a Slurm job?)")
    hosts = slurm_hosts(nodelist)
    cpus = expand_cpus_per_node(environ.get("SLURM_JOB_CPUS_PER_NODE", ""), len(hosts))
    return list(zip(hosts, cpus, strict=True))


def srun_argv(host: str, governor_args: list[str]) -> list[str]:
    """One job step on `host`; srun passes on our environment and working directory."""
    return ["srun", "--nodes=1", "--ntasks=1", f"--nodelist={host}", "--kill-on-bad-exit=1",
            sys.executable, "-m", "rain", "governor", *governor_args]


# --- choosing --------------------------------------------------------------------------------

AUTOCONF = ("pbs", "slurm")


def autoconf_places(kind: str, environ: dict[str, str] | None = None) -> list[Place]:
    environ = dict(os.environ) if environ is None else environ
    return pbs_places(environ) if kind == "pbs" else slurm_places(environ)


def autoconf_launcher(kind: str) -> Launcher:
    """srun inside a Slurm job when srun is on PATH; ssh otherwise."""
    if kind == "slurm" and shutil.which("srun"):
        return srun_argv
    return ssh_argv

