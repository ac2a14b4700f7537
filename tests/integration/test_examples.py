"""The example programs in examples/ run against a live local cluster, as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


@pytest.mark.parametrize("script", ["program_pipeline.py", "remote_outputs.py", "directories.py"])
def test_example_runs(make_cluster, script):
    cluster = make_cluster([2])
    env = {**os.environ, "RAIN_ACCESS_FILE": cluster.access_file}  # the cluster's key is not in ~/.rain
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), cluster.address],
                            capture_output=True, text=True, timeout=50, env=env)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
