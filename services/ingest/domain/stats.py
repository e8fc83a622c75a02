"""Dashboard statistics from case counts: win rate, on-time submission rate, breakdowns.

win rate = won / decided by a verdict (won + lost + partial); a partial win counts as decided,
not won. on-time rate = submitted on or before the deadline / (submitted with a known deadline
+ expired unsubmitted). A rate with nothing to divide is None, not 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

VERDICTS = ("won", "lost", "partial")


@dataclass(frozen=True)
class Tally:
    reason_code: str
    month: str  # YYYY-MM of the notice, in KST
    carrier: str
    status: str
    count: int


@dataclass
class Breakdown:
    total: int = 0
    won: int = 0
    lost: int = 0
    partial: int = 0
    accepted: int = 0
    open: int = 0

    @property
    def win_rate(self) -> float | None:
        return rate(self.won, self.won + self.lost + self.partial)

    def add(self, status: str, count: int) -> None:
        self.total += count
        if status in VERDICTS or status == "accepted":
            setattr(self, status, getattr(self, status) + count)
        elif status in ("received", "evidence_pending", "needs_fix", "ready"):
            self.open += count


@dataclass
class Stats:
    overall: Breakdown = field(default_factory=Breakdown)
    by_status: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, Breakdown] = field(default_factory=dict)
    by_month: dict[str, Breakdown] = field(default_factory=dict)
    by_carrier: dict[str, Breakdown] = field(default_factory=dict)
    on_time: int = 0
    late: int = 0
    expired: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return rate(self.on_time, self.on_time + self.late + self.expired)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarise(tallies: Iterable[Tally], *, on_time: int, late: int) -> Stats:
    stats = Stats(on_time=on_time, late=late)
    by_status: dict[str, int] = defaultdict(int)
    reasons: dict[str, Breakdown] = defaultdict(Breakdown)
    months: dict[str, Breakdown] = defaultdict(Breakdown)
    carriers: dict[str, Breakdown] = defaultdict(Breakdown)
    for tally in tallies:
        stats.overall.add(tally.status, tally.count)
        by_status[tally.status] += tally.count
        reasons[tally.reason_code].add(tally.status, tally.count)
        months[tally.month].add(tally.status, tally.count)
        carriers[tally.carrier].add(tally.status, tally.count)
    stats.expired = by_status.get("expired", 0)
    stats.by_status = dict(sorted(by_status.items()))
    stats.by_reason = dict(sorted(reasons.items()))
    stats.by_month = dict(sorted(months.items()))
    stats.by_carrier = dict(sorted(carriers.items()))
    return stats
