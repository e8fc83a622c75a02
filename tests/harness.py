"""One test harness for every service: what its tests need, built the same way for all five.

    @pytest.fixture(scope="module")
    async def ingest(infra):
        async with service_harness(infra, services.ingest.main) as harness:
            yield harness

    async def test_...(ingest):
        response = await ingest.client.get("/v1/cases", headers=ingest.seller_headers("V1"))
        await ingest.deliver_events(case_submitted_event)        # the consumer's own claim-and-handle step
        assert [e.type for e in await ingest.outbox_events()] == [...]

- a database of its own per harness, with the service's schema migrated by its own Alembic
  history (so tests of one service never see another's rows, and may run in any order); the app
  connects as the service's own role (shared/db/roles.py), as deployed, so a statement that needs
  more than its schema's rows fails here first;
- the app as an httpx client over ASGI, without the lifespan: no relay or consumer runs, so
  what a request wrote stays in the outbox for the test to read;
- seller and operator tokens signed with the app's secret;
- `deliver_events(*events)`: the events applied through `shared.kafka.apply.apply_events`, in one
  transaction, exactly as the consumer applies a fetched batch (inbox claim included, so a
  second delivery of the same event is a duplicate).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.clock import Clock
from shared.contracts import Envelope, parse_event
from shared.db.inbox import Inbox
from shared.db.migrations import upgrade
from shared.db.roles import ensure_roles, service_role, with_user
from shared.db.session import session_scope
from shared.kafka.apply import Incoming, apply_events
from shared.runtime import ServiceDefinition
from shared.settings import ServiceSettings
from shared.web.auth import mint_token
from tests.infra import TestInfra


@dataclass
class ServiceHarness:
    definition: ServiceDefinition
    settings: ServiceSettings
    app: FastAPI
    client: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]

    @property
    def context(self) -> Any:
        """The process's context (shared.runtime.ProcessContext): what handlers and routes are given."""
        return self.app.state.runtime.context

    # -------------------------------------------------------------- who calls

    def token(self, role: str = "operator", seller_id: str | None = None) -> str:
        return mint_token(self.settings.auth_secret, role, seller_id)

    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token('operator')}"}

    def seller_headers(self, seller_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token('seller', seller_id)}"}

    # -------------------------------------------------------------- events in and out

    async def deliver_events(self, *events: Envelope) -> list[str]:
        """Apply `events` as one consumed batch; returns "handled" or "duplicate" for each."""
        inbox = Inbox(self.definition.inbox_table, consumer=self.settings.consumer_group)
        async with session_scope(self.sessions) as session:
            return await apply_events(
                session, inbox, self.definition.handlers, [Incoming.of(e) for e in events], context=self.context
            )

    async def outbox_events(self, *, clear: bool = False) -> list[Envelope]:
        """The events waiting in the service's outbox, oldest first (`clear` takes them out)."""
        table = self.definition.outbox_table
        async with session_scope(self.sessions) as session:
            rows = (await session.execute(select(table.c.payload).order_by(table.c.id))).scalars().all()
            if clear:
                await session.execute(delete(table))
        return [parse_event(payload) for payload in rows]

    def session(self) -> Any:
        """`async with harness.session() as session:` one committed transaction on the service's tables."""
        return session_scope(self.sessions)


H = TypeVar("H", bound=ServiceHarness)


@asynccontextmanager
async def service_harness(
    infra: TestInfra,
    main: ModuleType,
    *,
    harness: type[H] = ServiceHarness,  # type: ignore[assignment]
    kafka_bootstrap_servers: str | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> AsyncIterator[H]:
    """A harness for the service whose composition root is `main` (DEFINITION, Settings, create_app).

    `harness` may be a subclass with the service's own helpers (sign a webhook, onboard a seller).
    `clock` (a `ManualClock`) is the process context's clock: routes, handlers and workers read
    it, so a test moves time instead of sleeping.
    """
    definition: ServiceDefinition = main.DEFINITION
    server = make_url(infra.database_url)
    database = f"h_{definition.name}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{database}"'))
        url = server.set(database=database).render_as_string(hide_password=False)
        role = service_role(definition.name)
        await ensure_roles(infra.database_url, [definition.name], adopt_schemas=False)  # the harness migrates
        await asyncio.to_thread(upgrade, definition.migrations, url, grant_to=role)
        service_settings = main.Settings(
            database_url=with_user(url, role),
            # No broker is needed: the lifespan (relay, consumer) does not run under the harness.
            kafka_bootstrap_servers=kafka_bootstrap_servers or infra.kafka_bootstrap_servers,
            env="local",
            **settings,
        )
        app: FastAPI = main.create_app(service_settings, clock=clock)
        runtime = app.state.runtime
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            try:
                yield harness(definition, service_settings, app, client, runtime.sessions)
            finally:
                await runtime.engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        await admin.dispose()
