"""HTTP models of the deadline service (never Kafka events): every request model forbids unknown fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from services.deadline.domain import seconds_left, show_times

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"


class Times(BaseModel):
    utc: datetime
    kst: datetime
    beijing: datetime

    @classmethod
    def of(cls, moment: datetime) -> Times:
        return cls(**show_times(moment))


class SkippedDay(BaseModel):
    date: date
    reason: Literal["weekend", "holiday", "override"]
    names_ko: list[str]
    names_zh: list[str]
    note: str = ""


class ReminderOut(BaseModel):
    offset: str  # "72h", "90m"
    offset_minutes: int
    version: int
    fire_at: datetime
    state: Literal["pending", "fired", "cancelled", "skipped"]
    fired_at: datetime | None


def offset_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours}h" if not rest else (f"{hours}h{rest}m" if hours else f"{rest}m")


class DeadlineOut(BaseModel):
    dispute_id: str
    seller_id: str
    kind: str
    state: str
    rule: Literal["computed", "explicit"]
    notified_at: datetime
    respond_by: str | None
    due_at: Times
    business_days: int
    skipped: list[SkippedDay]
    seconds_left: int
    version: int
    missed_at: datetime | None
    reminders: list[ReminderOut] | None = None

    @classmethod
    def of(cls, row: Row[Any], now: datetime, reminders: list[Row[Any]] | None = None) -> DeadlineOut:
        return cls(
            dispute_id=row.dispute_id,
            seller_id=row.seller_id,
            kind=row.kind,
            state=row.state,
            rule=row.rule,
            notified_at=row.notified_at,
            respond_by=row.respond_by,
            due_at=Times.of(row.due_at),
            business_days=row.business_days,
            skipped=[SkippedDay(**day) for day in row.skipped],
            seconds_left=seconds_left(row.due_at, now),
            version=row.version,
            missed_at=row.missed_at,
            reminders=None
            if reminders is None
            else [
                ReminderOut(
                    offset=offset_text(r.offset_minutes),
                    offset_minutes=r.offset_minutes,
                    version=r.version,
                    fire_at=r.fire_at,
                    state=r.state,
                    fired_at=r.fired_at,
                )
                for r in reminders
            ],
        )


class DeadlineList(BaseModel):
    items: list[DeadlineOut]
    next_cursor: str | None


Text = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f]*$")]


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Any  # checked by the use case: a malformed date answers 422 invalid_override_date
    state: Any  # "closed" or "open": invalid_override otherwise
    name_ko: Text = ""
    name_zh: Text = ""
    note: Text = ""


class OverridesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overrides: list[OverrideIn] = Field(max_length=2000)


class OverrideOut(BaseModel):
    date: date
    state: Literal["closed", "open"]
    name_ko: str
    name_zh: str
    note: str
    updated_by: str
    updated_at: datetime


class OverridesOut(BaseModel):
    overrides: list[OverrideOut]
    rescheduled: list[str] | None = None  # disputes whose due time moved (PUT only)
