"""`dd members` shows a member's partitions as runs per topic, readable with 8 topics × 6 partitions."""

from shared.cli import _partition_ranges


def test_partitions_read_as_runs_per_topic():
    owned = (("dispute.received", 0), ("dispute.received", 1), ("dispute.received", 2), ("case.submitted", 4))
    assert _partition_ranges(owned) == "case.submitted[4] dispute.received[0-2]"


def test_gaps_and_pairs_are_listed_not_ranged():
    assert _partition_ranges((("t", 0), ("t", 1), ("t", 3), ("t", 5))) == "t[0,1,3,5]"
    assert _partition_ranges(()) == ""
