"""Tests of DataInstance."""

from __future__ import annotations

import pickle
import stat
from pathlib import Path

import pytest

from rain.common import dirtar
from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.data_instance import DataInstance
from rain.common.errors import RainException
from rain.common.ids import ID
from rain.common.states import DataType


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "x.txt").write_text("xx")
    (root / "sub" / "y.txt").write_text("yyy")
    return root


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        DataInstance("blob")
    with pytest.raises(ValueError):
        DataInstance("blob", data=b"x", path="/tmp/x")
    with pytest.raises(ValueError, match="invalid data type"):
        DataInstance("nope", data=b"x")
    with pytest.raises(ValueError, match="unknown content type"):
        DataInstance(data=b"x", content_type="bogus")
    di = DataInstance(DataType.DIRECTORY, data=b"")
    assert di.data_type is DataType.DIRECTORY
    assert DataInstance(data=b"").data_type is DataType.BLOB


def test_blob_from_bytes() -> None:
    di = DataInstance(data=b"hello", content_type="text")
    assert di.get_bytes() == b"hello"
    assert di.get_str() == "hello"
    assert di.load() == "hello"
    assert di.size == 5
    assert di.path is None
    assert di.info.user == {}
    di.info.user["k"] = 1
    assert di.info.user == {"k": 1}


def test_content_type_precedence() -> None:
    spec = ObjectSpec(id=ID(1, 2), content_type="text")
    info = ObjectInfo(content_type="text-latin2")
    di = DataInstance(data="ž".encode("latin2"), spec=spec, info=info, content_type="json")
    assert di.content_type == "text-latin2"
    assert di.object_id == ID(1, 2)
    assert di.get_str() == "ž"
    assert di.load() == "ž"
    assert DataInstance(data=b"1", spec=spec, content_type="json").content_type == "text"
    assert DataInstance(data=b"1", content_type="json").load() == 1
    assert DataInstance(data=b"1").content_type is None


def test_load_pickle_and_without_content_type() -> None:
    di = DataInstance(data=pickle.dumps([1, {"a": 2}]), content_type="pickle")
    assert di.load() == [1, {"a": 2}]
    with pytest.raises(RainException, match="no known content type"):
        DataInstance(data=b"raw").load()
    with pytest.raises(RainException, match="no known content type"):
        DataInstance(data=b"raw", content_type="mime/text/plain").load()


def test_get_str_bad_bytes() -> None:
    with pytest.raises(RainException, match="utf-8"):
        DataInstance(data=b"\xff\xfe\xfa").get_str()


def test_blob_from_path(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"file data")
    di = DataInstance(path=src, object_id=ID(3, 4))
    assert di.get_bytes() == b"file data"
    assert di.size == 9
    assert di.path == str(src)
    assert "ID(3, 4)" in repr(di)


def test_blob_write(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"abc")
    src.chmod(0o444)
    for i, di in enumerate([DataInstance(data=b"abc"), DataInstance(path=src)]):
        out = tmp_path / f"out{i}"
        di.write(out)
        assert out.read_bytes() == b"abc"
        out.write_bytes(b"changed")  # a fresh writable copy
        assert src.read_bytes() == b"abc"
        di.write(out)  # an existing file is overwritten (as in Rain 0.4)
        assert out.read_bytes() == b"abc"
        (tmp_path / f"dir{i}" / "sub").mkdir(parents=True)
        di.write(tmp_path / f"dir{i}")  # so is a directory
        assert (tmp_path / f"dir{i}").read_bytes() == b"abc"
    with pytest.raises(RainException, match="holds the data itself"):
        DataInstance(path=src).write(src)


def test_blob_link_from_path(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"abc")
    di = DataInstance(path=src)
    link = tmp_path / "link"
    di.link(link)
    assert not link.is_symlink() and link.stat().st_ino == src.stat().st_ino  # a hard link
    assert link.read_bytes() == b"abc"
    assert not src.stat().st_mode & 0o222
    with pytest.raises(RainException, match="exists"):
        di.link(link)


def test_blob_link_from_bytes(tmp_path: Path) -> None:
    di = DataInstance(data=b"abc")
    out = tmp_path / "out"
    di.link(out)
    assert not out.is_symlink()
    assert out.read_bytes() == b"abc"
    assert not out.stat().st_mode & 0o222


def test_dir_from_path(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    di = DataInstance("dir", path=src)
    assert di.size == 5
    data = di.get_bytes()
    unpacked = tmp_path / "unpacked"
    dirtar.unpack_directory(data, unpacked)
    assert (unpacked / "sub" / "y.txt").read_text() == "yyy"
    with pytest.raises(RainException, match="cannot load a directory"):
        di.load()
    with pytest.raises(RainException, match="directory"):
        di.get_str()


def test_dir_write_from_path_and_from_tar(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    dirtar.make_read_only(src)
    from_path = DataInstance("dir", path=src)
    from_tar = DataInstance("dir", data=from_path.get_bytes())
    assert from_tar.size == len(from_tar.get_bytes())
    for i, di in enumerate([from_path, from_tar]):
        out = tmp_path / f"out{i}"
        di.write(out)
        assert (out / "x.txt").read_text() == "xx"
        assert (out / "sub").stat().st_mode & stat.S_IWUSR
        (out / "sub" / "new").write_text("writable")
        assert not (src / "sub" / "new").exists()
        di.write(out)  # replaces the changed copy
        assert not (out / "sub" / "new").exists()


def test_dir_link(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    di = DataInstance("dir", path=src)
    link = tmp_path / "link"
    di.link(link)
    assert link.is_dir() and not link.is_symlink()  # a real directory: find and tar see it all
    assert (link / "sub" / "y.txt").read_text() == "yyy"
    assert not (link / "sub" / "y.txt").stat().st_mode & 0o222  # the stored data, read-only
    assert not (src / "sub" / "y.txt").stat().st_mode & 0o222

    from_tar = DataInstance("dir", data=di.get_bytes())
    out = tmp_path / "out"
    from_tar.link(out)
    assert not out.is_symlink()
    assert (out / "x.txt").read_text() == "xx"
    assert not (out / "sub").stat().st_mode & 0o222
    with pytest.raises(RainException, match="exists"):
        from_tar.link(out)


def test_load_cache() -> None:
    di = DataInstance(data=b'{"a": [1]}', content_type="json")
    first = di.load(cache=True)
    assert first == {"a": [1]} and di.load(cache=True) is first
    assert di.load() == first and di.load() is not first


def test_repr() -> None:
    r = repr(DataInstance(data=b"abc", content_type="text"))
    assert "blob" in r
    assert "3 bytes" in r
    assert "'text'" in r


def test_write_refuses_a_crafted_directory_archive(tmp_path: Path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        link = tarfile.TarInfo("etc")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tf.addfile(link)
    with pytest.raises(RainException, match="unsafe member 'etc'"):
        DataInstance("dir", data=buf.getvalue()).write(tmp_path / "out")
    assert not (tmp_path / "out").exists()
