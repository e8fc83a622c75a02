"""The one worker loop: work off due rows, sleep until the next is due or a commit wakes it, back off on failure.

Every background worker of a service is this loop around one `step` the service writes: the
deadline scheduler (`services/deadline/scheduler.py`), the evidence debouncer
(`services/evidence/runs.py`) and the outbox relay (`shared/kafka/relay.py`); notify's dispatcher
and submit's poller are to be the next.

How a new worker uses it
------------------------
1. Write `step() -> float | None`, one pass: claim due rows with `FOR UPDATE SKIP LOCKED` in a
   short transaction (several replicas share the rows, none takes one twice), act, record the
   outcome. For work that must not happen inside a transaction (a call to a carrier or a
   portal), claim and mark the rows "in flight" (a lease: `locked_until = now + lease`) and
   commit, act outside any transaction, then record the outcome in a second transaction, so a
   crash in between leaves a lease that expires and is claimed again. A failure of one row is
   the step's to record (retry it later, mark it failed): it must not stop the others. What the
   step raises is a failure of the whole pass (the database away, the broker away) and is
   backed off.
   Return how long until more is due: `0` for "at once" (a claim came back full), seconds for
   the next due row (`SELECT min(due_at)`), `None` for "nothing known" (sleep `max_sleep_s`).
2. Give the loop a `Wakeup` and call `wakeup.after_commit(session, at=due)` from whatever
   commits new due work in this process (a handler, a route), or `wakeup.set()` from a LISTEN
   callback: the loop then looks at once instead of at its planned time. What other replicas
   commit is found within `max_sleep_s`.
3. Run it: `await WorkerLoop("notify-dispatcher", step, backoff=Backoff(0.2, 5.0),
   max_sleep_s=30).run()` as a `ServiceDefinition.workers` entry; cancellation (shutdown) or
   `stop()` ends it. A cancelled pass rolls its transaction back (`session_scope`), so its rows
   stay due for the next claim.

Failures: the loop never dies. Each failed pass waits `backoff.delay(failures)` (full jitter,
capped: `shared/backoff.py`), not cut short by wake-ups (a LISTEN that keeps firing while Kafka
is away must not turn the backoff into a storm), and logs `worker_backing_off`: a warning when
`shared/db/errors.py` (or the worker's own `transient`) says the infrastructure is away, an
error with the traceback otherwise (a bug).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.backoff import Backoff
from shared.db.errors import is_connection_error
from shared.db.session import call_after_commit
from shared.errors import Unavailable

log = structlog.get_logger(__name__)

FAR = datetime.max.replace(tzinfo=UTC)

# One pass of a worker: seconds until more is due (0: at once), or None when nothing is known.
Step = Callable[[], Awaitable[float | None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Wakeup:
    """Wakes a sleeping worker loop: after a commit that made work due sooner, or from a LISTEN."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.planned_at: datetime = FAR  # when the loop means to look again (FAR while it works)

    def set(self) -> None:
        """Wake the loop now (or, if it is working, make its next sleep return at once)."""
        self._event.set()

    def after_commit(self, session: AsyncSession, at: datetime | None = None) -> None:
        """Wake the loop once `session`'s transaction commits (a rollback wakes nobody).

        With `at` (when the new work is due), only if that is before the loop's planned look.
        """
        if at is not None and at >= self.planned_at:
            return
        call_after_commit(session, f"dd_wakeup_{id(self)}", self._event.set)

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, seconds: float, planned_at: datetime = FAR) -> bool:
        """Sleep up to `seconds` or until woken; True when woken."""
        self.planned_at = planned_at
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._event.clear()
            self.planned_at = FAR


def is_outage(exc: BaseException) -> bool:
    """The database or another dependency (the blob store, ...) is away: the pass is retried, not a bug."""
    return isinstance(exc, Unavailable) or is_connection_error(exc)


class WorkerLoop:
    """`step` until stopped; between passes, sleep until due or woken; back off on failures."""

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        backoff: Backoff,
        max_sleep_s: float,
        wakeup: Wakeup | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_failure: Callable[[Exception], Awaitable[None]] | None = None,
        transient: Callable[[BaseException], bool] | None = None,
    ) -> None:
        """`clock` tells the time `Wakeup.planned_at` is in (the service's clock); `on_failure`
        runs after a failed pass, before the backoff (e.g. to drop a broken connection);
        `transient` tells an outage (logged as a warning) from a bug (logged as an error)."""
        if max_sleep_s < 0:
            raise ValueError("max_sleep_s must not be negative")
        self.name = name
        self._step = step
        self.backoff = backoff
        self.max_sleep_s = max_sleep_s
        self.wakeup = wakeup or Wakeup()
        self._clock = clock
        self._on_failure = on_failure
        self._transient = transient or is_outage
        self.failures = 0  # consecutive failed passes
        self.last_error: Exception | None = None
        self.passes = 0  # passes that completed (for health and tests)
        self.waiting = asyncio.Event()  # set while the loop sleeps for work (not while it backs off)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask `run()` to return after the pass in hand (a sleep or backoff ends at once)."""
        self._stopping.set()
        self.wakeup.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            self.wakeup.clear()  # a commit from here on wakes the sleep after this pass
            try:
                due_in = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._failed(exc)
                continue
            self.failures, self.last_error = 0, None
            self.passes += 1
            if due_in is not None and due_in <= 0:
                continue  # more is due right now
            sleep = self.max_sleep_s if due_in is None else min(due_in, self.max_sleep_s)
            if self._stopping.is_set():
                break
            self.waiting.set()
            try:
                await self.wakeup.wait(sleep, self._clock() + timedelta(seconds=sleep))
            finally:
                self.waiting.clear()

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = exc
        if self._on_failure is not None:
            await self._on_failure(exc)
        delay = self.backoff.delay(self.failures)
        transient = self._transient(exc)
        (log.warning if transient else log.error)(
            "worker_backing_off",
            part=self.name,
            error=repr(exc),
            failures=self.failures,
            retry_in_s=round(delay, 3),
            exc_info=None if transient else exc,
        )
        try:
            async with asyncio.timeout(delay):
                await self._stopping.wait()
        except TimeoutError:
            pass
