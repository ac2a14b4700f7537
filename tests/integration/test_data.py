"""Garbage collection, keep/unkeep and data movement between governors."""

from __future__ import annotations

import os
import socket

import pytest

from rain.client import RainException, blob, tasks
from rain.common.rows import SMALL_OUTPUT
from tests.cluster import wait_until

GC_NOW = {"RAIN_DELETE_LIST_TIMEOUT": "0"}


def governor_objects(client):
    return {g["governor_id"]: (set(g["objects"]), set(g["objects_to_delete"]))
            for g in client.get_server_info()["governors"]}


def test_gc_of_unneeded_objects(make_cluster):
    cluster = make_cluster([1], env=GC_NOW)
    client = cluster.client()
    gid = cluster.governor_ids[0]
    with client.new_session() as s:
        a, b = blob(b"a"), blob(b"b")
        t1 = tasks.Concat([a, b])
        t2 = tasks.Concat([t1, b])
        t2.output.keep()
        s.submit()
        s.wait_all()
        assert governor_objects(client)[gid] == ({t2.output.id}, set())
        t2.output.unkeep()
        assert governor_objects(client)[gid] == (set(), set())
        with pytest.raises(RainException):
            t2.output.fetch()


def test_delete_list_timeout(make_cluster):
    cluster = make_cluster([1], env={"RAIN_DELETE_LIST_TIMEOUT": "1"})
    client = cluster.client()
    gid = cluster.governor_ids[0]
    with client.new_session() as s:
        t = tasks.Concat([blob(b"a"), blob(b"b")])
        t.output.keep()
        s.submit()
        s.wait_all()
        t.output.unkeep()
        objects, to_delete = governor_objects(client)[gid]
        assert t.output.id in to_delete and t.output.id not in objects  # first listed, then gone
        wait_until(lambda: governor_objects(client)[gid] == (set(), set()), what="the delayed deletion")


def test_session_close_leaves_nothing(make_cluster, tmp_path):
    cluster = make_cluster([1, 1])
    client = cluster.client()
    big = os.urandom(3 * 1024 * 1024)
    with client.new_session() as s:
        parts = [tasks.Concat([blob(big), blob(str(i))]) for i in range(4)]
        for p in parts:
            p.output.keep()
        s.submit()
        s.wait_all()
        assert any(objs for objs, _ in governor_objects(client).values())
    assert all(objs == set() and dels == set() for objs, dels in governor_objects(client).values())
    stores = [os.path.join(cluster.tmp, d, "objects") for d in os.listdir(cluster.tmp) if d.startswith("gov-work")]
    assert len(stores) == 2
    wait_until(lambda: all(os.listdir(store) == [] for store in stores))


def test_transfer_between_governors(make_cluster):
    cluster = make_cluster([1, 1])
    client = cluster.client()
    data = [os.urandom(2 * 1024 * 1024), os.urandom(300 * 1024)]
    with client.new_session() as s:
        # two slow producers run at once, so they land on different governors
        producers = [tasks.Sleep(tasks.Concat([blob(d)]), 0.3) for d in data]
        joined = tasks.Concat(producers)
        joined.output.keep()
        s.submit()
        assert joined.output.fetch().get_bytes() == data[0] + data[1]
        s.update([*producers, joined])
        assert producers[0].info.governor != producers[1].info.governor
    assert cluster.logs().count("fetched object") == 1


def test_fetch_of_a_big_object_streams_from_its_governor(client):
    """Above 32 MiB the client spools the download to a temporary file; the bytes are the same."""
    size = 40 * 1024 * 1024 + 3
    with client.new_session() as s:
        t = tasks.Execute(f"yes 0123456789abcdef | head -c {size}", stdout=True, shell=True)
        t.output.keep()
        s.submit()
        data = t.output.fetch().get_bytes()
    assert type(data) is bytes
    assert data == (b"0123456789abcdef\n" * (size // 17 + 1))[:size]


def test_fetches_from_a_governor_reuse_one_connection(client):
    """The client keeps its data connection to a governor (no handshake per fetch); a kept
    connection that went stale is replaced transparently. (Bigger than SMALL_OUTPUT: a small
    result comes with the server's answer instead.)"""
    big = b"x" * (SMALL_OUTPUT + 1)
    with client.new_session() as s:
        outputs = [tasks.Concat([blob(big), blob(str(i))]) for i in range(3)]
        for t in outputs:
            t.output.keep()
        s.submit()
        assert outputs[0].output.fetch().get_bytes() == big + b"0"
        [(address, kept)] = client.governor_connections._idle.items()
        assert outputs[1].output.fetch().get_bytes() == big + b"1"
        assert client.governor_connections._idle[address] is kept
        kept._sock.shutdown(socket.SHUT_RDWR)  # as if the governor had dropped it
        assert outputs[2].output.fetch().get_bytes() == big + b"2"
        assert client.governor_connections._idle[address] is not kept
