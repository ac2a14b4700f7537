"""Placement through real processes in scheduler test mode (RAIN_TEST_MODE=1).

Constants carry `spec.user["_testing"] = {"governors": [...], "size": N}` so the server believes
they are present on those governors with N bytes; no real big data moves.
"""

from __future__ import annotations

import pytest

from rain.client import RainException, blob, tasks

MB = 1024 * 1024
TEST_MODE = {"RAIN_TEST_MODE": "1"}


def placed(governors: list[str], size: int, label: str = "const"):
    obj = blob(label.encode(), label)
    obj.spec.user["_testing"] = {"governors": governors, "size": size}
    return obj


def test_twenty_tasks_run_where_their_object_is(make_cluster):
    cluster = make_cluster([1] * 20, env=TEST_MODE)
    client = cluster.client()
    with client.new_session() as s:
        ts = [tasks.Concat([placed([gid], 50 * MB)]) for gid in cluster.governor_ids]
        s.submit()
        s.wait_all()
        s.update(ts)
        assert [t.info.governor for t in ts] == cluster.governor_ids


def test_small_object_decides_when_big_ones_are_everywhere(make_cluster):
    cluster = make_cluster([1, 1, 1], env=TEST_MODE)
    everywhere = cluster.governor_ids
    client = cluster.client()
    for target in everywhere:
        with client.new_session() as s:
            t = tasks.Concat([placed(everywhere, 500 * MB), placed(everywhere, 500 * MB),
                              placed([target], 50 * MB)])
            s.submit()
            t.wait()
            t.update()
            assert t.info.governor == target


def test_big_constant_beats_produced_input(make_cluster):
    cluster = make_cluster([1, 1], env=TEST_MODE)
    a, b = cluster.governor_ids
    client = cluster.client()
    with client.new_session() as s:
        produced = tasks.Concat([placed([a], 100 * MB)])
        consumer = tasks.Concat([produced, placed([b], 500 * MB)])
        s.submit()
        s.wait_all()
        s.update([produced, consumer])
        assert produced.info.governor == a
        assert consumer.info.governor == b


def test_resource_fitting(make_cluster, tmp_path):
    cluster = make_cluster([1, 2, 3, 4, 5, 6])
    by_cpus = dict(zip([1, 2, 3, 4, 5, 6], cluster.governor_ids, strict=True))
    client = cluster.client()
    barrier = tmp_path / "started"
    barrier.mkdir()
    # Each program waits until all six have started: they can only finish if all ran at once,
    # which they can only do each on the governor of its size.
    wait_for_all = (f"touch {barrier}/$0; i=0; while [ $(ls {barrier} | wc -l) -lt 6 ]; do "
                    "i=$((i+1)); [ $i -gt 3000 ] && exit 3; sleep 0.01; done")
    with client.new_session() as s:
        ts = {n: tasks.Execute(["sh", "-c", wait_for_all, str(n)], cpus=n) for n in (1, 3, 5, 2, 6, 4)}
        s.submit()
        s.wait_all()
        s.update(list(ts.values()))
        assert {n: t.info.governor for n, t in ts.items()} == by_cpus


def test_task_bigger_than_any_governor_is_refused(make_cluster):
    cluster = make_cluster([2, 3])
    client = cluster.client()
    with client.new_session() as s:
        tasks.Sleep(blob(b"x"), 0.1, cpus=4)
        s.submit()  # pipelined: its error is raised by the session's next call
        with pytest.raises(RainException, match="requests 4 cpus but the largest governor has 3"):
            s.wait_all()
