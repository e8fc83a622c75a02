"""The deadline clock: when a dispute must be answered, and when to remind the seller. Pure: no I/O, `now` passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from services.deadline.domain.business_calendar import BusinessCalendar, Closure
from services.deadline.domain.errors import (
    CalendarExhausted,
    InvalidDuration,
    NaiveTimestamp,
    RespondByBeforeNotice,
    UnknownDisputeKind,
)

__all__ = [
    "BEIJING",
    "DEFAULT_BUSINESS_DAYS",
    "DEFAULT_REMINDER_OFFSETS",
    "KST",
    "Deadline",
    "compute_deadline",
    "parse_duration",
    "reminder_times",
    "seconds_left",
    "show_times",
]

KST = ZoneInfo("Asia/Seoul")
BEIJING = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)
DEFAULT_BUSINESS_DAYS: Mapping[str, int] = {"platform_dispute": 3, "chargeback": 5}
DEFAULT_REMINDER_OFFSETS: tuple[timedelta, ...] = tuple(timedelta(hours=h) for h in (72, 24, 6, 1))
# However many days overrides close, the search for the N-th business day stops here.
MAX_CALENDAR_DAYS = 366

_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_DURATION_MAX_CHARS = 32


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a dispute is due. `business_days` and `skipped` run from the day after the notice to the due date.

    For the explicit rule they describe the window the notice gave, for information only.
    """

    kind: str
    notified_at: datetime  # UTC
    due_at: datetime  # UTC
    rule: Literal["computed", "explicit"]
    business_days: int
    skipped: tuple[Closure, ...]

    @property
    def due_date_kst(self) -> date:
        return self.due_at.astimezone(KST).date()


def compute_deadline(
    notified_at: datetime,
    kind: str,
    *,
    respond_by: date | datetime | None = None,
    calendar: BusinessCalendar,
    business_days: Mapping[str, int] = DEFAULT_BUSINESS_DAYS,
) -> Deadline:
    """23:59:59 KST of the N-th Korean business day after the notice's KST date, or the notice's own `respond_by`."""
    notified_utc = _utc(notified_at, "notified_at")
    if kind not in business_days:
        known = ", ".join(sorted(business_days))
        raise UnknownDisputeKind(f"unknown dispute kind {kind!r}; known: {known}")
    notice_day = notified_utc.astimezone(KST).date()
    if respond_by is not None:
        due_at = _explicit_due_at(respond_by, notified_utc)
        counted, skipped = _walk_to(calendar, notice_day, due_at.astimezone(KST).date())
        return Deadline(kind, notified_utc, due_at, "explicit", counted, skipped)
    wanted = business_days[kind]
    if wanted < 1:
        raise ValueError(f"business days for {kind!r} must be at least 1, not {wanted}")
    due_day, skipped = _nth_business_day(calendar, notice_day, wanted)
    return Deadline(kind, notified_utc, _end_of_kst_day(due_day), "computed", wanted, skipped)


def _nth_business_day(calendar: BusinessCalendar, notice_day: date, wanted: int) -> tuple[date, tuple[Closure, ...]]:
    skipped: list[Closure] = []
    counted = 0
    for step in range(1, wanted + MAX_CALENDAR_DAYS + 1):
        day = notice_day + timedelta(days=step)
        if (closure := calendar.closure(day)) is not None:
            skipped.append(closure)
        else:
            counted += 1
            if counted == wanted:
                return day, tuple(skipped)
    raise CalendarExhausted(f"fewer than {wanted} business days in the {MAX_CALENDAR_DAYS} days after {notice_day}")


def _walk_to(calendar: BusinessCalendar, notice_day: date, due_day: date) -> tuple[int, tuple[Closure, ...]]:
    """Business days and closures in (notice_day, due_day], for the explicit rule's report (bounded in length)."""
    skipped: list[Closure] = []
    counted = 0
    span = min((due_day - notice_day).days, MAX_CALENDAR_DAYS)
    for step in range(1, span + 1):
        day = notice_day + timedelta(days=step)
        if (closure := calendar.closure(day)) is not None:
            skipped.append(closure)
        else:
            counted += 1
    return counted, tuple(skipped)


def _explicit_due_at(respond_by: date | datetime, notified_utc: datetime) -> datetime:
    # datetime is a subclass of date: test it first.
    due_at = _utc(respond_by, "respond_by") if isinstance(respond_by, datetime) else _end_of_kst_day(respond_by)
    if due_at < notified_utc:
        shown = respond_by.isoformat()
        raise RespondByBeforeNotice(f"respond_by {shown} is before the notice ({notified_utc.isoformat()})")
    return due_at


def _end_of_kst_day(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=KST).astimezone(UTC)


def _utc(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveTimestamp(f"{field} {moment.isoformat()} has no UTC offset")
    return moment.astimezone(UTC)


def reminder_times(due_at: datetime, offsets: Iterable[timedelta], now: datetime) -> list[tuple[timedelta, datetime]]:
    """(offset, fire_at UTC) for each reminder still ahead of `now`, earliest first.

    An offset whose time has passed is dropped, not fired late: a case received 20 h before its
    deadline gets the 6 h and 1 h reminders, not a burst of 72 h and 24 h ones.
    """
    due_utc, now_utc = _utc(due_at, "due_at"), _utc(now, "now")
    schedule = []
    for offset in sorted(set(offsets), reverse=True):
        if offset <= timedelta(0):
            raise InvalidDuration(f"a reminder offset must be positive, not {offset}")
        if (fire_at := due_utc - offset) >= now_utc:
            schedule.append((offset, fire_at))
    return schedule


def parse_duration(text: str) -> timedelta:
    """`2d`, `24h`, `90m`, `30s`, or a combination in that order (`1d12h`); positive, nothing else."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    match = _DURATION.match(cleaned) if 0 < len(cleaned) <= _DURATION_MAX_CHARS else None
    if match is None:
        raise InvalidDuration(f"{text!r} is not a duration like 24h, 90m, 2d or 1d12h")
    parts = {unit: int(value) for unit, value in match.groupdict(default="0").items()}
    try:
        duration = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    except OverflowError:
        raise InvalidDuration(f"{text!r} is too long a duration") from None
    if duration <= timedelta(0):
        raise InvalidDuration(f"{text!r} is not a positive duration")
    return duration


def show_times(moment: datetime) -> dict[str, datetime]:
    """One instant as UTC, KST (UTC+9, no daylight saving) and Beijing time (UTC+8)."""
    utc = _utc(moment, "timestamp")
    return {"utc": utc, "kst": utc.astimezone(KST), "beijing": utc.astimezone(BEIJING)}


def seconds_left(due_at: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `due_at`; negative once the deadline has passed."""
    return int((_utc(due_at, "due_at") - _utc(now, "now")).total_seconds() // 1)
