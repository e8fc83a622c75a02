"""Korean business days: `holidays`' KR public calendar plus the operators' override table."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import holidays

from services.deadline.domain.errors import InvalidOverride, InvalidOverrideDate
from services.deadline.domain.names_zh import chinese_name

__all__ = [
    "BusinessCalendar",
    "Closure",
    "Override",
    "OverrideState",
    "SkipReason",
    "parse_override",
    "parse_override_date",
]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class OverrideState(StrEnum):
    CLOSED = "closed"  # not a business day, whatever the calendar says (a late temporary holiday)
    OPEN = "open"  # a business day, whatever the calendar says (a working Saturday)


class SkipReason(StrEnum):
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class Override:
    day: date
    state: OverrideState
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            raise InvalidOverrideDate(f"an override is for a whole date, not {self.day!r}")
        # A plain "open" must not be read as closed by an identity check: coerce, or refuse.
        try:
            object.__setattr__(self, "state", OverrideState(self.state))
        except ValueError:
            raise InvalidOverride(f"state must be 'closed' or 'open', not {self.state!r}") from None


@dataclass(frozen=True, slots=True)
class Closure:
    """Why one day is not a business day. Holiday names are given whenever the day is one, whatever the reason."""

    day: date
    reason: SkipReason
    names_ko: tuple[str, ...] = ()
    names_zh: tuple[str, ...] = ()
    note: str = ""


def parse_override_date(text: str) -> date:
    """`YYYY-MM-DD` and nothing else (Python 3.11's `fromisoformat` also takes `20250127` and week dates)."""
    if not isinstance(text, str) or not _ISO_DATE.match(text):
        raise InvalidOverrideDate(f"{text!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidOverrideDate(f"{text!r} is not a calendar date: {exc}") from None


def parse_override(day: str | date, state: str, note: str = "") -> Override:
    """One row of the override table as operators send it over HTTP."""
    parsed = day if isinstance(day, date) else parse_override_date(day)
    return Override(parsed, state, note)  # type: ignore[arg-type]  # __post_init__ coerces or refuses


class BusinessCalendar:
    """Korean business days: not Saturday, not Sunday, not a KR public holiday; an override wins over both.

    Built once and reused: the KR calendar fills in years lazily as they are asked for.
    """

    def __init__(self, overrides: Iterable[Override] | Mapping[date, Override] = ()) -> None:
        rows = overrides.values() if isinstance(overrides, Mapping) else overrides
        self._overrides: dict[date, Override] = {row.day: row for row in rows}
        # PUBLIC only: until 2025 May 1 (근로자의날) is in the BANK category, a paid day off, not a public holiday.
        self._kr = holidays.country_holidays("KR", categories=holidays.PUBLIC, language="ko", observed=True)
        # closure() by day: the same few hundred days are asked about for every notice of a season.
        self._closures: dict[date, Closure | None] = {}

    @property
    def overrides(self) -> Mapping[date, Override]:
        return dict(self._overrides)

    def with_overrides(self, overrides: Iterable[Override]) -> BusinessCalendar:
        """A calendar with these overrides (replacing any on the same dates); this one is left alone."""
        merged = copy.copy(self)  # shares the KR calendar and the years it has filled in
        merged._overrides = {**self._overrides, **{row.day: row for row in overrides}}
        merged._closures = {}  # answers change with the overrides
        return merged

    def holiday_names(self, day: date) -> tuple[str, ...]:
        """Korean names of the KR public holidays on `day` (several when two fall together)."""
        return tuple(self._kr.get_list(day))

    def closure(self, day: date) -> Closure | None:
        """Why `day` is not a business day, or None when it is one (remembered per calendar)."""
        if day in self._closures:
            return self._closures[day]
        found = self._closure(day)
        self._closures[day] = found
        return found

    def _closure(self, day: date) -> Closure | None:
        names = self.holiday_names(day)
        override = self._overrides.get(day)
        if override is not None and override.state is OverrideState.OPEN:
            return None
        if override is not None:
            reason, note = SkipReason.OVERRIDE, override.note
        elif names:
            reason, note = SkipReason.HOLIDAY, ""
        elif day.weekday() >= 5:
            reason, note = SkipReason.WEEKEND, ""
        else:
            return None
        return Closure(day, reason, names, tuple(chinese_name(n) for n in names), note)

    def is_business_day(self, day: date) -> bool:
        return self.closure(day) is None
