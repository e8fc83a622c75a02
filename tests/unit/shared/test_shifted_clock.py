"""ShiftedClock: the system's time moved by a file that tests write, read again when it changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import ShiftedClock, SystemClock
from shared.runtime import clock_of
from shared.settings import ServiceSettings, UnsafeSettingsError


def test_no_file_is_no_shift(tmp_path):
    clock = ShiftedClock(tmp_path / "absent")
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_the_written_shift_moves_the_time_and_moving_back_undoes_it(tmp_path):
    path = tmp_path / "shift"
    clock = ShiftedClock(path, recheck_s=0)
    ShiftedClock.write(path, timedelta(days=3, hours=2))
    assert abs(clock.now() - (datetime.now(UTC) + timedelta(days=3, hours=2))) < timedelta(seconds=1)
    ShiftedClock.write(path, timedelta())
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_a_garbled_file_is_no_shift_not_an_error(tmp_path):
    path = tmp_path / "shift"
    path.write_text("three days")
    assert abs(ShiftedClock(path, recheck_s=0).now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_only_a_local_run_reads_the_file(tmp_path):
    path = str(tmp_path / "shift")
    assert isinstance(clock_of(ServiceSettings(env="local", clock_shift_file=path)), ShiftedClock)
    assert isinstance(clock_of(ServiceSettings(env="local")), SystemClock)
    production = ServiceSettings(env="production", clock_shift_file=path, auth_secret="x" * 40)
    assert isinstance(clock_of(production), SystemClock)
    with pytest.raises(UnsafeSettingsError, match="DD_CLOCK_SHIFT_FILE"):
        production.ensure_safe_to_start()
