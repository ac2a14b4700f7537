"""Task-type plugins end to end: the installed example package (entry point), `--plugin` and
config-file modules, start-up errors, heterogeneous governors, failures and cancellation."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from typing import ClassVar

import pytest
from rain_example_plugin.client import Fail, Sha256, SleepProcess, SplitLines, Wait, WordCount

from rain.client import RainException, Session, Task, TaskException, blob, directory, tasks
from rain.client.plugin_tasks import PluginTask
from rain.common import TaskState
from tests.cluster import spans, wait_until

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {"PYTHONPATH": REPO_ROOT}
EXTRA = "tests.plugins_extra.extra"
EXAMPLE_TYPES = {"hash/sha256", "example/word-count", "example/split-lines", "example/fail",
                 "example/wait", "example/sleep-process"}


def governor_types(client) -> dict[str, set[str]]:
    return {g["governor_id"]: set(g["task_types"]) for g in client.get_server_info()["governors"]}


def running_tasks(client, governor_id: str | None = None) -> list:
    return [t for g in client.get_server_info()["governors"]
            if governor_id in (None, g["governor_id"]) for t in g["tasks"]]


def failed_start(cluster, *args: str) -> str:
    """Starts a governor that must refuse to start; returns its one error line."""
    process = cluster.spawn_governor(1, *args)
    assert process.wait(timeout=30) == 2
    errors = [line for line in cluster.logs().splitlines() if line.startswith("rain: error:")]
    assert len(errors) == 1, cluster.logs()
    assert "Traceback" not in cluster.logs()
    return errors[0]


# --- discovery and loading --------------------------------------------------------------------


def test_entry_point_plugin_is_offered_and_runs(client):
    (types,) = governor_types(client).values()
    assert types >= EXAMPLE_TYPES
    assert {"buildin/concat", "buildin/sleep"} <= types
    with client.new_session() as s:
        t = Sha256(blob(b"hello"))
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_str() == hashlib.sha256(b"hello").hexdigest()
        t.update()
        assert "hashed 5 bytes" in t.info.debug


def test_run_sync_and_dir_outputs(client, tmp_path):
    with client.new_session() as s:
        text = blob("a b a\nc a")
        counts = WordCount(text)
        lines = SplitLines(text)
        counts.output.keep()
        lines.output.keep()
        s.submit()
        result = counts.output.fetch()
        assert result.content_type == "json"
        assert json.loads(result.get_bytes()) == {"a": 3, "b": 1, "c": 1}
        tree = lines.output.fetch()
        assert tree.data_type.value == "dir"
        target = tmp_path / "lines"
        tree.write(target)
        assert sorted(os.listdir(target)) == ["0.txt", "1.txt"]
        assert (target / "1.txt").read_text() == "c a"


def reversed_on_governor(client, data: bytes) -> bytes:
    """Runs the extra plugin's `extra/reverse` task on `data` and fetches its result."""
    with client.new_session() as s:
        t = Task([blob(data)], task_type="extra/reverse")
        t.output.keep()
        s.submit()
        return t.output.fetch().get_bytes()


def test_plugin_option(make_cluster):
    cluster = make_cluster([1], env=ENV, governor_args=("--plugin", EXTRA))
    client = cluster.client()
    (types,) = governor_types(client).values()
    assert {"extra/reverse", "extra/wait", "hash/sha256"} <= types
    assert reversed_on_governor(client, b"abc") == b"cba"


def test_config_file(make_cluster, tmp_path):
    config = tmp_path / "governor.toml"
    config.write_text(f'plugins = ["{EXTRA}"]\n')
    cluster = make_cluster([1], env=ENV, governor_args=("--config", str(config)))
    client = cluster.client()
    (types,) = governor_types(client).values()
    assert "extra/reverse" in types
    assert reversed_on_governor(client, b"xy") == b"yx"


def test_same_module_twice_is_loaded_once(make_cluster, tmp_path):
    config = tmp_path / "governor.toml"
    config.write_text('plugins = ["rain_example_plugin"]\n')
    cluster = make_cluster([1], env=ENV, governor_args=("--plugin", "rain_example_plugin", "--config", str(config)))
    assert next(iter(governor_types(cluster.client()).values())) >= EXAMPLE_TYPES


def test_duplicate_task_type_stops_governor(make_cluster):
    cluster = make_cluster([], env=ENV)
    error = failed_start(cluster, "--plugin", "tests.plugins_extra.clash")
    assert "'hash/sha256'" in error
    assert "'rain_example_plugin'" in error and "'tests.plugins_extra.clash'" in error


@pytest.mark.parametrize("how", ["--plugin", "--config"])
def test_import_failure_stops_governor(make_cluster, tmp_path, how):
    cluster = make_cluster([], env=ENV)
    if how == "--plugin":
        args: tuple[str, ...] = ("--plugin", "tests.plugins_extra.broken")
    else:
        config = tmp_path / "bad.toml"
        config.write_text('plugins = ["tests.plugins_extra.broken"]\n')
        args = ("--config", str(config))
    error = failed_start(cluster, *args)
    assert "'tests.plugins_extra.broken'" in error
    assert "No module named 'rain_test_missing_dependency'" in error
    assert ("--plugin" if how == "--plugin" else "bad.toml") in error
    assert cluster.client().get_server_info()["governors"] == []


def test_unknown_plugin_module_stops_governor(make_cluster):
    cluster = make_cluster([], env=ENV)
    error = failed_start(cluster, "--plugin", "tests.plugins_extra.no_such_module")
    assert "'tests.plugins_extra.no_such_module'" in error and "ModuleNotFoundError" in error


def test_rain_info_lists_task_types(make_cluster):
    cluster = make_cluster([1], env=ENV, governor_args=("--plugin", EXTRA))
    out = subprocess.run([sys.executable, "-m", "rain", "info", cluster.address, "--access-file", cluster.access_file],
                         capture_output=True,
                         text=True, timeout=30, check=True).stdout
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(cluster.governor_ids[0]))
    listed = " ".join(lines[start:])  # long lists wrap onto the following lines
    for name in ("buildin/concat", "hash/sha256", "extra/reverse"):
        assert name in listed


# --- placement ------------------------------------------------------------------------------


def test_tasks_land_on_the_governor_with_the_plugin(make_cluster):
    cluster = make_cluster([2], env=ENV)
    with_plugin = cluster.start_governor(2, "--plugin", EXTRA)
    client = cluster.client()
    types = governor_types(client)
    assert "extra/reverse" in types[with_plugin]
    assert not any("extra/reverse" in t for g, t in types.items() if g != with_plugin)
    with client.new_session() as s:
        reversed_ = [Task([blob(f"n{i}")], task_type="extra/reverse") for i in range(6)]
        plain = [tasks.Concat([r, blob(b"!")]) for r in reversed_]
        for t in plain:
            t.output.keep()
        s.submit()
        assert [t.output.fetch().get_bytes() for t in plain] == [f"{i}n!".encode() for i in range(6)]
        for t in reversed_:
            t.update()
            assert t.info.governor == with_plugin


def test_submit_of_unknown_type_is_refused(client):
    with client.new_session() as s:
        Task([blob(b"x")], task_type="nobody/offers-this")
        s.submit()  # pipelined: its error is raised by the session's next call
        with pytest.raises(RainException, match="nobody/offers-this"):
            s.wait_all()


def test_tasks_of_a_vanished_type_wait_for_a_governor_offering_it(make_cluster):
    """The only governor offering a type is lost: its tasks (running, or waiting for inputs)
    wait instead of failing, and a new governor offering the type lets them finish."""
    cluster = make_cluster([2], env=ENV)
    with_plugin = cluster.start_governor(1, "--plugin", EXTRA)
    client = cluster.client()
    with client.new_session() as s:
        waiting = Task([], task_type="extra/wait", config=30)
        slow = tasks.Sleep(blob(b"x"), 1, cpus=2)  # only the plain governor has 2 cpus
        reverse = Task([slow], task_type="extra/reverse")
        reverse.output.keep()
        s.submit()
        wait_until(lambda: running_tasks(client, with_plugin), what="extra/wait to run")
        cluster.stop_governor(with_plugin)
        s.wait([slow])
        reverse.update()  # the session is alive, the task waits
        assert reverse.state != TaskState.finished and waiting.state != TaskState.finished
        cluster.start_governor(2, "--plugin", EXTRA)  # a CPU beside the rerun of extra/wait
        assert reverse.output.fetch().get_bytes() == b"x"


# --- failures and cancellation --------------------------------------------------------------


def test_task_error_fails_task_with_its_message(client):
    with client.new_session() as s:
        t = Fail("the disk is full", name="failer")
        s.submit()
        with pytest.raises(TaskException, match="example/fail: the disk is full") as info:
            t.wait()
        assert "failer" in str(info.value)
        assert "Traceback" not in str(info.value)


def test_unexpected_exception_fails_task_with_traceback_in_debug(make_cluster):
    cluster = make_cluster([1], env=ENV, governor_args=("--plugin", EXTRA))
    client = cluster.client()
    with client.new_session() as s:
        t = Task([], task_type="extra/crash", config=42)
        s.submit()
        with pytest.raises(TaskException, match="ValueError: unexpected value 42"):
            t.wait()


def test_closing_session_cancels_long_plugin_task(client):
    s = client.new_session()
    with s.bind_only():
        long = Wait(30)
        submitted = time.time()
        s.submit()
    wait_until(lambda: running_tasks(client) == [long.id], what="example/wait to run")
    s.close()
    with client.new_session() as other:
        quick = Wait(0.1)  # needs the only CPU
        quick.output.keep()
        other.submit()
        assert quick.output.fetch().get_bytes() == b"done"
        [(started, _end)] = spans([quick])
    assert started < submitted + 30  # the long task was cancelled: its CPU was free long before


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, left to an init that may not reap it, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def test_closing_session_kills_plugin_subprocess_group(client, tmp_path):
    pid_file = str(tmp_path / "sleeper.pid")
    s = client.new_session()
    with s.bind_only():
        SleepProcess(30, pid_file=pid_file)
        s.submit()
    wait_until(lambda: os.path.exists(pid_file), what="the sleeper to start")
    with open(pid_file) as f:
        pids = [int(p) for p in f.read().split()]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    s.close()
    wait_until(lambda: not any(alive(p) for p in pids), timeout=5, what="the sleeper and its helper to be killed")
    with client.new_session() as other:
        quick = SleepProcess(0.01)
        quick.output.keep()
        other.submit()
        assert quick.output.fetch().get_bytes().startswith(b"slept")


# --- the client-side helper -----------------------------------------------------------------


def test_plugin_task_class_defaults():
    class Heavy(PluginTask):
        TASK_TYPE = "example/heavy"
        CPUS = 3
        OUTPUTS: ClassVar[list[str]] = ["left", "right"]

    with Session(None, 1).bind_only():
        t = Heavy([blob(b"x")], config={"n": 1})
        assert t.task_type == "example/heavy" and t.spec.config == {"n": 1}
        assert t.spec.resources == {"cpus": 3}
        assert [o.label for o in t.outputs] == ["left", "right"]
        t2 = Heavy([], 1, cpus=1)
        assert t2.spec.resources == {"cpus": 1} and len(t2.outputs) == 1
        assert Sha256(blob(b"x")).spec.resources == {"cpus": 1}
    with pytest.raises(TypeError, match="TASK_TYPE"):
        type("NoType", (PluginTask,), {})
    with pytest.raises(RainException), Session(None, 1).bind_only():
        PluginTask([])


# --- declared inputs and --no-entry-points ---------------------------------------------------


def test_directory_for_a_blob_input_is_refused_at_submit(client, tmp_path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a.txt").write_text("a")
    with client.new_session() as s:
        Sha256(blob(b"fine"), name="fine")
        Sha256(directory(str(tmp_path / "tree"), label="tree"), name="digest")
        s.submit()  # pipelined: its error is raised by the session's next call
        with pytest.raises(RainException, match=r"task 'digest' ID\(\d+, \d+\): input 0 \('tree'\) is a dir, "
                                                r"but task type 'hash/sha256' takes a blob there"):
            s.wait_all()
        assert s.task_count == 2  # nothing was applied: the graph can be fixed and resubmitted


def test_no_entry_points_loads_only_builtins_and_named_plugins(make_cluster):
    cluster = make_cluster([1, 1], env=ENV)
    plain = cluster.start_governor(1, "--no-entry-points")
    named = cluster.start_governor(1, "--no-entry-points", "--plugin", EXTRA)
    types = governor_types(cluster.client())
    assert types[cluster.governor_ids[0]] >= EXAMPLE_TYPES
    assert not types[plain] & EXAMPLE_TYPES and {"buildin/concat", "py/call"} <= types[plain]
    assert not types[named] & EXAMPLE_TYPES and "extra/reverse" in types[named]


def test_rain_start_passes_no_entry_points_to_its_governors():
    from rain.cli import build_parser
    from rain.cli.start import governor_options

    args = build_parser().parse_args(["start", "--local-governors", "1", "--no-entry-points", "--plugin", "m"])
    assert governor_options(args, 0, 1, "/k.json") == ["--access-file", "/k.json", "--cpus", "1", "--plugin", "m",
                                                       "--no-entry-points"]
    args = build_parser().parse_args(["start", "--simple"])
    assert "--no-entry-points" not in governor_options(args, 0, None, "/k.json")


def test_mismatch_submitted_before_any_governor_fails_when_it_would_run(make_cluster, tmp_path):
    """With no governor connected the server knows no declarations and accepts the submit; the
    governor's own check fails the task before the plugin sees a directory."""
    (tmp_path / "tree").mkdir()
    cluster = make_cluster([])
    client = cluster.client()
    with client.new_session() as s:
        t = Sha256(directory(str(tmp_path / "tree"), label="tree"), name="digest")
        t.output.keep()
        s.submit()
        cluster.start_governor(1)
        with pytest.raises(TaskException, match=r"task 'digest'.*input 0 \('tree'\) is a dir, "
                                                r"but task type 'hash/sha256' takes a blob there"):
            t.output.fetch()
