"""Prometheus metrics of the submit service (a `shared.metrics.ServiceMetrics`, served with the backbone's).

Submissions by adapter and outcome and verdicts by outcome, counted once their transaction
commits; and, at each scrape, the cases at risk: open, not submitted, due within `AT_RISK_WITHIN`
and without a ready report. Submit is where both facts meet: it keeps each case's deadline
(`deadline.scheduled`) and its latest report status (`evidence.validated`) in its own `cases` table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.submit.repository import SubmitRepository
from shared.db.session import session_scope
from shared.metrics import ServiceMetrics

# The alert's horizon (deploy/prometheus/alerts.yml DeadlineNearWithoutReadyReport): the 6 h reminder's.
AT_RISK_WITHIN = timedelta(hours=6)
# Every label value the gauge has, so a status that empties goes back to 0 rather than vanishing.
REPORT_STATES = ("none", "needs_fix")


class SubmitMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.submissions = Counter(
            "dd_submit_submissions",
            "Submissions by adapter and outcome: receipted, sent (manual: waiting for the WING receipt),"
            " deferred (portal unavailable: the reconciler completes it), refused (by the portal)",
            ["adapter", "outcome"],
            registry=None,
        )
        self.verdicts = Counter(
            "dd_submit_verdicts",
            "Verdicts recorded, by outcome (won, lost, partial) and source (callback, poll)",
            ["outcome", "source"],
            registry=None,
        )
        self.cases_at_risk = Gauge(
            "dd_submit_cases_at_risk",
            "Open cases not submitted, due within 6 h, whose report is not ready (by report status; none: no report)",
            ["report"],
            registry=None,
        )

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        async with session_scope(sessions) as session:
            counts = await SubmitRepository(session).at_risk(now, AT_RISK_WITHIN)
        for report in {*REPORT_STATES, *counts}:
            self.cases_at_risk.labels(report).set(counts.get(report, 0))
