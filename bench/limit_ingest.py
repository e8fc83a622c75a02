"""The ingest benchmark's baseline at the limit: the work no correct webhook can skip, and nothing else.

A FastAPI endpoint (the same uvicorn settings as ingest) that reads the body, verifies its
Standard Webhooks signature (the `standardwebhooks` library) and commits one durable row with
asyncpg (the receipt: webhook-id, seller, body; a repeated webhook-id changes nothing), then
answers 202. No notice model, no case, no timeline, no outbox, no ORM, no middleware.

    BENCH_LIMIT_DSN=postgresql://… BENCH_LIMIT_SECRET=whsec_… uvicorn bench.limit_ingest:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from standardwebhooks import Webhook, WebhookVerificationError

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bench_limit;
CREATE TABLE IF NOT EXISTS bench_limit.webhooks (
    seller_id text NOT NULL,
    webhook_id text NOT NULL,
    body bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seller_id, webhook_id)
)"""
_RECEIVE = "INSERT INTO bench_limit.webhooks (seller_id, webhook_id, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"


@asynccontextmanager
async def _pool(app: FastAPI) -> AsyncIterator[None]:
    app.state.verifier = Webhook(os.environ["BENCH_LIMIT_SECRET"])
    async with asyncpg.create_pool(os.environ["BENCH_LIMIT_DSN"], min_size=10, max_size=10) as pool:
        async with pool.acquire() as connection:
            await connection.execute(_SCHEMA)
        app.state.pool = pool
        yield


app = FastAPI(lifespan=_pool)


@app.post("/v1/webhooks/coupang/{seller_id}", status_code=202)
async def receive(seller_id: str, request: Request) -> Response:
    body = await request.body()
    try:
        app.state.verifier.verify(body, dict(request.headers))
    except WebhookVerificationError:
        return JSONResponse({"code": "invalid_signature"}, status_code=401)
    # One statement outside a transaction block: PostgreSQL commits it, durably, before answering.
    await app.state.pool.execute(_RECEIVE, seller_id, request.headers["webhook-id"], body)
    return JSONResponse({"received": True}, status_code=202)
