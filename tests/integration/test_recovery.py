"""Lost governors cost a retry, not the session: real governors killed (SIGKILL) or frozen
(SIGSTOP) in the middle of a graph; the results must equal those of a fault-free run.

Each graph waits at a gate (a program that ends once a file exists) after its first part, so
the kill lands mid-graph: the first part's results are spread over the governors, and the
second part needs them, so what the victim held must be recomputed from lineage.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from rain.client import blob, tasks
from tests.cluster import Cluster, wait_until

GATE = 'while [ ! -e "$0" ]; do sleep 0.02; done'


def gate(path: str) -> Any:
    """An empty object that exists once `path` does."""
    return tasks.Execute(["sh", "-c", GATE, path], stdout=True, name="gate").output


def fft_pairs(layers: int, width: int) -> list[list[tuple[int, int]]]:
    out = []
    for layer in range(layers):
        step = 1 << (layer % max(1, width.bit_length() - 1))
        out.append([(i, i ^ step if (i ^ step) < width else i) for i in range(width)])
    return out


def governor_objects(client: Any) -> dict[str, int]:
    return {g["governor_id"]: len(g["objects"]) for g in client.get_server_info()["governors"]}


def governors(client: Any) -> list[str]:
    return [g["governor_id"] for g in client.get_server_info()["governors"]]


def kill(cluster: Cluster, governor_id: str, sig: int = signal.SIGKILL) -> None:
    os.killpg(cluster.governor_processes[governor_id].pid, sig)


def kill_richest(cluster: Cluster, client: Any) -> str:
    """SIGKILLs the governor holding most objects and waits until the server has lost it."""
    victim = max(governor_objects(client).items(), key=lambda item: item[1])[0]
    kill(cluster, victim)
    wait_until(lambda: victim not in governors(client), what=f"governor {victim} to be lost")
    return victim


def concat_fft(client: Any, cluster: Cluster, tmp_path: Any, victims: int, layers: int = 10,
               width: int = 500) -> None:
    """A concat graph of layers x width tasks; `victims` governors killed at its middle."""
    release = str(tmp_path / "release")
    with client.new_session() as s:
        values = [b"%d." % i for i in range(width)]
        level = [blob(v) for v in values]
        pairs_by_layer = fft_pairs(layers, width)
        first = []
        for n, pairs in enumerate(pairs_by_layer):
            opened = gate(release) if n == layers // 2 else None
            level = [tasks.Concat([level[a], level[b]] if opened is None else [opened, level[a], level[b]]).output
                     for a, b in pairs]
            values = [values[a] + values[b] for a, b in pairs]
            if n < layers // 2:
                first = level
        for obj in level:
            obj.keep()
        s.submit()
        s.wait(first)  # the first half is done, spread over the governors
        for _ in range(victims):
            kill_richest(cluster, client)
        open(release, "w").close()
        s.wait_all()
        assert [obj.fetch().get_bytes() for obj in level] == values


@pytest.mark.parametrize("victims", [1, 2])
def test_concat_graph_survives_killed_governors(make_cluster, tmp_path, victims):
    cluster = make_cluster([1, 1, 1])
    client = cluster.client()
    concat_fft(client, cluster, tmp_path, victims)
    events = client.get_server_info()
    assert len(events["governors"]) == 3 - victims
