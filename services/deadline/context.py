"""What the handlers, the routes and the scheduler of one runtime share: settings, clock,
the calendar (overrides cached by generation) and the scheduler's wake-up.

It rides on the runtime's session factory (`session.info`), so a handler, which receives only
a session, finds the context of its own runtime, and two runtimes in one process stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import Clock, SystemClock
from services.deadline.domain import BusinessCalendar, Override
from services.deadline.settings import Settings
from shared.worker import Wakeup

CONTEXT_KEY = "dd_deadline_context"
_CALENDAR_KEY = "dd_deadline_calendar"  # session.info: (transaction, calendar) checked in it


@dataclass
class DeadlineContext:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    wakeup: Wakeup = field(default_factory=Wakeup)
    generation: int | None = None
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    override_names: dict[date, tuple[str, str]] = field(default_factory=dict)
    _offsets: tuple[Settings, tuple[timedelta, ...]] | None = field(default=None, repr=False)

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


def attach(sessions: async_sessionmaker[AsyncSession], context: DeadlineContext) -> None:
    sessions.configure(info={CONTEXT_KEY: context})


def context_of(session: AsyncSession) -> DeadlineContext:
    return session.info[CONTEXT_KEY]  # type: ignore[no-any-return]
