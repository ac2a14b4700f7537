"""Long fuzzing campaigns against live Rain endpoints (the suite runs a bounded number).

    python bench/fuzz.py [--inputs 100000] [--minutes M] [--endpoint server/client|server/governor|data-port]
                         [--check-every 500] [--failures FILE]

For each endpoint: a fresh local cluster (one server, one governor; access file in a temporary
directory), then structure-aware inputs from tests/fuzzing.py. Prints inputs tried, crashes
(the process died) and hangs (the endpoint kept a finished connection open, or stopped
answering a normal client), and the rate. After a crash or a hang the cluster is restarted and
the input is written to the failures file. The health check after each input uses a client
connection kept open (a new one, handshake included, every 20 inputs); every `--check-every`
inputs a real task runs end to end as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.cluster import Cluster
from tests.fuzzing import Outcome, Target, full_check, inputs, make_targets, send_input

ENDPOINTS = ["server/client", "server/governor", "data-port"]
FRESH_EVERY = 20  # health checked on a new connection every N inputs, else on a kept one
BATCH = 10  # inputs drawn per hypothesis example: halves the generation cost per input


class TimeUp(BaseException):
    """Ends a campaign at its time budget (a BaseException, so hypothesis does not catch it)."""


class Campaign:
    def __init__(self, endpoint: str, tmp: str, failures: str) -> None:
        self.endpoint = endpoint
        self.tmp = tmp
        self.failures = failures
        self.tried = self.crashes = self.hangs = self.full_checks = 0
        self.cluster: Cluster | None = None
        self.target: Target | None = None
        self.start_cluster()

    def start_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        path = tempfile.mkdtemp(dir=self.tmp)
        self.cluster = Cluster(path)
        self.cluster.start_server()
        self.cluster.start_governor(1)
        self.target = make_targets(self.cluster)[self.endpoint]

    def play(self, item: object, check_every: int) -> None:
        assert self.target is not None and self.cluster is not None
        self.tried += 1
        outcome = send_input(self.target, item, fresh_check=self.tried % FRESH_EVERY == 0)  # type: ignore[arg-type]
        if outcome == Outcome.OK and self.tried % check_every == 0:
            try:
                full_check(self.cluster)
                self.full_checks += 1
            except Exception as exc:
                outcome = Outcome.HANG
                print(f"  full check failed: {exc}", file=sys.stderr)
        if outcome != Outcome.OK:
            if outcome == Outcome.CRASH:
                self.crashes += 1
            else:
                self.hangs += 1
            with open(self.failures, "a") as f:
                f.write(f"{self.endpoint} {outcome}: {item!r}\n--- logs\n{self.cluster.logs()[-5000:]}\n")
            print(f"  {outcome} after {self.tried} inputs (input written to {self.failures})", file=sys.stderr)
            self.start_cluster()
        if self.tried % 1000 == 0:
            print(f"  {self.endpoint}: {self.tried} inputs, {self.crashes} crashes, {self.hangs} hangs",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()


def run(endpoint: str, count: int, minutes: float | None, check_every: int, tmp: str, failures: str) -> None:
    campaign = Campaign(endpoint, tmp, failures)
    start = time.monotonic()
    deadline = start + minutes * 60 if minutes else float("inf")

    @settings(max_examples=-(-count // BATCH), deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(inputs, min_size=BATCH, max_size=BATCH))
    def batch(items: list[object]) -> None:
        for item in items:
            if time.monotonic() > deadline or campaign.tried >= count:
                raise TimeUp
            campaign.play(item, check_every)

    try:
        batch()
    except TimeUp:
        if campaign.tried < count:
            print(f"  {endpoint}: time budget of {minutes:g} min used up", file=sys.stderr)
    finally:
        campaign.close()
    elapsed = time.monotonic() - start
    print(f"{endpoint:16} inputs tried {campaign.tried:>8,}   crashes {campaign.crashes}   hangs {campaign.hangs}   "
          f"full task checks {campaign.full_checks:,}   {elapsed:,.0f} s ({campaign.tried / elapsed:,.0f} inputs/s)",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per endpoint")
    parser.add_argument("--minutes", type=float, help="stop each endpoint's campaign after this long")
    parser.add_argument("--endpoint", choices=ENDPOINTS, action="append", help="default: all")
    parser.add_argument("--check-every", type=int, default=500, help="a full task check every N inputs")
    parser.add_argument("--failures", default="fuzz-failures.txt", help="where failing inputs are written")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rain-fuzz-") as tmp:
        os.environ["HOME"] = tmp  # the campaign's clusters never touch the real ~/.rain
        for endpoint in args.endpoint or ENDPOINTS:
            run(endpoint, args.inputs, args.minutes, args.check_every, tmp, os.path.abspath(args.failures))


if __name__ == "__main__":
    main()
