"""A bounded run of the structure-aware fuzzer (tests/fuzzing.py) against live processes.

Long campaigns: `python bench/fuzz.py --inputs 100000`. Here a few dozen inputs per endpoint
keep the run to seconds; hypothesis uses no example database, so runs are independent.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzzing import Outcome, full_check, inputs, make_targets, send_input

EXAMPLES = 30


@pytest.mark.parametrize("endpoint", ["server/client", "server/governor", "data-port"])
def test_fuzzed_input_never_takes_an_endpoint_down(make_cluster, endpoint):
    cluster = make_cluster([1])
    target = make_targets(cluster)[endpoint]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def one(item):  # type: ignore[no-untyped-def]
        assert send_input(target, item) == Outcome.OK, f"{endpoint} failed on {item!r}\n{cluster.logs()[-3000:]}"

    one()
    full_check(cluster)
