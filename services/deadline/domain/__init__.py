"""The deadline service's pure rules: the business-day clock, reminder times, durations. No I/O."""

from services.deadline.domain.arithmetic import (
    BEIJING,
    DEFAULT_BUSINESS_DAYS,
    DEFAULT_REMINDER_OFFSETS,
    KST,
    Deadline,
    compute_deadline,
    parse_duration,
    reminder_times,
    seconds_left,
    show_times,
)
from services.deadline.domain.business_calendar import (
    BusinessCalendar,
    Closure,
    Override,
    OverrideState,
    SkipReason,
    parse_override,
    parse_override_date,
)
from services.deadline.domain.errors import (
    CalendarExhausted,
    DeadlineError,
    InvalidDuration,
    InvalidOverride,
    InvalidOverrideDate,
    NaiveTimestamp,
    RespondByBeforeNotice,
    UnknownDisputeKind,
)
from services.deadline.domain.names_zh import chinese_name

__all__ = [
    "BEIJING",
    "DEFAULT_BUSINESS_DAYS",
    "DEFAULT_REMINDER_OFFSETS",
    "KST",
    "BusinessCalendar",
    "CalendarExhausted",
    "Closure",
    "Deadline",
    "DeadlineError",
    "InvalidDuration",
    "InvalidOverride",
    "InvalidOverrideDate",
    "NaiveTimestamp",
    "Override",
    "OverrideState",
    "RespondByBeforeNotice",
    "SkipReason",
    "UnknownDisputeKind",
    "chinese_name",
    "compute_deadline",
    "parse_duration",
    "parse_override",
    "parse_override_date",
    "reminder_times",
    "seconds_left",
    "show_times",
]
