"""Session-wide real PostgreSQL and Kafka (see tests/infra.py), and a scratch schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Column, Identity, Integer, MetaData, String, Table, Uuid, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db.backbone import backbone_tables
from shared.db.engine import create_engine, session_factory
from shared.kafka.topics import ensure_topics
from tests.infra import TestInfra, provide_infra
from tests.system import RunningSystem, running_system

# Tests are a local run (the development auth secret is allowed); set before any settings are built.
os.environ.setdefault("DD_ENV", "local")

TESTS = Path(__file__).parent


@pytest.fixture(scope="session")
def infra() -> Iterator[TestInfra]:
    with provide_infra() as provided:
        yield provided


@pytest.fixture(scope="session")
async def kafka(infra: TestInfra) -> str:
    await ensure_topics(infra.kafka_bootstrap_servers, partitions=6)
    return infra.kafka_bootstrap_servers


@pytest.fixture(scope="session")
async def engine(infra: TestInfra) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(infra.database_url, pool_size=5, application_name="tests")
    yield engine
    await engine.dispose()


@dataclass
class Scratch:
    """A throwaway schema holding an outbox, an inbox and a `handled` log for one test."""

    schema: str
    metadata: MetaData
    outbox_table: Table
    inbox_table: Table
    handled: Table
    sessions: async_sessionmaker[AsyncSession]
    prefix: str  # dispute-id prefix of this test's events, so tests sharing topics stay apart

    def dispute_id(self, n: int) -> str:
        return f"{self.prefix}-{n:05d}"


def scratch_tables(schema: str) -> tuple[MetaData, Table, Table, Table]:
    metadata = MetaData(schema=schema)
    outbox, inbox = backbone_tables(metadata)
    # No unique key on purpose: a duplicate application must be visible, not refused.
    handled = Table(
        "handled",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False),
        Column("dispute_id", String(64), nullable=False),
        Column("seq", Integer, nullable=False),
    )
    return metadata, outbox, inbox, handled


@pytest.fixture
async def scratch(engine: AsyncEngine) -> AsyncIterator[Scratch]:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    metadata, outbox, inbox, handled = scratch_tables(schema)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    yield Scratch(schema, metadata, outbox, inbox, handled, session_factory(engine), prefix=schema.upper())
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def system(infra: TestInfra, kafka: str) -> Iterator[RunningSystem]:
    """The five services and the simulator as processes, up for the whole session once asked for."""
    yield from running_system(infra)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that run the whole system as processes (tests/e2e, tests/browser) go last.

    The session's `system` stays up once started, and its services consume the shared topics: a later
    test that counts the events of its own dispute on a topic would also see what those services made
    of it (seen: a second `deadline.alerted` from the session system's deadline service)."""
    whole_system = ("e2e", "browser")
    items.sort(key=lambda item: Path(str(item.path)).relative_to(TESTS).parts[0] in whole_system)
