"""One live cluster per test process for the documentation's examples."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cluster import Cluster

DOCS_PORT = 7210  # the examples connect to localhost:7210, as a reader's would
DOCS_GOVERNORS = [2, 2]


@pytest.fixture(scope="session")
def docs_cluster(tmp_path_factory) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    """A server with two 2-CPU governors (with the installed plugins, as `rain start` would have)."""
    cluster = Cluster(str(tmp_path_factory.mktemp("docs-cluster")))
    try:
        cluster.start_server()
        for cpus in DOCS_GOVERNORS:
            cluster.start_governor(cpus)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def to_docs_cluster(docs_cluster, monkeypatch) -> Cluster:  # type: ignore[no-untyped-def]
    """Connections to localhost:7210 reach the docs cluster (on a free port: tests run in
    parallel, and a real Rain may be running on 7210)."""
    real: Callable[..., socket.socket] = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address[0], address[1]
        if port == DOCS_PORT and host in ("localhost", "127.0.0.1", "::1"):
            address = ("127.0.0.1", docs_cluster.port)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    # and the key is where `rain start` on port 7210 would have put it (HOME is the test's own)
    from rain.core.access import default_path

    key_file = default_path(DOCS_PORT)
    os.makedirs(os.path.dirname(key_file), mode=0o700, exist_ok=True)
    shutil.copy(docs_cluster.access_file, key_file)
    os.chmod(key_file, 0o600)
    return docs_cluster
