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


def test_pack_follows_symlinks_inside(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "target.txt").write_text("target")
    (src / "link").symlink_to("sub/target.txt")
    (src / "dirlink").symlink_to("sub")
    dst = tmp_path / "dst"
    dirtar.unpack_directory(dirtar.pack_directory(src), dst)
    assert not (dst / "link").is_symlink() and not (dst / "dirlink").is_symlink()
    assert (dst / "link").read_text() == "target"
    assert (dst / "dirlink" / "target.txt").read_text() == "target"


@pytest.mark.parametrize("target", ["../outside.txt", "/etc/hostname", "."])
def test_pack_refuses_links_leaving_the_tree_and_cycles(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    src = tmp_path / "src"
    src.mkdir()
    (src / "link").symlink_to(target)
    with pytest.raises(RainException, match="symlink (pointing outside|cycle)"):
        dirtar.pack_directory(src)


def test_pack_refuses_fifo(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "pipe")
    with pytest.raises(RainException, match="a fifo cannot be part of a dir object"):
        dirtar.pack_directory(src)


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


def _member(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


UNSAFE_ARCHIVES = {
    "absolute": [_file("/tmp/rain-evil")],
    "dotdot": [_file("a/../../evil")],
    "chardev": [_member("null", tarfile.CHRTYPE)],
    "blockdev": [_member("disk", tarfile.BLKTYPE)],
    "fifo": [_member("pipe", tarfile.FIFOTYPE)],
    "symlink-dotdot": [_member("escape", tarfile.SYMTYPE, "../../outside")],
    "symlink-absolute": [_member("escape", tarfile.SYMTYPE, "/etc")],
    "hardlink-absolute": [_member("passwd", tarfile.LNKTYPE, "/etc/passwd")],
    "hardlink-dotdot": [_member("h", tarfile.LNKTYPE, "../outside.txt")],
    # each link looks inside when it is made; together they lead out ("a" -> "c/.." -> "./..")
    "symlink-chain": [_member("a", tarfile.SYMTYPE, "c/.."), _member("c", tarfile.SYMTYPE, ".")],
    "write-through-symlink": [_member("d", tarfile.SYMTYPE, "."), _file("d/../escaped")],
}


@pytest.fixture(params=[True, False], ids=["data-filter", "own-extraction"])
def extraction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both the path using tarfile's data filter and the one for Pythons without it (3.11.2)."""
    if request.param and not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile.data_filter")
    monkeypatch.setattr(dirtar, "_HAS_DATA_FILTER", request.param)
    return bool(request.param)


@pytest.mark.parametrize("case", sorted(UNSAFE_ARCHIVES))
def test_unpack_refuses_crafted_archives(tmp_path: Path, extraction: bool, case: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    data = _tar_with([_file("ok"), *UNSAFE_ARCHIVES[case]])
    dst = tmp_path / "sandbox" / "dst"
    dst.parent.mkdir()
    with pytest.raises(RainException, match="unsafe member"):
        dirtar.unpack_directory(data, dst)
    assert not dst.exists()
    assert sorted(os.listdir(tmp_path / "sandbox")) == []
    assert (tmp_path / "outside.txt").read_text() == "secret"
    assert not Path("/tmp/rain-evil").exists()


def test_unpack_keeps_links_inside_and_modes(tmp_path: Path, extraction: bool) -> None:
    exe = tarfile.TarInfo("bin/tool")
    exe.size, exe.mode = 2, 0o755
    ro = tarfile.TarInfo("ro")
    ro.type, ro.mode = tarfile.DIRTYPE, 0o555
    setuid = tarfile.TarInfo("ro/f")
    setuid.size, setuid.mode, setuid.uid = 1, 0o4755, 12345
    hard, _ = _member("hard", tarfile.LNKTYPE, "bin/tool")
    hard.mode = 0o755  # as tar writes it: the mode of the linked file
    data = _tar_with([(exe, b"#!"), (ro, None), (setuid, b"x"),
                      _member("bin/alias", tarfile.SYMTYPE, "tool"), (hard, None)])
    dst = tmp_path / "dst"
    dirtar.unpack_directory(data, dst)
    try:
        assert (dst / "bin" / "alias").is_symlink() and (dst / "bin" / "alias").read_bytes() == b"#!"
        assert (dst / "hard").read_bytes() == b"#!"
        assert stat.S_IMODE((dst / "bin" / "tool").stat().st_mode) == 0o755
        assert stat.S_IMODE((dst / "ro").stat().st_mode) == 0o555
        assert not (dst / "ro" / "f").stat().st_mode & stat.S_ISUID
        assert (dst / "ro" / "f").stat().st_uid == os.getuid()
    finally:
        dirtar.remove_tree(dst)


def test_check_tree_refuses_special_files_and_outside_links(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "inside").symlink_to("sub")
    dirtar.check_tree(tree)
    os.mkfifo(tree / "sub" / "pipe")
    with pytest.raises(RainException, match="holds a fifo 'sub/pipe'"):
        dirtar.check_tree(tree)
    os.unlink(tree / "sub" / "pipe")
    (tree / "out").symlink_to(tmp_path)
    with pytest.raises(RainException, match="symlink 'out' pointing outside"):
        dirtar.check_tree(tree)


def test_link_tree_is_a_real_directory_of_read_only_files(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    dirtar.make_read_only(src)
    view = tmp_path / "view"
    dirtar.link_tree(src, view)
    assert not view.is_symlink() and (view / "sub" / "deeper").is_dir()
    assert {k: v[2] for k, v in snapshot(view).items()} == {k: v[2] for k, v in snapshot(src).items()}
    assert (view / "a.txt").stat().st_ino == (src / "a.txt").stat().st_ino
    assert not (view / "a.txt").stat().st_mode & 0o222
    (view / "sub" / "new").write_text("the view's own directories take new entries")
    assert not (src / "sub" / "new").exists()
    dirtar.remove_tree(view)
    assert not view.exists()
    assert not (src / "a.txt").stat().st_mode & 0o222  # the shared inode stays read-only
    dirtar.remove_tree(src)
