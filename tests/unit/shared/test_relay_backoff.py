"""Pure parts of the relay and of the Kafka quieting: acknowledged prefix, log rate limit (the
backoff is shared/backoff.py's, tested in test_backoff.py)."""

from __future__ import annotations

import logging

import structlog

from shared.kafka.quiet import KafkaUnavailableLines
from shared.kafka.relay import acknowledged_prefix


def test_every_acknowledged_row_is_deleted_when_all_went_out():
    assert acknowledged_prefix(["a", "b", "a"], [True, True, True]) == [0, 1, 2]


def test_a_dispute_keeps_every_row_from_its_first_failed_one_on():
    keys = ["a", "b", "a", "a", "b", "c"]
    acked = [True, False, False, True, True, True]
    # a: row 0 out, row 2 failed so row 3 stays; b: failed first, so all of b stays; c: out.
    assert acknowledged_prefix(keys, acked) == [0, 5]


def test_nothing_is_deleted_when_nothing_was_acknowledged():
    assert acknowledged_prefix(["a", "b"], [False, False]) == []


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.client", logging.ERROR, __file__, 1, message, (), None)


def test_aiokafka_errors_become_one_kafka_unavailable_line_per_interval_with_a_count():
    now = [100.0]
    lines_filter = KafkaUnavailableLines(every_s=10, clock=lambda: now[0])
    with structlog.testing.capture_logs() as lines:
        passed = [lines_filter.filter(_record(f"Unable connect to node {i}")) for i in range(1000)]
        now[0] += 10.5
        passed.append(lines_filter.filter(_record("Unable to update metadata")))
    assert not any(passed), "aiokafka's own lines are folded into ours"
    assert [(line["event"], line["suppressed"]) for line in lines] == [
        ("kafka_unavailable", 0),
        ("kafka_unavailable", 999),
    ]
    assert lines[1]["detail"] == "Unable to update metadata"


def test_aiokafka_info_lines_are_left_to_the_logger_level():
    assert KafkaUnavailableLines(every_s=10).filter(
        logging.LogRecord("aiokafka.consumer", logging.INFO, __file__, 1, "joined group", (), None)
    )
