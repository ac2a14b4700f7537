"""Governors on hosts of their own: network namespaces joined by veth pairs on a bridge.

The server and the client stay in the root namespace, on the bridge's address; each governor
runs in its namespace on its own address, so objects really move between host addresses. A
silent partition takes a governor's link down: no FIN, no RST, the connection just goes quiet,
which only the heartbeat timeout can tell from a slow network. Needs root (skipped otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.cluster import Cluster, wait_until
from tests.integration.test_recovery import gated_fft, governor_objects, governors, wait_for_events

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="network namespaces need root and iproute2")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Hosts:
    """A bridge with an address in the root namespace, and hosts (namespaces) on it. Names and
    the subnet come from the pid, so parallel test workers do not collide."""

    def __init__(self) -> None:
        pid = os.getpid()
        self.tag = f"{pid % 100000}"
        self.subnet = f"10.{200 + pid % 50}.{pid // 50 % 250}"
        self.bridge = f"rb{self.tag}"
        self.gateway = f"{self.subnet}.1"
        self.namespaces: list[str] = []
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add(self) -> tuple[str, tuple[str, ...]]:
        """A new host: (its address, the prefix that runs a command on it)."""
        n = len(self.namespaces) + 1
        ns, outside, address = f"rain{self.tag}h{n}", self.link(n), f"{self.subnet}.{10 + n}"
        ip("netns", "add", ns)
        self.namespaces.append(ns)
        ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", outside, "master", self.bridge, "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        return address, ("ip", "netns", "exec", ns)

    def link(self, n: int) -> str:
        return f"rv{self.tag}h{n}"

    def set_link(self, n: int, state: str) -> None:
        ip("link", "set", self.link(n), state)

    def remove(self) -> None:
        """Deletes both ends of each veth pair at once (a namespace outlives its name while
        orphaned sockets of its processes still retransmit), the namespaces and the bridge."""
        for n, ns in enumerate(self.namespaces, 1):
            subprocess.run(["ip", "link", "del", self.link(n)], capture_output=True, timeout=10)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=10)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    try:
        made = Hosts()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create a bridge here: {exc.stderr.decode().strip()}")
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture
def cluster_on_hosts(hosts: Hosts, tmp_path) -> Iterator[tuple[Cluster, list[str]]]:  # type: ignore[no-untyped-def]
    """A server on the bridge (2 s heartbeat timeout) and three 1-CPU governors, each on a host."""
    cluster = Cluster(str(tmp_path), host=hosts.gateway)
    try:
        placed = [hosts.add() for _ in range(3)]
        cluster.start_server("--heartbeat-timeout", "2")
        ids = cluster.start_governors([1, 1, 1], hosts=placed)
        yield cluster, ids
    finally:
        cluster.close()


def test_a_silently_partitioned_governor_costs_a_retry_not_the_session(cluster_on_hosts, hosts, tmp_path):
    cluster, ids = cluster_on_hosts
    assert [g.split(":")[0] for g in ids] == [f"{hosts.subnet}.{10 + n}" for n in (1, 2, 3)]
    client = cluster.client()
    release = str(tmp_path / "release")
    with client.new_session() as s:
        first, level, values = gated_fft(release, layers=6, width=60)
        s.submit()
        s.wait(first)  # the first half is done, spread over the three hosts
        held = governor_objects(client)
        victim = max(held, key=lambda g: held[g])
        assert held[victim] > 0
        hosts.set_link(ids.index(victim) + 1, "down")  # silent: nothing reaches either side
        try:
            wait_until(lambda: victim not in governors(client), timeout=15, what="the partitioned governor to be lost")
            [lost] = wait_for_events(cluster, "GovernorLost")
            assert lost["governor"] == victim and "no heartbeat" in lost["reason"]
            open(release, "w").close()
            s.wait_all()
            assert [obj.fetch().get_bytes() for obj in level] == values  # as a fault-free run
            # the governor finds the silence by itself (its heartbeats stay unacknowledged)
            wait_until(lambda: "connection to the server failed" in cluster.logs(), timeout=15,
                       what="the partitioned governor to drop its dead server connection")
        finally:
            hosts.set_link(ids.index(victim) + 1, "up")
    # healed: the governor dials again, is told to drop what it had, and rejoins
    wait_until(lambda: victim in governors(client), timeout=30, what="the healed governor to register again")
    [again] = [g for g in client.get_server_info()["governors"] if g["governor_id"] == victim]
    assert again["objects"] == [] and again["tasks"] == []
