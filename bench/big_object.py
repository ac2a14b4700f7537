"""A 500 MB object made on one governor, moved to a second one, then fetched by the client.

    python bench/big_object.py [--mb 500]

Governor A has 1 CPU and governor B 2 CPUs. The producer `head -c N /dev/urandom` (1 CPU) lands
on A (best fit); the consumer `wc -c` reads it on stdin and asks for 2 CPUs, so only B can run it
and the object must travel A -> B over the governors' data ports. Then the client fetches the
object. Prints the peak RSS (VmHWM) of the server, both governors and the client, and the
throughput of the peer transfer and of the client fetch. Streaming in 1 MiB chunks should keep
the server and both governors far below the object's size.
"""

from __future__ import annotations

import argparse
import time

from local import local_rain, own_peak_rss_mb, peak_rss_mb, rss_mb

from rain.client import tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500, help="object size in MB (10^6 bytes)")
    args = parser.parse_args()
    size = args.mb * 1_000_000

    with local_rain([1, 2]) as cluster:
        client = cluster.client()
        pids = {"server": cluster.server_process.pid}
        cpus = dict(zip(cluster.governor_ids, [1, 2], strict=False))
        for gid, proc in cluster.governor_processes.items():
            pids[f"governor {'A' if cpus[gid] == 1 else 'B'} ({gid}, {cpus[gid]} cpu)"] = proc.pid
        idle = {name: rss_mb(pid) for name, pid in pids.items()}
        client_idle = own_peak_rss_mb()

        with client.new_session() as s:
            producer = tasks.Execute(f"head -c {size} /dev/urandom", stdout=True, name="produce")
            consumer = tasks.Execute("wc -c", stdin=producer.output, stdout=True, cpus=2, name="consume")
            producer.output.keep()
            consumer.output.keep()
            start = time.perf_counter()
            s.submit()
            s.wait([producer])
            produced = time.perf_counter()
            s.wait([consumer])
            consumed = time.perf_counter()
            count = int(consumer.output.fetch().get_bytes().split()[0])
            assert count == size, (count, size)
            s.update([producer, consumer])
            fetch_start = time.perf_counter()
            data = producer.output.fetch().get_bytes()
            fetched = time.perf_counter()
            assert len(data) == size
            del data
            where = (producer.info.governor, consumer.info.governor)
            peaks = {name: peak_rss_mb(pid) for name, pid in pids.items()}
        client_peak = own_peak_rss_mb()
        moves = cluster.logs().count("fetched object")

    mb = size / 1e6
    print(f"object: {mb:,.0f} MB from `head -c {size} /dev/urandom` "
          f"(produced in {produced - start:.2f} s after submit)")
    print(f"producer ran on {where[0]}, consumer on {where[1]}; peer transfers logged by governors: {moves}")
    if where[0] == where[1]:
        print("WARNING: both tasks ran on one governor, so nothing moved between governors")
    print(f"peer transfer + `wc -c`: {consumed - produced:.2f} s = {mb / (consumed - produced):,.0f} MB/s")
    print(f"client fetch: {fetched - fetch_start:.2f} s = {mb / (fetched - fetch_start):,.0f} MB/s")
    print("peak RSS (VmHWM):")
    for name in pids:
        print(f"  {name:40} {peaks[name]:8,.0f} MB (idle {idle[name]:.0f} MB)")
    print(f"  {'client (this process)':40} {client_peak:8,.0f} MB (before the run {client_idle:.0f} MB)")


if __name__ == "__main__":
    main()
