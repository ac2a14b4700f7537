"""Tests of directory packing/unpacking and the file-tree helpers."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from rain.common import dirtar
from rain.common.errors import RainException


def make_tree(root: Path) -> Path:
    root.mkdir()
    (root / "a.txt").write_text("hello")
    (root / "empty").write_bytes(b"")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "deeper" / "b.bin").write_bytes(b"\x00\x01")
    (root / "emptydir").mkdir()
    return root


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes | None]]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        mode = stat.S_IMODE(p.stat().st_mode)
        out[rel] = ("dir", mode, None) if p.is_dir() else ("file", mode, p.read_bytes())
    return out


def test_pack_unpack_roundtrip(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    data = dirtar.pack_directory(src)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
    assert all(not n.startswith(("/", "./")) for n in names)
    assert "sub/deeper/b.bin" in names
    dst = tmp_path / "dst"
    dirtar.unpack_directory(data, dst)
    assert snapshot(dst) == snapshot(src)
    assert snapshot(dst)["run.sh"][1] & 0o100


def test_pack_is_deterministic_and_streams(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    buf = io.BytesIO()
    dirtar.write_directory_tar(src, buf)
    assert buf.getvalue() == dirtar.pack_directory(src)
    buf.seek(0)
    dirtar.unpack_directory(buf, tmp_path / "dst")
    assert (tmp_path / "dst" / "a.txt").read_text() == "hello"


def test_pack_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("target")
    src = tmp_path / "src"
    src.mkdir()
    (src / "link").symlink_to(outside)
    dst = tmp_path / "dst"
    dirtar.unpack_directory(dirtar.pack_directory(src), dst)
    assert not (dst / "link").is_symlink()
    assert (dst / "link").read_text() == "target"


def test_pack_not_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(RainException, match="not a directory"):
        dirtar.pack_directory(f)


def test_read_only_dirs_roundtrip(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    dirtar.make_read_only(src)
    try:
        dst = tmp_path / "dst"
        dirtar.unpack_directory(dirtar.pack_directory(src), dst)
        assert snapshot(dst) == snapshot(src)
        assert not (dst / "sub").stat().st_mode & stat.S_IWUSR
    finally:
        dirtar.remove_tree(tmp_path / "dst")
        dirtar.remove_tree(src)
    assert not src.exists()


def test_unpack_into_empty_existing_dir(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    dst.mkdir()
    dirtar.unpack_directory(dirtar.pack_directory(src), dst)
    assert (dst / "sub" / "deeper" / "b.bin").read_bytes() == b"\x00\x01"


def test_unpack_into_nonempty_or_file_fails(tmp_path: Path) -> None:
    data = dirtar.pack_directory(make_tree(tmp_path / "src"))
    nonempty = tmp_path / "nonempty"
    nonempty.mkdir()
    (nonempty / "x").write_text("keep")
    with pytest.raises(RainException, match="exists"):
        dirtar.unpack_directory(data, nonempty)
    assert os.listdir(nonempty) == ["x"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RainException, match="exists"):
        dirtar.unpack_directory(data, afile)


def _tar_with(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for info, content in members:
            tf.addfile(info, io.BytesIO(content) if content is not None else None)
    return buf.getvalue()


def _file(name: str, content: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info, content


@pytest.mark.parametrize("name", ["../evil", "/abs/evil", "a/../../evil"])
def test_unpack_rejects_unsafe_names(tmp_path: Path, name: str) -> None:
    data = _tar_with([_file("ok"), _file(name)])
    dst = tmp_path / "sandbox" / "dst"
    with pytest.raises(RainException, match="unsafe member"):
        dirtar.unpack_directory(data, dst)
    assert not dst.exists()
    assert not (tmp_path / "sandbox" / "evil").exists()
    assert not Path("/abs/evil").exists()


def test_unpack_rejects_link_leaving_target(tmp_path: Path) -> None:
    link = tarfile.TarInfo("escape")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../outside"
    data = _tar_with([(link, None)])
    with pytest.raises(RainException, match="unsafe member"):
        dirtar.unpack_directory(data, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_unpack_cleans_empty_existing_target_on_failure(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    dst.mkdir()
    with pytest.raises(RainException):
        dirtar.unpack_directory(_tar_with([_file("ok"), _file("../bad")]), dst)
    assert dst.is_dir()
    assert os.listdir(dst) == []


def test_unpack_garbage(tmp_path: Path) -> None:
    with pytest.raises(RainException, match="invalid directory archive"):
        dirtar.unpack_directory(b"this is not a tar archive" * 40, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_copy_tree(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    dirtar.copy_tree(src, dst)
    assert snapshot(dst) == snapshot(src)
    with pytest.raises(RainException, match="exists"):
        dirtar.copy_tree(src, dst)
    dirtar.copy_tree(src / "run.sh", tmp_path / "single")
    assert (tmp_path / "single").stat().st_mode & 0o100


def test_make_read_only_and_writable(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    dirtar.make_read_only(src)
    modes = [p.stat().st_mode for p in [src, *src.rglob("*")]]
    assert all(not m & 0o222 for m in modes)
    assert (src / "run.sh").stat().st_mode & 0o100  # exec bits kept
    dirtar.make_writable(src)
    assert all(p.stat().st_mode & stat.S_IWUSR for p in [src, *src.rglob("*")])
    (src / "sub" / "new").write_text("now possible")
    assert (src / "sub" / "new").read_text() == "now possible"


def test_make_writable_descends_unreadable_dirs(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    (src / "sub" / "deeper").chmod(0o000)
    (src / "sub").chmod(0o000)
    dirtar.remove_tree(src)
    assert not src.exists()


def test_remove_tree_file_symlink_missing(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o444)
    dirtar.remove_tree(f)
    assert not f.exists()
    target = make_tree(tmp_path / "target")
    dirtar.make_read_only(target)
    link = tmp_path / "link"
    link.symlink_to(target)
    dirtar.remove_tree(link)
    assert not link.exists()
    assert (target / "a.txt").read_text() == "hello"
    assert not target.stat().st_mode & stat.S_IWUSR  # target untouched
    dirtar.remove_tree(tmp_path / "missing")
    dirtar.remove_tree(target)
    assert not target.exists()


def test_tree_size(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    assert dirtar.tree_size(src) == 5 + 0 + 10 + 2
    assert dirtar.tree_size(src / "a.txt") == 5
