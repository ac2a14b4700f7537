"""Random concat graphs on real processes give the same bytes as computing them locally."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rain.client import blob, tasks

graphs = st.lists(
    st.tuples(st.lists(st.integers(0, 10**6), max_size=4), st.integers(1, 3), st.booleans()),
    min_size=1, max_size=30,
)


@pytest.fixture
def shared_cluster(make_cluster):
    return make_cluster([1, 3])


@pytest.mark.timeout(120)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=graphs)
def test_random_concat_graphs(shared_cluster, graph):
    client = shared_cluster.client()
    with client.new_session() as s:
        objects = [blob(b"a"), blob(b"b")]
        expected = [b"a", b"b"]
        for picks, cpus, slow in graph:
            chosen = [i % len(objects) for i in picks]
            task = tasks.Concat([objects[i] for i in chosen])
            if slow:
                task = tasks.Sleep(task, 0.01, cpus=cpus)
            objects.append(task.output)
            expected.append(b"".join(expected[i] for i in chosen))
        for obj in objects[2:]:
            obj.keep()
        s.submit()
        assert [o.fetch().get_bytes() for o in objects[2:]] == expected[2:]
    client.close()
