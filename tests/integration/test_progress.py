"""Progress bars while waiting: moved by what the server pushes, off unless asked for."""

from __future__ import annotations

import io
import os
import sys

import pytest

from rain.client import blob, tasks
from rain.common.errors import TaskException


class Screen(io.StringIO):
    """A stderr that runs `on_text(text)` for every write (to act once a bar shows a value)."""

    def __init__(self, on_text=None) -> None:
        super().__init__()
        self.on_text = on_text

    def write(self, text: str) -> int:
        if self.on_text is not None:
            self.on_text(self.getvalue() + text)
        return super().write(text)


def gated_tasks(gate: str, quick: int) -> list:
    """`quick` concats, and one program that ends only once the file `gate` exists."""
    ts = [tasks.Concat([blob(b"x")]) for _ in range(quick)]
    ts.append(tasks.Execute(f"while [ ! -e {gate} ]; do sleep 0.01; done", shell=True, name="gated"))
    return ts


def open_gate_when(path: str, shown: str):
    def on_text(text: str) -> None:
        if shown in text and not os.path.exists(path):
            open(path, "w").close()
    return on_text


@pytest.mark.parametrize("how", ["wait_all", "wait", "env"])
def test_bar_shows_pushed_progress_then_completion(cluster, tmp_path, monkeypatch, how):
    gate = str(tmp_path / "gate")
    screen = Screen(open_gate_when(gate, "5/6"))  # the last task ends only after the bar showed 5/6
    monkeypatch.setattr(sys, "stderr", screen)
    if how == "env":
        monkeypatch.setenv("RAIN_PROGRESS", "1")
    with cluster.client().new_session() as s:
        ts = gated_tasks(gate, 5)
        s.submit()
        if how == "wait_all":
            s.wait_all(progress=True)
        elif how == "wait":
            s.wait(ts, progress=True)
        else:
            s.wait_all()
    out = screen.getvalue()
    assert "5/6" in out and "6/6" in out
    assert out.index("5/6") < out.index("6/6")
    assert "task/s" in out or "s/task" in out  # tqdm's rate


def test_failure_shows_in_the_bar(cluster, tmp_path, monkeypatch):
    screen = Screen()
    monkeypatch.setattr(sys, "stderr", screen)
    with cluster.client().new_session() as s:
        gate = str(tmp_path / "gate")
        tasks.Execute(f"while [ ! -e {gate} ]; do sleep 0.01; done; exit 4", shell=True)
        screen.on_text = open_gate_when(gate, "0/1")
        s.submit()
        with pytest.raises(TaskException, match="exit code 4"):
            s.wait_all(progress=True)
    assert "0/1" in screen.getvalue()


def test_no_bar_unless_asked(cluster, monkeypatch):
    screen = Screen()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.delenv("RAIN_PROGRESS", raising=False)
    with cluster.client().new_session() as s:
        t = tasks.Concat([blob(b"a")])
        s.submit()
        s.wait_all()
        s.wait([t])
        monkeypatch.setenv("RAIN_PROGRESS", "1")
        s.wait([t], progress=False)
    assert screen.getvalue() == ""
