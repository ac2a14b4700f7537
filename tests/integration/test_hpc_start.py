"""`rain start --autoconf pbs|slurm` inside a (stand-in) batch job: nodes and CPUs from the
scheduler's environment, governors started through stand-ins for ssh, srun and scontrol that
record what they were asked and run the command on this machine."""

from __future__ import annotations

import os
import signal

from rain.client import Client, blob, tasks
from tests.cluster import stop_process, wait_for_file
from tests.integration.test_cli import SSH_SHIM, rain

SRUN_SHIM = """#!/bin/sh
# Stands in for srun: records the node of the step, runs the command locally.
for a in "$@"; do case "$a" in --nodelist=*) echo "${{a#--nodelist=}}" >> "{log}";; esac; done
while [ $# -gt 0 ]; do case "$1" in --*) shift;; *) break;; esac; done
exec "$@"
"""

SCONTROL_SHIM = """#!/bin/sh
# Stands in for scontrol: records the call, answers the job's host names.
echo "$*" >> "{log}"
printf 'fat-node\\nthin-node\\n'
"""


def shims(tmp_path, **scripts: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in scripts.items():
        (bin_dir / name).write_text(text.format(log=tmp_path / f"{name}.log"))
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run_cluster(tmp_path, env: dict[str, str], autoconf: str) -> list[int]:
    """Starts `rain start --autoconf`, runs one task, stops it; the governors' CPU counts."""
    ready = tmp_path / "ready"
    proc = rain("start", "--autoconf", autoconf, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                "--ready-file", str(ready), env=env)
    try:
        info = wait_for_file(str(ready), proc)
        with Client("127.0.0.1", info["port"]) as client:
            cpus = sorted(g["resources"]["cpus"] for g in client.get_server_info()["governors"])
            with client.new_session() as s:
                t = tasks.Concat([blob(b"on the "), blob(b"job")])
                t.output.keep()
                s.submit()
                assert t.output.fetch().get_bytes() == b"on the job"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) in (0, 130)
        return cpus
    finally:
        stop_process(proc)


def test_pbs_node_file_starts_governors_over_ssh(tmp_path):
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("node-a\nnode-b\nnode-a\nnode-a\n")
    env = {**shims(tmp_path, ssh=SSH_SHIM), "PBS_NODEFILE": str(nodefile)}
    assert run_cluster(tmp_path, env, "pbs") == [1, 3]
    assert sorted((tmp_path / "ssh.log").read_text().split()) == ["node-a", "node-b"]


def test_slurm_job_starts_governors_with_srun_and_scontrol(tmp_path):
    env = {**shims(tmp_path, srun=SRUN_SHIM, scontrol=SCONTROL_SHIM),
           "SLURM_JOB_NODELIST": "fat-node,thin-node", "SLURM_JOB_CPUS_PER_NODE": "3,1"}
    assert run_cluster(tmp_path, env, "slurm") == [1, 3]
    assert (tmp_path / "scontrol.log").read_text().split() == ["show", "hostnames", "fat-node,thin-node"]
    assert sorted((tmp_path / "srun.log").read_text().split()) == ["fat-node", "thin-node"]


def test_slurm_without_its_tools_parses_the_list_and_uses_ssh(tmp_path):
    env = {**shims(tmp_path, ssh=SSH_SHIM), "SLURM_JOB_NODELIST": "n[1-2]", "SLURM_JOB_CPUS_PER_NODE": "2(x2)"}
    assert run_cluster(tmp_path, env, "slurm") == [2, 2]
    assert sorted((tmp_path / "ssh.log").read_text().split()) == ["n1", "n2"]


def test_autoconf_outside_a_job_is_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBS_", "SLURM_"))}
    proc = rain("start", "--autoconf", "slurm", "--listen", "127.0.0.1:0", env=env)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.decode().strip() == ("rain: error: --autoconf slurm: SLURM_JOB_NODELIST is not set "
                                    "(not inside a Slurm job?)")
