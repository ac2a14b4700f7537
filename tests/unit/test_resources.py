"""The one CPU-count rule, and the places that apply it."""

from __future__ import annotations

import pytest

from rain.client import RainException, Session, Task
from rain.common.resources import check_cpus, is_cpu_count
from rain.plugins.api import task_type


@pytest.mark.parametrize("value,ok", [(0, True), (3, True), (-1, False), (True, False), (1.0, False), ("1", False),
                                      (None, False)])
def test_cpu_count(value, ok):
    assert is_cpu_count(value) is ok


def test_check_names_what_and_raises_the_callers_error():
    assert check_cpus(2) == 2
    with pytest.raises(ValueError, match=r"--cpus must be a non-negative int, got -1"):
        check_cpus(-1, "--cpus")
    with pytest.raises(RainException, match="cpus must be a non-negative int, got True"):
        check_cpus(True, error=RainException)


def test_client_and_plugin_api_refuse_bad_counts():
    with pytest.raises(RainException, match="cpus must be a non-negative int, got -2"), Session(None, 1).bind_only():
        Task([], 1, task_type="buildin/concat", cpus=-2)
    async def run(ctx):
        return None

    with pytest.raises(ValueError, match="cpus of task type 'x/y' must be a non-negative int, got False"):
        task_type("x/y", cpus=False)(run)
