"""A notify dispatcher process for the SIGKILL test: the service's real worker loop on the system clock, nothing else.

    python -m tests.integration.notify.dispatcher_process DATABASE_URL LEASE_S

No consumer, relay or API runs: it claims, sends and records the rows already in the database,
as the service's `dispatcher` worker does. Private targets are allowed (the sinks are on
127.0.0.1), and an exchange may take a minute, so a sink holding a request open holds this
process in its send until the test kills it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from services.notify import dispatcher
from services.notify.context import NotifyContext
from services.notify.settings import Settings
from shared.clock import SystemClock
from shared.db.engine import create_engine, session_factory


async def main(database_url: str, lease_s: float) -> None:
    settings = Settings(
        database_url=database_url,
        env="local",
        allow_private_targets=True,
        dispatch_lease_s=lease_s,
        http_total_timeout_s=60.0,
    )
    engine = create_engine(database_url, pool_size=2, application_name="notify-dispatcher-test")
    ctx = NotifyContext.of(settings, SystemClock())
    try:
        await dispatcher.loop(session_factory(engine), ctx).run()
    finally:
        await ctx.channels.http.aclose()
        await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
