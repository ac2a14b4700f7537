"""Load, LoadDir and Store on real governors: round trips through the governor's filesystem."""

from __future__ import annotations

import os
import stat

import pytest

from rain.client import Output, OutputDir, TaskException, blob, directory, pickled, tasks
from tests.files import tree_contents


def _make_tree(root):
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty_dir").mkdir()
    (root / "a.txt").write_bytes(b"alpha")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (root / "sub" / "deeper" / "empty").write_bytes(b"")
    os.chmod(root / "a.txt", 0o755)




@pytest.mark.parametrize("governors", [[1], [1, 1]])
def test_load_store_round_trip(make_cluster, tmp_path, governors):
    client = make_cluster(governors).client()
    src = tmp_path / "input.bin"
    data = os.urandom(300_000)  # larger than the in-memory limit of the store
    src.write_bytes(data)
    with client.new_session() as s:
        loaded = tasks.Load(str(src), Output(content_type="mime/application-octet"), name="load")
        loaded.keep_outputs()
        tasks.Store(loaded, str(tmp_path / "out.bin"))
        tasks.Store(blob("small text"), str(tmp_path / "small.txt"))
        s.submit()
        s.wait_all()
        fetched = loaded.output.fetch()
        assert fetched.get_bytes() == data
        assert fetched.content_type == "mime/application-octet"
    assert (tmp_path / "out.bin").read_bytes() == data
    assert (tmp_path / "small.txt").read_text() == "small text"
    # the user's file is untouched (the store makes its own data read-only, not the source)
    assert os.stat(src).st_mode & stat.S_IWUSR


def test_store_overwrites_file(client, tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "t.txt"
    target.write_text("old content that is longer")
    with client.new_session() as s:
        tasks.Store(blob("new"), str(target))
        s.submit()
        s.wait_all()
    assert target.read_text() == "new"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["t.txt"]  # no temporary left behind


def test_load_dir_store_dir_round_trip(client, tmp_path):
    src = tmp_path / "src"
    _make_tree(src)
    with client.new_session() as s:
        d = tasks.LoadDir(str(src), OutputDir("tree"))
        d.keep_outputs()
        tasks.Store(d, str(tmp_path / "copy"))
        tasks.Store(directory(str(src)), str(tmp_path / "copy2"))
        s.submit()
        s.wait_all()
        assert d.output.label == "tree"
        fetched = d.output.fetch()
        fetched.write(str(tmp_path / "fetched"))
    for copy in ("copy", "copy2", "fetched"):
        assert tree_contents(tmp_path / copy) == tree_contents(src)
        assert os.stat(tmp_path / copy / "a.txt").st_mode & 0o777 == 0o755
        # exported data is an ordinary writable copy
        (tmp_path / copy / "sub" / "new").write_bytes(b"ok")


@pytest.mark.parametrize("make, match", [
    (lambda p: tasks.Load("relative/file"), "path 'relative/file' is not absolute"),
    (lambda p: tasks.Load(str(p / "missing")), "does not exist"),
    (lambda p: tasks.Load(str(p)), "is not a file"),
    (lambda p: tasks.LoadDir(str(p / "file")), "is not a directory"),
    (lambda p: tasks.LoadDir("x"), "is not absolute"),
    (lambda p: tasks.Store(blob(b"x"), "out.txt"), "is not absolute"),
    (lambda p: tasks.Store(blob(b"x"), str(p / "no" / "such" / "dir")), "does not exist"),
    (lambda p: tasks.Store(blob(b"x"), str(p)), "is a directory"),
    (lambda p: tasks.Store(directory(str(p)), str(p / "file")), "already exists"),
])
def test_file_task_failures(client, tmp_path, make, match):
    (tmp_path / "file").write_bytes(b"x")
    with client.new_session() as s:
        t = make(tmp_path)
        s.submit()
        with pytest.raises(TaskException, match=match) as info:
            s.wait_all()
        assert t.task_type in ("buildin/open", "buildin/open_dir", "buildin/export")
        assert str(t.id) in str(info.value) or repr(t.id) in str(info.value)


def test_load_content_type_and_load(client, tmp_path):
    src = tmp_path / "v.pickle"
    with client.new_session() as s:
        p = pickled({"answer": 42})
        tasks.Store(p, str(src))
        s.submit()
        s.wait_all()
    with client.new_session() as s:
        t = tasks.Load(str(src), Output(content_type="pickle"))
        t.keep_outputs()
        s.submit()
        assert t.output.fetch().load() == {"answer": 42}
