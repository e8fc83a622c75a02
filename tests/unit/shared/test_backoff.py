"""The one retry delay: exponential, full jitter, capped, with the random source injected."""

from __future__ import annotations

import random

import pytest

from shared.backoff import Backoff


def test_the_ceiling_doubles_per_attempt_up_to_the_cap():
    backoff = Backoff(base_s=0.2, cap_s=10, rand=lambda: 1.0)
    assert [backoff.delay(n) for n in range(1, 10)] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10, 10])
    assert [backoff.ceiling(n) for n in range(1, 10)] == [backoff.delay(n) for n in range(1, 10)]


def test_full_jitter_scales_the_ceiling_by_the_draw_from_zero_to_all_of_it():
    assert Backoff(base_s=0.2, cap_s=10, rand=lambda: 0.0).delay(3) == 0.0
    assert Backoff(base_s=0.2, cap_s=10, rand=lambda: 0.5).delay(3) == pytest.approx(0.4)
    assert Backoff(base_s=0.2, cap_s=10, rand=lambda: 0.25).delay(1000) == pytest.approx(2.5)  # no overflow


def test_a_draw_outside_zero_to_one_never_leaves_the_bounds():
    assert Backoff(base_s=1, cap_s=4, rand=lambda: 7.0).delay(2) == 2.0
    assert Backoff(base_s=1, cap_s=4, rand=lambda: -1.0).delay(2) == 0.0


def test_the_default_source_spreads_delays_over_the_whole_range():
    draws = random.Random(7)
    backoff = Backoff(base_s=1, cap_s=1, rand=draws.random)
    delays = [backoff.delay(5) for _ in range(2000)]
    assert 0 <= min(delays) < 0.05 and 0.95 < max(delays) <= 1.0  # full jitter: not "half to all"
    assert Backoff(base_s=1, cap_s=1).delay(1) <= 1.0


@pytest.mark.parametrize(
    ("base_s", "cap_s"), [(0, 1), (-1, 1), (2, 1)], ids=["zero base", "negative base", "cap below base"]
)
def test_a_policy_that_could_not_back_off_is_refused(base_s: float, cap_s: float):
    with pytest.raises(ValueError):
        Backoff(base_s=base_s, cap_s=cap_s)


def test_attempts_count_from_one():
    with pytest.raises(ValueError):
        Backoff(base_s=1, cap_s=2).delay(0)


def test_policies_compare_by_their_numbers_not_their_random_source():
    assert Backoff(0.2, 5.0, rand=lambda: 0.3) == Backoff(0.2, 5.0)
