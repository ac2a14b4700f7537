"""The plugin package of docs/plugins.md installs with pip and its entry point loads.

The page's `pyproject.toml` block must be the file of `tests/example_plugin`; it is installed
(with the example's sources) into a fresh target directory, without build isolation so no
download is needed, and a separate Python finds the plugin's task types through the entry
point, from that directory only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.docs.markdown import REPO_ROOT, blocks

EXAMPLE = os.path.join(REPO_ROOT, "tests", "example_plugin")
CHECK = """
import importlib.metadata, json, rain_example_plugin
from rain.plugins.loading import load_task_types
dist = importlib.metadata.distribution("rain-example-plugin")
print(json.dumps({"module": rain_example_plugin.__file__, "version": dist.version,
                  "dist": str(dist.locate_file("")), "types": sorted(load_task_types())}))
"""


def _pyproject_block() -> str:
    (block,) = [b for b in blocks("docs/plugins.md") if b.language == "toml" and "[build-system]" in b.code]
    return block.code


def test_pyproject_block_is_the_example_package_file():
    with open(os.path.join(EXAMPLE, "pyproject.toml")) as f:
        assert _pyproject_block() == f.read()


def test_plugin_package_installs_with_pip_and_is_found_by_its_entry_point(tmp_path):
    package, target = tmp_path / "package", tmp_path / "site"
    shutil.copytree(os.path.join(EXAMPLE, "rain_example_plugin"), package / "rain_example_plugin",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (package / "pyproject.toml").write_text(_pyproject_block())
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(package)], check=True, timeout=120,
                   capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, cwd=tmp_path, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    found = json.loads(out)
    assert found["module"].startswith(str(target)) and found["dist"].startswith(str(target))
    assert found["version"] == "0.1.0"
    assert {"hash/sha256", "example/split-lines", "buildin/concat"} <= set(found["types"])
