"""The governor's program spawn: file actions kept per (working dir, descriptors) still give
every program its own directory and files, however the sets are reused or dropped."""

from __future__ import annotations

import os
import subprocess

import pytest

from rain.core.governor import posix_spawn, spawn

pytestmark = pytest.mark.skipif(spawn._spawner is None, reason="needs glibc's posix_spawn")


def run_pwd(cwd: str, out: int) -> None:
    child = spawn.start_program(["pwd"], cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    assert os.waitstatus_to_exitcode(os.waitpid(child.pid, 0)[1]) == 0


def test_each_program_gets_its_own_dir_and_stdout(tmp_path, monkeypatch):
    monkeypatch.setattr(posix_spawn, "KEEP_ACTIONS", 3)  # forces sets to be dropped and rebuilt
    dirs = [tmp_path / f"w{i}" for i in range(4)]
    for d in dirs:
        d.mkdir()
    files = [os.open(tmp_path / f"out{i}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644) for i in range(3)]
    try:
        expected: dict[int, bytes] = dict.fromkeys(files, b"")
        for round_ in range(3):
            for i, d in enumerate(dirs):
                fd = files[(i + round_) % len(files)]
                run_pwd(str(d), fd)
                expected[fd] += os.fsencode(os.path.realpath(d)) + b"\n"
        for fd, text in expected.items():
            assert os.pread(fd, 1 << 16, 0) == text
    finally:
        for fd in files:
            os.close(fd)
    assert len(spawn._spawner._actions) <= 3


def test_a_missing_program_or_dir_raises_like_popen(tmp_path):
    with pytest.raises(FileNotFoundError):
        spawn.start_program([str(tmp_path / "nothing")], cwd=str(tmp_path), stdout=subprocess.DEVNULL)
    with pytest.raises(FileNotFoundError):
        spawn.start_program(["/bin/true"], cwd=str(tmp_path / "gone"), stdout=subprocess.DEVNULL)
