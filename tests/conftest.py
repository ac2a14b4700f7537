"""Fixtures shared by all tests: real Rain clusters for integration tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.cluster import Cluster


@pytest.fixture
def make_cluster(tmp_path) -> Iterator[Callable[..., Cluster]]:  # type: ignore[no-untyped-def]
    """`make_cluster(governors=[cpus, ...], env={...})` -> a started Cluster."""
    clusters: list[Cluster] = []

    def make(governors: list[int] | None = None, env: dict[str, str] | None = None,
             governor_args: tuple[str, ...] = (), server_args: tuple[str, ...] = ()) -> Cluster:
        if governors is None:
            governors = [1]
        path = tmp_path / f"cluster{len(clusters)}"
        path.mkdir()
        cluster = Cluster(str(path), env)
        clusters.append(cluster)
        cluster.start_server(*server_args)
        cluster.start_governors(governors, *governor_args)
        return cluster

    yield make
    for cluster in clusters:
        cluster.close()


@pytest.fixture
def cluster(make_cluster) -> Cluster:  # type: ignore[no-untyped-def]
    """A server with one 1-CPU governor."""
    return make_cluster([1])


@pytest.fixture
def client(cluster):  # type: ignore[no-untyped-def]
    return cluster.client()


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Access files go under ~/.rain: every test (and the processes it starts) gets its own
    home, so the suite never reads or writes the real one of whoever runs it."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("RAIN_ACCESS_FILE", raising=False)


@pytest.fixture(autouse=True)
def _no_active_session_leak() -> Iterator[None]:
    from rain.client import session as session_module

    yield
    session_module._session_stack.clear()
    session_module._default_session = None


def pytest_report_header() -> str:
    return f"rain test tmp: {os.environ.get('TMPDIR', '/tmp')}"
