"""A process that writes events through an outbox, relays them and consumes them back.

Run by test_sigkill.py, which kills it with SIGKILL mid-stream and starts it again:

    python -m tests.integration.shared.backbone_worker SCHEMA PREFIX TOTAL GROUP

Environment: DD_DATABASE_URL, DD_KAFKA_BOOTSTRAP_SERVERS. Event `seq` n is written once
(a `produced` row guards it, in the same transaction as the outbox row), so a restart resumes
where the killed process stopped; every application is logged in `handled`.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy import Column, Integer, Table, func, insert, select

from shared.contracts import topics
from shared.db.engine import create_engine, session_factory
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import KafkaProducer
from shared.kafka.relay import OutboxRelay
from shared.settings import ServiceSettings
from tests.conftest import scratch_tables
from tests.support import dispute_received, recording_handler


async def main(schema: str, prefix: str, total: int, group: str) -> None:
    database_url = os.environ["DD_DATABASE_URL"]
    bootstrap = os.environ["DD_KAFKA_BOOTSTRAP_SERVERS"]
    metadata, outbox_table, inbox_table, handled = scratch_tables(schema)
    produced = Table("produced", metadata, Column("seq", Integer, primary_key=True))
    engine = create_engine(database_url, pool_size=4)
    sessions = session_factory(engine)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: produced.create(c, checkfirst=True))

    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap, kafka_max_poll_records=50)
    producer = KafkaProducer.from_settings(settings, client_id="worker")
    await producer.start()
    relay = OutboxRelay(outbox_table=outbox_table, producer=producer, settings=settings)
    consumer = EventConsumer(
        service="worker",
        context=None,
        group_id=group,
        handlers={f"{topics.DISPUTE_RECEIVED}/v1": recording_handler(handled, only_prefix=prefix)},
        sessions=sessions,
        inbox_table=inbox_table,
        producer=producer,
        bootstrap_servers=bootstrap,
        settings=settings,
    )
    await consumer.start()
    outbox = Outbox(outbox_table)

    async def write_events() -> None:
        async with session_scope(sessions) as session:
            start = (await session.execute(select(func.coalesce(func.max(produced.c.seq) + 1, 0)))).scalar_one()
        for seq in range(start, total):
            async with session_scope(sessions) as session:
                await session.execute(insert(produced).values(seq=seq))
                await outbox.add(session, dispute_received(f"{prefix}-{seq % 13:05d}", seq))
            await asyncio.sleep(0.002)
        print("written", flush=True)

    print("started", flush=True)
    await asyncio.gather(write_events(), relay.run(), consumer.run())


if __name__ == "__main__":
    schema, prefix, total, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    asyncio.run(main(schema, prefix, total, group))
