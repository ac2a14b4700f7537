"""Dir objects through MakeDirectory, SliceDirectory and Execute on real governors."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from rain.client import InputDir, Output, OutputDir, Program, RainException, TaskException, blob, directory, tasks
from tests.files import tree_contents


def _fetch_tree(obj, path) -> dict[str, bytes | None]:
    obj.fetch().write(str(path))
    return tree_contents(path)


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"A")
    (root / "sub" / "b.txt").write_bytes(b"B")
    (root / "sub" / "deep" / "c.txt").write_bytes(b"C")
    return root


@pytest.mark.parametrize("governors", [[1], [1, 1, 1, 1]])
def test_make_slice_execute_chain(make_cluster, tmp_path, src, governors):
    client = make_cluster(governors).client()
    with client.new_session() as s:
        made = tasks.MakeDirectory([
            ("", directory(str(src))),
            ("sub/extra.txt", blob(b"E")),
            ("new/nested/file", blob(b"N")),
            ("sub", directory(str(src / "sub" / "deep"))),  # merged into the existing sub/
        ])
        sub = tasks.SliceDirectory(made, "sub/")
        one = tasks.SliceDirectory(made, "new/nested/file", Output(content_type="text"))
        listing = tasks.Execute(["sh", "-c", "cd d && find . -type f | sort"], input_paths=[InputDir("d", dataobj=sub)],
                                stdout=True)
        for t in (made, sub, one, listing):
            t.keep_outputs()
        s.submit()
        assert _fetch_tree(made.output, tmp_path / "made") == {
            "a.txt": b"A", "sub": None, "sub/b.txt": b"B", "sub/deep": None, "sub/deep/c.txt": b"C",
            "sub/c.txt": b"C", "sub/extra.txt": b"E", "new": None, "new/nested": None, "new/nested/file": b"N",
        }
        assert sub.output.data_type.value == "dir"
        assert one.output.fetch().get_str() == "N"
        assert one.output.fetch().content_type == "text"
        assert listing.output.fetch().get_str().split() == ["./b.txt", "./c.txt", "./deep/c.txt", "./extra.txt"]


def test_dir_get_bytes_is_tar(client, src):
    with client.new_session() as s:
        d = tasks.SliceDirectory(directory(str(src)), "sub/")
        d.keep_outputs()
        s.submit()
        data = d.output.fetch().get_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert sorted(tf.getnames()) == ["b.txt", "deep", "deep/c.txt"]


@pytest.mark.parametrize("make, match", [
    (lambda d: tasks.MakeDirectory([("x", blob(b"1")), ("x", blob(b"2"))]), "'x' is given by more than one input"),
    (lambda d: tasks.MakeDirectory([("", d), ("a.txt", blob(b"2"))]), "'a.txt' is given by more than one input"),
    (lambda d: tasks.MakeDirectory([("a.txt/x", blob(b"1")), ("", d)]), "given by more than one input"),
    (lambda d: tasks.MakeDirectory([("a", blob(b"1")), ("a/b", blob(b"2"))]), "parent of it is a file"),
    (lambda d: tasks.SliceDirectory(d, "missing.txt"), "'missing.txt' is not a file"),
    (lambda d: tasks.SliceDirectory(d, "sub"), r"'sub' is a directory \(add '/'"),
    (lambda d: tasks.SliceDirectory(d, "a.txt/"), "'a.txt/' is not a directory"),
])
def test_directory_task_failures(client, src, make, match):
    with client.new_session() as s:
        t = make(directory(str(src)))
        s.submit()
        with pytest.raises(TaskException, match=match):
            t.wait()


def test_slice_path_must_stay_inside(client, src):
    with client.new_session(), pytest.raises(RainException, match="relative path"):
        tasks.SliceDirectory(directory(str(src)), "../x")


def test_dir_out_of_execute(client, tmp_path):
    with client.new_session() as s:
        t = tasks.Execute(["sh", "-c", "mkdir -p out/x/empty && echo 1 > out/x/one && printf 2 > out/two"],
                          output_paths=[OutputDir("out")])
        t.keep_outputs()
        s.submit()
        assert _fetch_tree(t.output, tmp_path / "got") == {
            "x": None, "x/empty": None, "x/one": b"1\n", "two": b"2"}


def test_linked_dir_is_read_only_and_write_is_private(client, src, tmp_path):
    with client.new_session() as s:
        d = directory(str(src))
        d.keep()
        # the files are the stored, read-only data; the directories are the task's own
        ro = tasks.Execute(["sh", "-c", "(echo x >> d/a.txt) 2>/dev/null && echo wrote || echo denied; "
                                        "touch d/new && rm d/sub/b.txt; cat d/a.txt"],
                           input_paths=[InputDir("d", dataobj=d)], stdout=True)
        rw = tasks.Execute(["sh", "-c", "touch d/new && rm d/a.txt"],
                           input_paths=[InputDir("d", dataobj=d, write=True)], output_paths=[OutputDir("d")])
        after = tasks.Execute(["cat", "d/a.txt"], input_paths=[InputDir("d", dataobj=d)], stdout=True)
        for t in (ro, rw, after):
            t.keep_outputs()
        s.submit()
        assert ro.output.fetch().get_bytes() == b"denied\nA"
        changed = _fetch_tree(rw.output, tmp_path / "rw")
        assert "new" in changed and "a.txt" not in changed
        assert after.output.fetch().get_bytes() == b"A"
        assert _fetch_tree(d, tmp_path / "orig") == tree_contents(src)


@pytest.mark.parametrize("governors", [[1], [1, 1]])
def test_eleven_megabyte_file_in_directory(make_cluster, tmp_path, governors):
    client = make_cluster(governors).client()
    data = os.urandom(11 * 1024 * 1024)
    expected = hashlib.md5(data).hexdigest()
    with client.new_session() as s:
        d = tasks.MakeDirectory({"big/data.bin": blob(data), "small": blob(b"s")})
        digest = tasks.Execute(["md5sum", "d/big/data.bin"], input_paths=[InputDir("d", dataobj=d)], stdout=True)
        copy = tasks.Execute(["cp", "-r", InputDir("d", dataobj=d), OutputDir("copy")])
        back = tasks.SliceDirectory(copy, "big/data.bin")
        for t in (digest, back):
            t.keep_outputs()
        s.submit()
        assert digest.output.fetch().get_str().split()[0] == expected
        assert back.output.fetch().get_bytes() == data
        back.output.update()
        assert back.output.info.size == len(data)


def test_program_with_dirs(client, src, tmp_path):
    archive = Program(["tar", "-C", InputDir("tree"), "-cf", Output("tar"), "."])
    unpack = Program(["sh", "-c", "mkdir out && tar -C out -xf in.tar"], input_paths=[InputDir("in.tar")],
                     output_paths=[OutputDir("out")])
    assert unpack.input_labels == ["in.tar"]
    with client.new_session() as s:
        t = archive(tree=directory(str(src)))
        t.keep_outputs()
        s.submit()
        assert b"deep/c.txt" in t.output.fetch().get_bytes()
        with pytest.raises(RainException, match="input 'in.tar'"):
            unpack(**{"in.tar": t.output})  # a blob where a dir is expected
