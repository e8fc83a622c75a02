"""Stats over HTTP, from imported history and facts recorded by the handlers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.contracts import CaseSubmittedV1, DeadlineScheduledV1, EvidenceUploadedV1
from tests.integration.ingest.conftest import Ingest, deliver_event

HEADER = "dispute_id,kind,order_id,amount,currency,reason_code,notified_at,status\n"


async def test_win_rate_on_time_rate_and_breakdowns_by_reason_and_month(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    other, _ = await ingest.onboard()
    p = f"CD-{uuid.uuid4().hex[:6]}"
    rows = [
        f"{p}-1,chargeback,1,100,KRW,NOT_RECEIVED,2026-08-31T23:30:00+09:00,won",
        f"{p}-2,chargeback,2,100,KRW,NOT_RECEIVED,2026-09-01T00:30:00+09:00,lost",  # 2026-08-31 in UTC: KST month 09
        f"{p}-3,chargeback,3,100,KRW,DAMAGED,2026-09-02T10:00:00+09:00,partial",
        f"{p}-4,chargeback,4,100,KRW,DAMAGED,2026-09-03T10:00:00+09:00,won",
        f"{p}-5,chargeback,5,100,KRW,OTHER,2026-09-04T10:00:00+09:00,expired",
        f"{p}-6,chargeback,6,100,KRW,OTHER,2026-09-05T10:00:00+09:00,received",
        f"{p}-7,chargeback,7,100,KRW,OTHER,2026-09-06T10:00:00+09:00,received",
    ]
    headers = {**ingest.seller(seller_id), "content-type": "text/csv"}
    imported = await ingest.client.post(
        "/v1/disputes/import", content=(HEADER + "\n".join(rows)).encode(), headers=headers
    )
    assert imported.json()["created"] == 7
    due = datetime(2026, 9, 10, 14, 59, 59, tzinfo=UTC)
    for n, submitted in ((6, due - timedelta(hours=1)), (7, due + timedelta(hours=1))):
        await deliver_event(
            ingest,
            DeadlineScheduledV1(dispute_id=f"{p}-{n}", due_at=due, business_days=5, rule="computed"),
            at=due - timedelta(days=5),
        )
        receipt = CaseSubmittedV1(
            dispute_id=f"{p}-{n}", receipt_id=f"R{n}", adapter="http", submitted_at=submitted, package_sha256="c" * 64
        )
        await deliver_event(ingest, receipt, at=submitted)

    # Tracking evidence names the carrier: two cases by CJ, one by ZTO (its later upload wins), the rest unknown.
    for n, carrier in ((1, "cj"), (3, "cj"), (4, "cj"), (4, "zto")):
        uploaded = EvidenceUploadedV1(
            dispute_id=f"{p}-{n}", evidence_id=uuid.uuid4(), kind="tracking_record", carrier=carrier
        )
        await deliver_event(ingest, uploaded, at=datetime.now(UTC))
    untouched = EvidenceUploadedV1(dispute_id=f"{p}-5", evidence_id=uuid.uuid4(), kind="statement")
    await deliver_event(ingest, untouched, at=datetime.now(UTC))

    stats = (await ingest.client.get("/v1/stats", headers=ingest.seller(seller_id))).json()
    assert stats["total"] == 7 and stats["win_rate"] == 0.5  # 2 won of 4 decided
    assert (stats["submitted_on_time"], stats["submitted_late"], stats["expired"]) == (1, 1, 1)
    assert stats["on_time_rate"] == round(1 / 3, 4)
    assert stats["by_reason_code"]["NOT_RECEIVED"]["win_rate"] == 0.5
    assert stats["by_reason_code"]["DAMAGED"] | {} == {
        "total": 2,
        "won": 1,
        "lost": 0,
        "partial": 1,
        "accepted": 0,
        "open": 0,
        "win_rate": 0.5,
    }
    assert {m: b["total"] for m, b in stats["by_month"].items()} == {"2026-08": 1, "2026-09": 6}
    assert stats["by_status"] == {"expired": 1, "lost": 1, "partial": 1, "submitted": 2, "won": 2}
    assert {c: b["total"] for c, b in stats["by_carrier"].items()} == {"cj": 2, "zto": 1, "unknown": 4}
    assert stats["by_carrier"]["cj"]["won"] == 1 and stats["by_carrier"]["cj"]["partial"] == 1

    assert (await ingest.client.get("/v1/stats", headers=ingest.seller(other))).json()["total"] == 0
    assert (
        await ingest.client.get("/v1/stats", params={"seller_id": seller_id}, headers=ingest.seller(other))
    ).status_code == 404
    narrowed = await ingest.client.get(
        "/v1/stats", params={"seller_id": seller_id, "since": "2026-09-05T00:00:00+09:00"}, headers=ingest.operator()
    )
    assert narrowed.json()["total"] == 2
