"""What the handlers, the routes and the scheduler of one process share: settings, clock,
the calendar (overrides cached by generation), the scheduler's wake-up and the service's metrics.

The process's `ProcessContext` (shared/runtime.py), built once by `DeadlineContext.of` (the
definition's factory): handlers get it as their third argument, routes as `ctx: Ctx`, the
scheduler as `runtime.context`; use cases take it as an argument. Two runtimes in one process
have two contexts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline.domain import BusinessCalendar, Override
from services.deadline.metrics import DeadlineMetrics
from services.deadline.settings import Settings
from shared.clock import Clock
from shared.runtime import ProcessContext
from shared.web.context import process_context
from shared.worker import Wakeup

_CALENDAR_KEY = "dd_deadline_calendar"  # session.info: (transaction, calendar) checked in it


@dataclass
class DeadlineContext(ProcessContext):
    settings: Settings
    wakeup: Wakeup = field(default_factory=Wakeup)
    metrics: DeadlineMetrics = field(default_factory=DeadlineMetrics, kw_only=True)
    generation: int | None = None
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    override_names: dict[date, tuple[str, str]] = field(default_factory=dict)
    _offsets: tuple[Settings, tuple[timedelta, ...]] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: Settings, clock: Clock) -> DeadlineContext:
        """The definition's context factory (`ServiceDefinition.context`)."""
        return cls(settings, clock)

    @property
    def offsets(self) -> tuple[timedelta, ...]:
        """The reminder offsets, parsed once per settings object."""
        if self._offsets is None or self._offsets[0] is not self.settings:
            self._offsets = (self.settings, self.settings.offsets)
        return self._offsets[1]

    def use_overrides(self, generation: int, overrides: list[Override], names: dict[date, tuple[str, str]]) -> None:
        if generation != self.generation:
            self.calendar = BusinessCalendar(overrides)  # rare (an operator's PUT): a fresh KR calendar is fine
            self.override_names = names
            self.generation = generation

    def checked_calendar(self, session: AsyncSession) -> BusinessCalendar | None:
        """The calendar already checked against the generation in this transaction, if any."""
        held = session.info.get(_CALENDAR_KEY)
        if held is not None and held[0] is session.sync_session.get_transaction():
            return held[1]  # type: ignore[no-any-return]
        return None

    def mark_checked(self, session: AsyncSession, calendar: BusinessCalendar) -> None:
        session.info[_CALENDAR_KEY] = (session.sync_session.get_transaction(), calendar)


async def _context(request: Request) -> DeadlineContext:
    return process_context(request, DeadlineContext)


Ctx = Annotated[DeadlineContext, Depends(_context)]  # a route's `ctx: Ctx`
