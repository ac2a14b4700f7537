"""What an open dashboard costs: compare.py's (d) with and without a headless browser on it.

    cd bench && ../.venv/bin/python dashboard_overhead.py [--rounds 2] [--quick]

(d) is compare.py's workload: 20 submits of 50,000 independent concats in one session, then
one wait, on one governor with 2 CPUs. Runs alternate, without then with the browser, so a
change in the machine's background load hits both sides alike; the load average is printed
around every run. The browser is Debian's headless chromium (driven by playwright) with two
tabs on the dashboard, the overview and the page of the million-task session, both polling
once a second.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compare import log, rain_independent, rain_million
from local import local_rain

from tests.dashboard_browser import browser_missing, open_page


def browser_cpu_seconds(profile: str) -> float:
    """CPU time of the browser's processes (found by their profile directory), from /proc."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if profile.encode() not in f.read():
                    continue
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            continue
    return total


def one_run(with_browser: bool, batches: int, batch: int) -> dict:
    with local_rain([2]) as cluster, ExitStack() as stack:
        client = cluster.client()
        rain_independent(client, 1000)  # warm up, as compare.py does; this is session 1
        gc.collect()
        if with_browser:
            profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="rain-bench-browser-"))
            page = stack.enter_context(open_page(profile))
            base = f"http://127.0.0.1:{cluster.http_port}/"
            page.goto(base)
            page.wait_for_selector("#governors tr[data-governor]")
            session_page = page.context.new_page()
            session_page.goto(f"{base}#/session/2")  # the million-task session, once it exists
        load_before = os.getloadavg()[0]
        browser_cpu = browser_cpu_seconds(profile) if with_browser else 0.0
        d = rain_million(client, cluster.server_process.pid,
                         [p.pid for p in cluster.governor_processes.values()], batches, batch)
        d["load_before"], d["load_after"] = load_before, os.getloadavg()[0]
        if with_browser:  # the next poll shows the finished session
            done = f"{batches * batch:,} / {batches * batch:,}"
            page.wait_for_function(f"document.querySelector('#sessions').innerText.includes({done!r})")
            d["dashboard_saw_all"] = True
            d["browser_cpu_s"] = browser_cpu_seconds(profile) - browser_cpu
    return d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs (without, with)")
    parser.add_argument("--quick", action="store_true", help="4 x 25,000 tasks instead of 20 x 50,000")
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        sys.exit(f"cannot run: {missing}")
    batches, batch = (4, 25_000) if args.quick else (20, 50_000)
    rates: dict[bool, list[float]] = {False: [], True: []}
    server_cpu: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(args.rounds):
        for with_browser in (False, True):
            d = one_run(with_browser, batches, batch)
            rates[with_browser].append(d["tasks_per_s"])
            server_cpu[with_browser].append(d["server_cpu_s"])
            log(f"round {round_ + 1} {'with' if with_browser else 'without'} dashboard: "
                f"{d['tasks_per_s']:,.0f} tasks/s in {d['seconds']:.1f} s, server CPU {d['server_cpu_s']:.1f} s, "
                f"load {d['load_before']:.2f} -> {d['load_after']:.2f}"
                + (f", browser CPU {d['browser_cpu_s']:.1f} s, dashboard showed every task finished: "
                   f"{d['dashboard_saw_all']}" if with_browser else ""))
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"\n(d) {batches * batch:,} tasks, median of {args.rounds}: without dashboard {without:,.0f} tasks/s, "
          f"with {with_:,.0f} tasks/s: {100 * (without - with_) / without:+.1f} % lost; server CPU "
          f"{statistics.median(server_cpu[False]):.1f} s without, {statistics.median(server_cpu[True]):.1f} s with")


if __name__ == "__main__":
    main()
