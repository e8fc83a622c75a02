"""Settings of the deadline service: `DD_DEADLINE_*` first, then the common `DD_*`."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field, field_validator

from services.deadline.domain import DEFAULT_BUSINESS_DAYS, parse_duration
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "deadline"

    port: int = 8003
    # A fetched batch in four concurrent transactions, split by dispute: the handlers write only
    # rows of their event's dispute (its deadline, reminders, events), so the shards never wait
    # on each other. A backlog drains 1.3-1.4x faster on two cores (bench/RESULTS.md).
    consumer_concurrency: int = Field(default=4, ge=1, le=8)

    # N business days per dispute kind (DD_DEADLINE_BUSINESS_DAYS='{"platform_dispute": 3, "chargeback": 5}').
    business_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_BUSINESS_DAYS))
    # Reminder offsets before due_at, as durations (DD_DEADLINE_REMINDER_OFFSETS='["72h","24h","6h","1h"]').
    reminder_offsets: tuple[str, ...] = ("72h", "24h", "6h", "1h")
    # The scheduler sleeps until the next due row, but never longer than this (a row written by
    # another replica is found within this time); and claims at most this many rows per transaction.
    scheduler_max_sleep_s: float = Field(default=30.0, gt=0)
    scheduler_batch: int = Field(default=500, ge=1)
    # The longest pause of the scheduler between retries while the database is away.
    scheduler_backoff_max_s: float = Field(default=10.0, gt=0)

    @field_validator("business_days")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        if not value or any(n < 1 for n in value.values()):
            raise ValueError("every dispute kind needs at least 1 business day")
        return value

    @field_validator("reminder_offsets")
    @classmethod
    def _durations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            if parse_duration(text).total_seconds() % 60:  # InvalidDuration (a ValueError) when not a duration
                raise ValueError(f"a reminder offset is a whole number of minutes, not {text!r}")
        return value

    @property
    def offsets(self) -> tuple[timedelta, ...]:
        return tuple(sorted({parse_duration(t) for t in self.reminder_offsets}, reverse=True))
