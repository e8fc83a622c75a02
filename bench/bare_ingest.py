"""The baseline of the ingest benchmark: a bare FastAPI endpoint that reads the same body, parses
it with the same notice model and answers 202. No auth, no signature, no database, no outbox.

    uvicorn bench.bare_ingest:app
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.ingest.notices import parse_notice

app = FastAPI()


@app.post("/v1/webhooks/coupang/{seller_id}", status_code=202)
async def bare(seller_id: str, request: Request) -> JSONResponse:
    notice = parse_notice(await request.body())
    results = [{"dispute_id": d.dispute_id, "result": "created"} for d in notice.disputes]
    return JSONResponse({"notice_id": notice.notice_id, "results": results}, status_code=202)
