"""Prometheus metrics of the deadline service (a `shared.metrics.ServiceMetrics`, served with the backbone's).

What the scheduler fired (reminders by their offset before the deadline, the stale ones it skipped,
the deadlines it marked missed), counted once their transaction commits; and, at each scrape, the
reminders due and not fired yet with the age of the oldest: a scheduler that keeps up shows 0.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.deadline.repository import DeadlineRepository
from shared.db.session import session_scope
from shared.metrics import ServiceMetrics


def offset_label(offset_minutes: int) -> str:
    """A reminder offset as its setting spells it: 4320 -> "72h", 90 -> "90m"."""
    return f"{offset_minutes // 60}h" if offset_minutes % 60 == 0 else f"{offset_minutes}m"


class DeadlineMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.reminders_fired = Counter(
            "dd_deadline_reminders_fired",
            "Reminders fired (deadline.alerted reminder), by offset before the deadline",
            ["offset"],
            registry=None,
        )
        self.reminders_skipped = Counter(
            "dd_deadline_reminders_skipped",
            "Due reminders not fired: a later one of the same dispute was due too, or the deadline had passed",
            registry=None,
        )
        self.deadlines_missed = Counter(
            "dd_deadline_deadlines_missed", "Deadlines that passed while open (deadline.alerted missed)", registry=None
        )
        self.reminders_due = Gauge(
            "dd_deadline_reminders_due", "Pending reminders whose fire time has come (not fired yet)", registry=None
        )
        self.reminders_due_oldest_age = Gauge(
            "dd_deadline_reminders_due_oldest_age_seconds",
            "How long the oldest due reminder has waited past its fire time (0 when none)",
            registry=None,
        )

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        async with session_scope(sessions) as session:
            count, earliest = await DeadlineRepository(session).due_reminders(now)
        self.reminders_due.set(count)
        self.reminders_due_oldest_age.set(max((now - earliest).total_seconds(), 0.0) if earliest else 0.0)
