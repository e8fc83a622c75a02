"""A request's transaction commits before its response is sent, or the response is a problem.

The app is the real factory (`create_service_app`) over a scratch schema; the failing commit
is real too: a DEFERRABLE INITIALLY DEFERRED unique constraint only fails at COMMIT.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.outbox import Outbox
from shared.errors import DomainError
from shared.runtime import ServiceDefinition
from shared.settings import ServiceSettings
from shared.web.app import create_service_app
from shared.web.db import DbSession
from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemError
from tests.conftest import Scratch
from tests.support import dispute_received


class CaseClosed(DomainError):
    code = "case_closed"


class Claim(BaseModel):
    amount: int


@dataclass
class Harness:
    client: httpx.AsyncClient
    scratch: Scratch
    engine: AsyncEngine

    async def outbox_rows(self, event_id: uuid.UUID) -> int:
        async with self.engine.connect() as conn:
            query = (
                select(func.count())
                .select_from(self.scratch.outbox_table)
                .where(self.scratch.outbox_table.c.event_id == event_id)
            )
            return (await conn.execute(query)).scalar_one()

    async def claims(self, key: str) -> int:
        async with self.engine.connect() as conn:
            query = text(f'SELECT count(*) FROM "{self.scratch.schema}".claims WHERE key = :key')
            return (await conn.execute(query, {"key": key})).scalar_one()


def _router(scratch: Scratch) -> APIRouter:
    router = APIRouter()
    outbox = Outbox(scratch.outbox_table)
    claims = text(f'INSERT INTO "{scratch.schema}".claims (key) VALUES (:key)')

    @router.post("/claims/{key}", status_code=201)
    async def claim(key: str, event_id: uuid.UUID, session: DbSession) -> dict[str, str]:
        await session.execute(claims, {"key": key})
        await outbox.add(session, dispute_received(scratch.dispute_id(1), 1).model_copy(update={"id": event_id}))
        return {"key": key}

    @router.post("/closed/{key}")
    async def closed(key: str, event_id: uuid.UUID, session: DbSession) -> None:
        await session.execute(claims, {"key": key})
        await outbox.add(session, dispute_received(scratch.dispute_id(2), 2).model_copy(update={"id": event_id}))
        raise CaseClosed("The case is closed.", key=key)

    @router.post("/refused/{key}")
    async def refused(key: str, event_id: uuid.UUID, session: DbSession) -> None:
        await session.execute(claims, {"key": key})
        await outbox.add(session, dispute_received(scratch.dispute_id(3), 3).model_copy(update={"id": event_id}))
        raise ProblemError(403, "forbidden", "Forbidden")

    @router.post("/parsed/{key}")
    async def parsed(key: str, event_id: uuid.UUID, request: Request, session: DbSession) -> dict[str, int]:
        await session.execute(claims, {"key": key})
        await outbox.add(session, dispute_received(scratch.dispute_id(4), 4).model_copy(update={"id": event_id}))
        return {"amount": Claim.model_validate_json(await request.body()).amount}

    return router


@pytest.fixture
async def harness(infra, engine: AsyncEngine, scratch: Scratch) -> AsyncIterator[Harness]:
    async with engine.begin() as conn:
        # Fails at COMMIT, never at the INSERT: the only way a commit fails on demand.
        await conn.execute(
            text(
                f'CREATE TABLE "{scratch.schema}".claims (key text NOT NULL, '
                "CONSTRAINT claims_key_unique UNIQUE (key) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
        await conn.execute(text(f"INSERT INTO \"{scratch.schema}\".claims (key) VALUES ('taken')"))
    definition = ServiceDefinition(
        name="kit",
        metadata=scratch.metadata,
        outbox_table=scratch.outbox_table,
        inbox_table=scratch.inbox_table,
        migrations=Path("."),
        routers=[_router(scratch)],
    )
    settings = ServiceSettings(database_url=infra.database_url, db_pool_size=2)
    app: FastAPI = create_service_app(settings, definition, errors={CaseClosed: Problem(409, "case_closed", "Closed")})
    # No lifespan: only the session factory is needed, not the relay or Kafka.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
            yield Harness(client, scratch, engine)
    finally:
        await app.state.runtime.engine.dispose()


def _problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["code"] == code
    return body


async def test_request_commits_its_change_and_outbox_row_before_answering(harness):
    event_id = uuid.uuid4()
    response = await harness.client.post("/claims/fresh", params={"event_id": str(event_id)})
    assert response.status_code == 201, response.text
    assert await harness.claims("fresh") == 1
    assert await harness.outbox_rows(event_id) == 1


async def test_commit_that_fails_answers_503_commit_failed_and_leaves_no_outbox_row(harness):
    event_id = uuid.uuid4()
    response = await harness.client.post("/claims/taken", params={"event_id": str(event_id)})
    body = _problem(response, 503, "commit_failed")
    assert "retrying the request is safe" in body["detail"]
    assert "claims_key_unique" not in response.text  # the database's words stay in the logs
    assert await harness.claims("taken") == 1
    assert await harness.outbox_rows(event_id) == 0


async def test_domain_error_is_mapped_by_the_table_and_the_request_rolls_back(harness):
    event_id = uuid.uuid4()
    response = await harness.client.post("/closed/k-closed", params={"event_id": str(event_id)})
    body = _problem(response, 409, "case_closed")
    assert (body["detail"], body["key"]) == ("The case is closed.", "k-closed")
    assert await harness.claims("k-closed") == 0
    assert await harness.outbox_rows(event_id) == 0


async def test_problem_error_in_a_route_rolls_back_the_request(harness):
    event_id = uuid.uuid4()
    _problem(await harness.client.post("/refused/k-refused", params={"event_id": str(event_id)}), 403, "forbidden")
    assert await harness.claims("k-refused") == 0
    assert await harness.outbox_rows(event_id) == 0


async def test_validation_error_raised_in_a_route_answers_422_and_rolls_back(harness):
    event_id = uuid.uuid4()
    response = await harness.client.post(
        "/parsed/k-parsed", params={"event_id": str(event_id)}, content=b'{"amount": "lots"}'
    )
    body = _problem(response, 422, "validation_error")
    assert body["errors"] == [
        {
            "field": "amount",
            "message": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]
    assert await harness.claims("k-parsed") == 0
    assert await harness.outbox_rows(event_id) == 0

    ok = await harness.client.post("/parsed/k-parsed", params={"event_id": str(event_id)}, content=b'{"amount": 5}')
    assert (ok.status_code, ok.json()) == (200, {"amount": 5})
    assert await harness.outbox_rows(event_id) == 1
