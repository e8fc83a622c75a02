"""The evidence service on the shared harness (tests/harness.py), plus what its tests add: a case
made known through `dispute.received`, uploads (multipart or JSON), counting rows and blobs, and
the debounce worker run in the test's own event loop.

The app runs WITHOUT its lifespan: no relay, no consumer, no worker; events stay in the outbox for
the tests to read, and a test that wants the worker runs `runs.check_loop` itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

import services.evidence.main
from services.evidence import models
from shared.contracts import DisputeReceivedV1, Money, new_event
from shared.db.session import session_scope
from tests.harness import ServiceHarness, service_harness
from tests.infra import TestInfra

ORDER = "3000987650001"
SAMPLES_BESIDE = Path(__file__).resolve().parents[3].parent / "shared" / "samples"
SAMPLES = SAMPLES_BESIDE if SAMPLES_BESIDE.is_dir() else Path(__file__).resolve().parents[2] / "fixtures" / "samples"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"evidence_{name}.json").read_text(encoding="utf-8"))


class Evidence(ServiceHarness):
    blob_root: Path

    async def new_case(
        self, seller_id: str | None = None, *, reason_code: str = "NOT_RECEIVED", order_id: str = ORDER, **fields: Any
    ) -> tuple[str, str]:
        """A case known through `dispute.received` (as the consumer applies it): (seller_id, dispute_id)."""
        seller_id = seller_id or f"V{uuid.uuid4().hex[:8].upper()}"
        dispute_id = fields.get("dispute_id") or f"CD-{uuid.uuid4().hex[:12]}"
        data = DisputeReceivedV1(
            dispute_id=dispute_id,
            seller_id=seller_id,
            notice_id=f"N-{uuid.uuid4().hex[:8]}",
            kind=fields.get("kind", "platform_dispute"),
            order_id=order_id,
            amount=Money(value=fields.get("amount", "32900"), currency="KRW"),
            reason_code=reason_code,
            notified_at=datetime(2026, 11, 2, 0, 40, tzinfo=UTC),
            language=fields.get("language"),
        )
        await self.deliver_events(new_event(data, source="tests", seller_id=seller_id))
        return seller_id, dispute_id

    async def upload(
        self,
        dispute_id: str,
        seller_id: str | None,
        meta: dict | str | None,
        file: tuple[str, bytes, str] | None = None,
        *,
        as_json: bool = False,
    ) -> httpx.Response:
        """multipart (`file` = (name, bytes, declared type), `meta`), or `as_json`: meta as the body."""
        headers = self.seller_headers(seller_id) if seller_id else self.operator_headers()
        url = f"/v1/cases/{dispute_id}/evidence"
        raw_meta = meta if isinstance(meta, str) or meta is None else json.dumps(meta, ensure_ascii=False)
        if as_json:
            assert raw_meta is not None
            headers["content-type"] = "application/json"
            return await self.client.post(url, content=raw_meta.encode(), headers=headers)
        data = {"meta": raw_meta} if raw_meta is not None else {}
        files = {"file": file} if file else None
        if files is None:  # multipart with the meta part alone
            return await self.client.post(url, files={"meta": (None, raw_meta or "")}, headers=headers)
        return await self.client.post(url, data=data, files=files, headers=headers)

    async def scalar(self, query: Any) -> Any:
        async with session_scope(self.sessions) as session:
            return (await session.execute(query)).scalar()

    async def item_count(self, dispute_id: str) -> int:
        t = models.evidence_items
        return await self.scalar(select(func.count()).select_from(t).where(t.c.dispute_id == dispute_id))

    async def outbox_types(self, dispute_id: str) -> list[str]:
        t = models.outbox_table
        async with session_scope(self.sessions) as session:
            rows = await session.execute(select(t.c.topic).where(t.c.key == dispute_id).order_by(t.c.id))
            return [r.topic for r in rows]

    def blob_files(self) -> set[str]:
        """Names of the blobs in the store (not the staging area)."""
        return {p.name for p in self.blob_root.rglob("*") if p.is_file() and len(p.name) == 64}

    def staged_files(self) -> list[Path]:
        staging = self.context.blobs.staging_dir
        return [p for p in Path(staging).rglob("*") if p.is_file()] if Path(staging).exists() else []


@pytest.fixture(scope="module")
async def evidence(infra: TestInfra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Evidence]:
    root = tmp_path_factory.mktemp("blobs")
    async with service_harness(
        infra, services.evidence.main, harness=Evidence, blob_root=root, check_debounce_ms=0
    ) as harness:
        harness.blob_root = root
        yield harness
