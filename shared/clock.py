"""Time as a dependency: every service asks `clock.now()`; tests give it a clock they move (`ManualClock`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved (tests, replays)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock tells aware time")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, by: timedelta) -> None:
        self._at += by


class ShiftedClock:
    """The system's time moved by the number of seconds written in a file: tests that run the services as
    processes move every process's time at once (`DD_CLOCK_SHIFT_FILE`, local runs only).

    The file is read again when it changed, looked at no more than every `recheck_s`; a missing or
    unreadable file is no shift."""

    def __init__(self, path: Path, *, recheck_s: float = 0.05) -> None:
        self._path = path
        self._recheck_s = recheck_s
        self._checked = float("-inf")
        self._stamp: int | None = None
        self._shift = timedelta()

    def now(self) -> datetime:
        checked = time.monotonic()
        if checked - self._checked >= self._recheck_s:
            self._checked = checked
            self._reload()
        return datetime.now(UTC) + self._shift

    def _reload(self) -> None:
        try:
            stamp = self._path.stat().st_mtime_ns
            if stamp != self._stamp:
                self._shift = timedelta(seconds=float(self._path.read_text().strip() or 0))
                self._stamp = stamp
        except (OSError, ValueError):
            self._shift, self._stamp = timedelta(), None

    @staticmethod
    def write(path: Path, shift: timedelta) -> None:
        """Move the time of every process reading `path` (atomically: a reader never sees half a number)."""
        part = path.with_suffix(".part")
        part.write_text(f"{shift.total_seconds()}\n")
        part.replace(path)
