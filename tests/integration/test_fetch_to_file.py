"""`fetch(path=...)`: objects downloaded straight into files, over plain TCP and TLS.

Big stored objects travel unframed after `RawObject` (sendfile on the governor, `recv_into` in
the client and in peers); over TLS they come as chunks. Every path must give the same bytes.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from rain.client import RainException, blob, tasks

BIG = 3_000_000  # above the store's in-memory limit: a file on the governor


def _produce(size: int) -> tasks.Execute:
    # `head -c` of a deterministic stream, so the client can check the bytes
    return tasks.Execute(f"yes 0123456789abcdef | head -c {size}", shell=True, stdout=True)


def _expected(size: int) -> bytes:
    line = b"0123456789abcdef\n"
    return (line * (size // len(line) + 1))[:size]


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_big_object_moves_between_governors_and_into_a_file(make_cluster, tmp_path, tls):
    cluster = make_cluster([1, 2], server_args=("--tls",) if tls else ())
    client = cluster.client()
    with client.new_session() as s:
        made = _produce(BIG)
        summed = tasks.Execute("md5sum", stdin=made.output, stdout=True, cpus=2)  # only the 2-CPU governor
        made.output.keep()
        summed.output.keep()
        s.submit()
        digest = summed.output.fetch().get_str().split()[0]
        assert digest == hashlib.md5(_expected(BIG)).hexdigest()
        target = tmp_path / "big.bin"
        target.write_bytes(b"old content")
        instance = made.output.fetch(path=target)
        assert instance.path == str(target)
        assert target.read_bytes() == _expected(BIG)
        assert instance.get_bytes() == _expected(BIG)
        assert made.output.fetch().get_bytes() == _expected(BIG)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".big.bin")] == []  # no leftovers


def test_small_and_directory_objects_to_paths(cluster, tmp_path):
    client = cluster.client()
    with client.new_session() as s:
        small = tasks.Concat([blob(b"a"), blob(b"b")])
        tree = tasks.MakeDirectory({"x/y.txt": blob(b"deep"), "z.txt": blob(b"top")})
        small.output.keep()
        tree.output.keep()
        s.submit()
        small.output.fetch(path=tmp_path / "small")
        assert (tmp_path / "small").read_bytes() == b"ab"
        out = tmp_path / "tree"
        out.mkdir()
        (out / "stale").write_text("replaced")
        tree.output.fetch(path=out)
        assert sorted(os.listdir(out)) == ["x", "z.txt"]
        assert (out / "x" / "y.txt").read_bytes() == b"deep"
        (out / "new").write_text("writable")  # a fresh, writable directory


def test_fetch_to_a_missing_directory_is_refused(cluster, tmp_path):
    client = cluster.client()
    with client.new_session() as s:
        t = tasks.Concat([blob(b"a")])
        t.output.keep()
        s.submit()
        with pytest.raises(RainException, match="does not exist"):
            t.output.fetch(path=tmp_path / "nope" / "file")
