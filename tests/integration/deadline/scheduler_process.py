"""A scheduler process for the SIGKILL test: the service's real loop on the system clock, nothing else.

    python -m tests.integration.deadline.scheduler_process DATABASE_URL BATCH

No relay runs, so every `deadline.alerted` it commits stays in the outbox for the test to count.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from services.deadline import scheduler
from services.deadline.context import DeadlineContext
from services.deadline.settings import Settings
from shared.db.engine import create_engine, session_factory


async def main(database_url: str, batch: int) -> None:
    settings = Settings(database_url=database_url, scheduler_batch=batch, env="local")
    engine = create_engine(database_url, pool_size=2, application_name="deadline-scheduler-test")
    await scheduler.run(session_factory(engine), DeadlineContext(settings))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
