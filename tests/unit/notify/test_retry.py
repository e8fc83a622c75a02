"""The retry schedule: Standard Webhooks' waits with jitter, Retry-After, the horizon, 410 and dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify.retry import Outcome, RetrySchedule, parse_retry_after

T0 = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)


def schedule(r: float = 0.5, **kw) -> RetrySchedule:
    return RetrySchedule(rand=lambda: r, **kw)


def test_without_jitter_the_waits_are_the_standard_webhooks_schedule():
    waits = [schedule().wait_s(n) for n in range(1, 9)]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert schedule().max_attempts == 8


def test_jitter_spreads_each_wait_within_its_bound():
    assert schedule(0.0).wait_s(2) == pytest.approx(270)
    assert schedule(1.0).wait_s(2) == pytest.approx(330)
    assert schedule(0.0, jitter=0.0).wait_s(2) == 300


def test_the_whole_schedule_fits_the_default_horizon():
    s = schedule(1.0)  # the longest draws
    now = T0
    for attempts in range(1, 8):
        due = s.next_due(attempts, first_attempt_at=T0, now=now)
        assert due is not None
        now = due
    assert s.next_due(8, first_attempt_at=T0, now=now) is None


def test_a_longer_retry_after_is_honoured_a_shorter_one_is_not():
    s = schedule()
    assert s.next_due(1, first_attempt_at=T0, now=T0, retry_after_s=120) == T0 + timedelta(seconds=120)
    assert s.next_due(2, first_attempt_at=T0, now=T0, retry_after_s=10) == T0 + timedelta(seconds=300)


def test_nothing_is_scheduled_past_the_horizon():
    s = schedule(horizon=timedelta(minutes=10))
    assert s.next_due(1, first_attempt_at=T0, now=T0) == T0 + timedelta(seconds=5)
    assert s.next_due(2, first_attempt_at=T0, now=T0 + timedelta(minutes=6)) is None
    assert s.next_due(1, first_attempt_at=T0, now=T0, retry_after_s=3600) is None


def test_an_absurd_retry_after_is_ignored():
    assert schedule().next_due(1, first_attempt_at=T0, now=T0, retry_after_s=10**9) == T0 + timedelta(seconds=5)


def test_decisions():
    s = schedule()
    assert s.decide(1, status_code=204, first_attempt_at=T0, now=T0).outcome is Outcome.delivered
    assert s.decide(1, status_code=410, first_attempt_at=T0, now=T0).outcome is Outcome.gone
    retry = s.decide(1, status_code=503, first_attempt_at=T0, now=T0)
    assert retry.outcome is Outcome.retry and retry.due_at == T0 + timedelta(seconds=5)
    assert s.decide(1, status_code=None, first_attempt_at=T0, now=T0).outcome is Outcome.retry
    assert s.decide(1, status_code=302, first_attempt_at=T0, now=T0).outcome is Outcome.retry
    assert s.decide(8, status_code=500, first_attempt_at=T0, now=T0).outcome is Outcome.dead
    # A robot's 200 with an error code in its body is not a delivery.
    assert s.decide(1, status_code=200, delivered=False, first_attempt_at=T0, now=T0).outcome is Outcome.retry


def test_a_custom_schedule():
    s = RetrySchedule(delays_s=(1, 2), jitter=0, horizon=timedelta(hours=1))
    assert [s.wait_s(n) for n in (1, 2, 3)] == [1, 2, None]
    with pytest.raises(ValueError):
        RetrySchedule(delays_s=(0,))
    with pytest.raises(ValueError):
        RetrySchedule(jitter=1.5)


def test_retry_after_in_seconds_and_as_an_http_date():
    assert parse_retry_after("120", T0) == 120
    assert parse_retry_after(" 7 ", T0) == 7
    assert parse_retry_after("Mon, 09 Nov 2026 00:02:00 GMT", T0) == 120
    assert parse_retry_after("Sun, 08 Nov 2026 00:00:00 GMT", T0) == 0
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after("-5", T0) is None
    assert parse_retry_after(None, T0) is None
