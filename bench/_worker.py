"""The two processes of the chaos harness (bench/chaos_backbone.py), each in its own process.

    python -m bench._worker writer SCHEMA PREFIX RATE     steady writer through the real Outbox
    python -m bench._worker worker SCHEMA PREFIX GROUP    a real ServiceRuntime: relay + consumer

Environment: DD_DATABASE_URL, DD_KAFKA_BOOTSTRAP_SERVERS. Both stop on SIGTERM.

The writer adds event `seq` to the outbox and a `written` row in one transaction, so `written`
holds exactly the events whose commit succeeded (an in-doubt commit is settled by what the
database kept). The worker's handler logs every application in `handled`, which has no unique
key: a duplicate application shows up as a second row.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    Table,
    Uuid,
    func,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Envelope, topics
from shared.db.backbone import backbone_tables
from shared.db.engine import create_engine, session_factory
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.runtime import ServiceDefinition, ServiceRuntime
from shared.settings import ServiceSettings
from tests.support import dispute_received


class ChaosTables:
    def __init__(self, schema: str) -> None:
        self.metadata = MetaData(schema=schema)
        self.outbox_table, self.inbox_table = backbone_tables(self.metadata)
        self.written = Table(
            "written",
            self.metadata,
            Column("seq", Integer, primary_key=True),
            Column("event_id", Uuid, nullable=False),
            Column("written_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
        )
        # No unique key on purpose: a duplicate application must be visible, not refused.
        self.handled = Table(
            "handled",
            self.metadata,
            Column("id", BigInteger, Identity(), primary_key=True),
            Column("event_id", Uuid, nullable=False),
            Column("seq", Integer, nullable=False),
            Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
        )


class ChaosSettings(ServiceSettings):
    service = "chaos"
    group: str = "dd-chaos"

    @property
    def consumer_group(self) -> str:
        return self.group


def _stop_on_sigterm() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def write(schema: str, prefix: str, rate: float) -> None:
    """One event per transaction at `rate`/s until SIGTERM; a failed write is skipped, not retried
    in a burst, so the rate stays steady through an outage."""
    stop = _stop_on_sigterm()
    tables = ChaosTables(schema)
    engine = create_engine(os.environ["DD_DATABASE_URL"], pool_size=2, application_name="chaos-writer")
    sessions = session_factory(engine)
    outbox = Outbox(tables.outbox_table)
    seq, failures = 0, 0
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            event = dispute_received(f"{prefix}-{seq % 17:05d}", seq)
            try:
                async with asyncio.timeout(5), session_scope(sessions) as session:
                    await outbox.add(session, event)
                    await session.execute(insert(tables.written).values(seq=seq, event_id=event.id))
            except Exception as exc:  # PostgreSQL away: this seq may or may not have committed
                failures += 1
                if failures % 20 == 1:
                    print(f"write failed (seq {seq}): {exc!r}", flush=True)
            seq += 1
            # Behind after an outage: carry on from now rather than burst to catch up.
            next_at = max(next_at + 1 / rate, time.monotonic())
            try:
                await asyncio.wait_for(stop.wait(), next_at - time.monotonic())
            except TimeoutError:
                pass
    finally:
        print(f"writer stopped after seq {seq} ({failures} failed writes)", flush=True)
        await engine.dispose()


def recording_handler(tables: ChaosTables, prefix: str):
    async def handle(session: AsyncSession, event: Envelope, ctx) -> None:
        if event.subject.startswith(prefix):
            seq = int(event.data.notice_id.split("-")[1])
            await session.execute(insert(tables.handled).values(event_id=event.id, seq=seq))

    return handle


async def work(schema: str, prefix: str, group: str) -> None:
    """A real service runtime (relay, consumer, lag) on the scratch schema, until SIGTERM."""
    stop = _stop_on_sigterm()
    tables = ChaosTables(schema)
    settings = ChaosSettings(
        database_url=os.environ["DD_DATABASE_URL"],
        kafka_bootstrap_servers=os.environ["DD_KAFKA_BOOTSTRAP_SERVERS"],
        group=group,
        db_pool_size=4,
    )
    definition = ServiceDefinition(
        name=schema,
        metadata=tables.metadata,
        outbox_table=tables.outbox_table,
        inbox_table=tables.inbox_table,
        migrations=Path(),
        handlers={f"{topics.DISPUTE_RECEIVED}/v1": recording_handler(tables, prefix)},
    )
    runtime = ServiceRuntime(settings, definition)
    await runtime.start()
    print("worker started", flush=True)
    await stop.wait()
    await runtime.stop()
    print("worker stopped", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    role, schema, prefix, arg = sys.argv[1:5]
    if role == "writer":
        asyncio.run(write(schema, prefix, float(arg)))
    elif role == "worker":
        asyncio.run(work(schema, prefix, arg))
    else:
        sys.exit(f"unknown role {role!r}: writer or worker")
