"""Short form of `make chaos` (bench/chaos_system.py), run with the suite: the whole system under faults.

A system of its own (its own ports, the deadline's reminder offsets set to come due during the load),
a smaller load than the drill's (signed one- and two-dispute notices, clean evidence and submissions for
some cases, every notification to a sink) and fewer faults: deadline and notify each killed once with
SIGKILL, Kafka restarted once. The counting is the drill's (`count`, tested on planted losses and
duplicates in tests/unit/test_chaos_counting.py); any loss or duplicate fails.
"""

from __future__ import annotations

import pytest

from bench.chaos_system import Plan, drill, report
from tests.infra import REPO
from tests.integration.notify.sinks import HttpSink
from tests.system import system_ports

SHORT = Plan(
    rate=1.0,
    duration_s=30,  # at least: the load goes on until the last fault is over
    evidence=0.25,
    faults=("kill:deadline", "kill:notify", "kafka"),
    seed=20,
    down_s=(0.5, 2.0),
    accept_within_s=60,
    step_within_s=90,
    drain_timeout_s=120,
    startup_s=20,
)


async def test_whole_system_loses_and_duplicates_nothing_across_sigkills_and_a_kafka_restart(infra, kafka):
    if infra.local is None:
        pytest.fail("this test restarts Kafka; run it against the project's local servers")
    async with HttpSink() as sink:
        outcome = await drill(infra.local, SHORT, system_ports(shift=400), root=REPO / ".local" / "test", sink=sink)
    text = report(outcome, SHORT)
    print(text)
    assert outcome.ok, text
    assert outcome.ledger.submitted and len(outcome.ledger.faults) == 3, text
