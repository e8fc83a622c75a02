"""The submit service's background worker: the reconciler and the verdict poller, one `WorkerLoop`.

Each pass runs `submissions.reconcile` (pending http submissions whose answer was lost) and
`verdicts.poll` (receipted ones with no verdict yet), then sleeps until the next row is due
(`SELECT min(next_check_at)`), at most `worker_max_sleep_s`, woken early by a commit of this
process that made a row due sooner. Rows are claimed with `FOR UPDATE SKIP LOCKED` and leased
(`next_check_at` moved past the portal calls) before the calls, which run outside any transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.submit import submissions, verdicts
from services.submit.context import SubmitContext
from services.submit.repository import SubmitRepository
from shared.backoff import Backoff
from shared.db.session import session_scope
from shared.runtime import ServiceRuntime
from shared.worker import WorkerLoop


def loop(sessions: async_sessionmaker[AsyncSession], ctx: SubmitContext) -> WorkerLoop:
    async def step() -> float | None:
        done = await submissions.reconcile(sessions, ctx) + await verdicts.poll(sessions, ctx)
        if done >= ctx.settings.worker_batch:
            return 0.0
        async with session_scope(sessions) as session:
            upcoming = await SubmitRepository(session).next_check()
        if upcoming is None:
            return None
        return max((upcoming - ctx.clock.now()).total_seconds(), 0.05)

    return WorkerLoop(
        "submit-portal",
        step,
        backoff=Backoff(base_s=0.2, cap_s=10.0),
        max_sleep_s=ctx.settings.worker_max_sleep_s,
        wakeup=ctx.wakeup,
        clock=ctx.clock.now,
    )


async def portal_worker(runtime: ServiceRuntime[SubmitContext]) -> None:
    """The service's background worker (ServiceDefinition.workers). It runs as long as the runtime
    (cancelled by `ServiceRuntime.stop`, after the HTTP server has stopped taking requests), so it
    closes the context's engine and client on its way out: the runtime has no hook of its own for it."""
    try:
        await loop(runtime.sessions, runtime.context).run()
    finally:
        await runtime.context.aclose()
