"""Short form of `make chaos-backbone` (bench/chaos_backbone.py), run with the suite.

Real processes: a writer commits events through the outbox at a steady rate while a worker runs
a real ServiceRuntime (relay + inbox consumer). Kafka is stopped with SIGTERM for longer than
the producer's request timeout, then PostgreSQL is stopped immediately (SIGQUIT, durable
commits) while valid events keep arriving on Kafka; after each the backbone must drain with
nothing lost, duplicated or dead-lettered. On the code before issue 6's fixes both fail: the
relay wedges on OutOfOrderSequenceNumber, and the consumer dead-letters what it meets while
PostgreSQL is away.
"""

from __future__ import annotations

import pytest

from bench.chaos_backbone import HEADER, Plan, format_row, run

SHORT = Plan(rate=50, kafka_outage_s=16, postgres_outage_s=5, warmup_s=1, after_s=2, drain_timeout_s=15)


async def test_backbone_neither_loses_duplicates_nor_dead_letters_across_kafka_and_postgres_outages(infra, kafka):
    if infra.local is None:
        pytest.fail("this test stops Kafka and PostgreSQL; run it against the project's local servers")
    outcomes = await run(infra.local, ["kafka-sigterm", "postgres-immediate"], SHORT)
    table = "\n".join([HEADER, *map(format_row, outcomes)])
    print(table)
    assert [o.scenario for o in outcomes if not o.ok or o.outbox_left] == [], table
    assert all(o.written > 0 and o.caught_up_s is not None for o in outcomes), table
