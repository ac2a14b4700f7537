"""Node lists of batch schedulers: Slurm's compact syntax, CPUs per node, PBS node files."""

from __future__ import annotations

import re

import pytest

from rain.cli.common import UserError
from rain.cli.hpc import expand_cpus_per_node, expand_nodelist, pbs_places, slurm_places


@pytest.mark.parametrize("nodelist,hosts", [
    ("node7", ["node7"]),
    ("n[01-03,07],gpu[1-2]-ib", ["n01", "n02", "n03", "n07", "gpu1-ib", "gpu2-ib"]),
    ("a,b[8-11]", ["a", "b8", "b9", "b10", "b11"]),
    ("rack[1-2]-n[09-10]", ["rack1-n09", "rack1-n10", "rack2-n09", "rack2-n10"]),
    ("x[098-101]", ["x098", "x099", "x100", "x101"]),
    ("c1,c2,", ["c1", "c2"]),
    ("node[5]", ["node5"]),
])
def test_slurm_nodelist_expands(nodelist, hosts):
    assert expand_nodelist(nodelist) == hosts


@pytest.mark.parametrize("nodelist,message", [
    ("n[1-3", "unbalanced '['"),
    ("n1-3]", "unbalanced ']'"),
    ("n[a-b]", "invalid range 'a-b'"),
    ("n[5-2]", "descending range '5-2'"),
    ("", "empty node list"),
])
def test_bad_slurm_nodelist_is_a_clear_error(nodelist, message):
    with pytest.raises(UserError, match=re.escape(message)):
        expand_nodelist(nodelist)


def test_cpus_per_node():
    assert expand_cpus_per_node("16(x3),8", 4) == [16, 16, 16, 8]
    assert expand_cpus_per_node("", 2) == [None, None]
    assert expand_cpus_per_node("4", 3) == [4, None, None]
    with pytest.raises(UserError, match="invalid SLURM_JOB_CPUS_PER_NODE"):
        expand_cpus_per_node("4(y2)", 2)


def test_slurm_places_from_the_environment():
    env = {"SLURM_JOB_NODELIST": "n[1-2],fat", "SLURM_JOB_CPUS_PER_NODE": "2(x2),64", "PATH": "/nonexistent"}
    assert slurm_places(env) == [("n1", 2), ("n2", 2), ("fat", 64)]
    with pytest.raises(UserError, match="SLURM_JOB_NODELIST is not set"):
        slurm_places({})


def test_pbs_node_file_counts_cpus_by_repetition(tmp_path):
    nodefile = tmp_path / "nodes"
    nodefile.write_text("n1\nn1\nn2\nn1\n\nn3\n")
    assert pbs_places({"PBS_NODEFILE": str(nodefile)}) == [("n1", 3), ("n2", 1), ("n3", 1)]
    with pytest.raises(UserError, match="PBS_NODEFILE is not set"):
        pbs_places({})
    with pytest.raises(UserError, match="cannot read PBS_NODEFILE"):
        pbs_places({"PBS_NODEFILE": str(tmp_path / "missing")})
