"""The executor's working directory: every call starts in it, empty, whatever the last call did."""

from __future__ import annotations

import os
import time

from rain.plugins.python import executor
from rain.plugins.python.executor import ExecutorDirs


def test_each_call_starts_in_an_empty_workdir(tmp_path, monkeypatch):
    """Calls in quick succession (within one tick of the filesystem's clock) that leave files,
    directories or nothing: the next one always finds its working dir empty."""
    monkeypatch.chdir(tmp_path)  # the calls change the current directory
    dirs = ExecutorDirs(str(tmp_path))
    for i in range(50):
        workdir, _ = dirs.enter(str(tmp_path))
        assert os.getcwd() == workdir and os.listdir(".") == []
        if i % 3 == 0:
            with open(f"file-{i}", "w") as f:
                f.write("x")
        elif i % 3 == 1:
            os.makedirs(f"dir-{i}/sub")
        dirs.leave()
    dirs.remove()
    assert os.listdir(tmp_path) == []


def test_a_call_that_removed_or_left_its_workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the calls change the current directory
    dirs = ExecutorDirs(str(tmp_path))
    workdir, _ = dirs.enter(str(tmp_path))
    os.chdir(tmp_path)
    os.rmdir(workdir)
    dirs.leave()
    assert dirs.enter(str(tmp_path))[0] == workdir
    assert os.getcwd() == workdir and os.listdir(".") == []
    os.mkdir("locked")
    os.chmod(workdir, 0o500)
    dirs.leave()
    dirs.enter(str(tmp_path))
    assert os.getcwd() == workdir and os.listdir(".") == []
    dirs.remove()


def test_staged_files_stay_until_the_next_call(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the calls change the current directory
    dirs = ExecutorDirs(str(tmp_path))
    _, stage_dir = dirs.enter(str(tmp_path))
    with open(os.path.join(stage_dir, "out"), "w") as f:
        f.write("x")
    dirs.staged = True
    dirs.leave()
    assert os.listdir(stage_dir) == ["out"]  # the governor moves it from here
    dirs.enter(str(tmp_path))
    assert os.listdir(stage_dir) == []
    dirs.remove()


def test_a_call_that_went_elsewhere_and_a_function_loaded_at_home(tmp_path, monkeypatch):
    """Long after the working dir last changed (no margin for the filesystem's clock), calls
    that leave it, or are preceded by loading a function (at home), still start in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(executor, "CTIME_MARGIN_NS", 0)
    home = tmp_path / "home"
    home.mkdir()
    dirs = ExecutorDirs(str(home))
    tasks = str(tmp_path / "tasks")
    workdir, _ = dirs.enter(tasks)
    dirs.leave()
    for _ in range(3):
        assert dirs.enter(tasks)[0] == workdir and os.getcwd() == workdir
        dirs.leave()
    dirs.enter(tasks)
    os.chdir(home)
    dirs.leave()
    assert dirs.enter(tasks)[0] == workdir and os.getcwd() == workdir
    dirs.leave()
    dirs.go_home()
    assert os.getcwd() == str(home)
    assert dirs.enter(tasks)[0] == workdir and os.getcwd() == workdir
    dirs.leave()
    dirs.remove()
    assert os.listdir(home) == []


def test_recent_changes_by_the_grain_of_timestamps():
    now = time.time_ns()
    fine = now - now % 1_000_000 + 123_457  # a grain of nanoseconds
    assert executor._recent(fine - 10_000_000, now) and not executor._recent(fine - 200_000_000, now)
    whole_seconds = now - now % 1_000_000_000
    assert executor._recent(whole_seconds - 1_000_000_000, now)
    assert not executor._recent(whole_seconds - 30_000_000_000, now)


def test_a_long_call_begun_in_the_tick_of_the_last_change(tmp_path, monkeypatch):
    """A call that begins within a tick of the working dir's last change and makes a file there
    may leave its ctime as it was (the coarse clock has not moved); however long that call then
    runs, its file must not reach the next call."""
    monkeypatch.chdir(tmp_path)
    dirs = ExecutorDirs(str(tmp_path))
    workdir, _ = dirs.enter(str(tmp_path))
    dirs.leave()
    frozen = executor._identity(workdir)  # what the coarse clock would leave after the file
    dirs.enter(str(tmp_path))
    with open("left-behind", "w") as f:
        f.write("x")
    dirs.entered = frozen.ctime  # the call began in the tick of the last change
    monkeypatch.setattr(executor, "_identity", lambda path: frozen)
    later = frozen.ctime + 10 * executor.CTIME_MARGIN_NS
    monkeypatch.setattr(executor.time, "time_ns", lambda: later)  # and ran long
    dirs.leave()
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert os.listdir(workdir) == []
    dirs.remove()
