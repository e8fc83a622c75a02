"""Evidence benchmark (issue 9): a 10-item case uploaded over HTTP to a running evidence service,
from the last upload to `evidence.validated` on its Kafka topic, with the check debounce at 0.

    make bench            (or: python -m bench.evidence --runs 30)

Starts its own PostgreSQL and Kafka (deploy/local, bench ports, `.local/bench`), migrates the
evidence schema and runs the service as its own process (`python -m services.evidence serve`:
API, relay, consumer and check worker, as deployed). Each run is a new NOT_RECEIVED dispute,
published as `dispute.received` on Kafka; its items: a tracking record (meta), a 3-page tracking
PDF, a 2-page proof-of-delivery PDF, three 1600×1200 JPEG photos with EXIF time, a 200-message
Coupang log, a Chinese statement, its certified Korean translation and an invoice. Nine go up one
after another; after a 0.5 s pause (the runs those nine started have settled) the tenth goes up
and the clock runs until an `evidence.validated` naming all ten items is read from the topic.
Then `POST …/evidence/check` is timed: a whole run (load, check, store, event, render).
Appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer

from bench.backbone import add_http_port_argument, on_bench_servers, record_report
from bench.checker import pdf, photo
from deploy.local.infra import REPO, LocalInfra
from services.evidence.main import DEFINITION
from shared.contracts import DisputeReceivedV1, Money, new_event, topics
from shared.db.migrations import upgrade
from shared.kafka.metadata import topic_partitions
from shared.kafka.producer import create_producer
from shared.kafka.topics import ensure_topics
from shared.settings import DEVELOPMENT_AUTH_SECRET
from shared.web.auth import mint_token

ORDER = "3000987650001"
SELLER = "VBENCH-EVIDENCE"
GOAL_CHECK_MS = 200.0


def files() -> dict[str, tuple[str, bytes, str]]:
    tracking = ["CJ대한통운 배송조회 운송장 651234567890", "2026-10-28 14:22 KST 서울 강남구 배송완료"]
    pod = ["배송완료 확인서 수령인: 김*수", "서울특별시 강남구 역삼로 210, 7층 702호", "2026-10-28 14:22 KST 배송완료"]
    return {
        "trk_pdf": ("cj-tracking.pdf", pdf(3, tracking), "application/pdf"),
        "pod_pdf": ("pod.pdf", pdf(2, pod), "application/pdf"),
        **{f"photo{n}": (f"photo{n}.jpg", photo(n), "image/jpeg") for n in range(3)},
    }


def messages() -> list[dict[str, str]]:
    texts = [
        ("buyer", "상품을 아직 못 받았어요"),
        ("seller", "CJ대한통운 기록상 10월 28일 14:22 KST 배송완료입니다."),
        ("buyer", "경비실 확인해 볼게요"),
    ]
    out = [
        {"sent_at": f"2026-10-29T{9 + n // 60 % 10:02d}:{n % 60:02d}:00+09:00", "sender": s, "text": t}
        for n, (s, t) in enumerate(texts[i % 3] for i in range(199))
    ]
    out.append({"sent_at": "2026-10-29T19:45:00+09:00", "sender": "buyer", "text": "경비실에 있었네요. 잘 받았습니다."})
    return out


TRACKING = {
    "kind": "tracking_record",
    "carrier": "CJ",
    "tracking_number": "651234567890",
    "order_id": ORDER,
    "status": "delivered",
    "delivered_at": "2026-10-28T14:22:00+09:00",
}
POD = {
    **TRACKING,
    "kind": "proof_of_delivery",
    "recipient_name": "김*수",
    "address": "서울특별시 강남구 역삼로 210, 7층 702호",
}


def serve(port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "services.evidence", "serve"]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Validated:
    """Reads `evidence.validated` from the end of the topic; tells when a dispute's full set was checked."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
        self.waiting: dict[str, tuple[int, asyncio.Future[float]]] = {}

    async def start(self) -> None:
        await self.consumer.start()
        partitions = await topic_partitions(self.consumer, [topics.EVIDENCE_VALIDATED])
        self.consumer.assign(list(partitions))
        await self.consumer.seek_to_end(*partitions)
        self.task = asyncio.create_task(self._run())

    def expect(self, dispute_id: str, items: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[dispute_id] = (items, future)
        return future

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            seen = time.perf_counter()
            for record in (r for rs in batch.values() for r in rs):
                event = json.loads(record.value)
                want = self.waiting.get(event["subject"])
                if want and len(event["data"]["evidence_set"]) == want[0] and not want[1].done():
                    want[1].set_result(seen)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.consumer.stop()


async def one_case(client: httpx.AsyncClient, url: str, dispute: str, blobs: dict, validated: Validated) -> dict:
    headers = {"Authorization": f"Bearer {mint_token(DEVELOPMENT_AUTH_SECRET, 'seller', SELLER)}"}
    base = f"{url}/v1/cases/{dispute}/evidence"

    async def post(meta: dict, file: tuple[str, bytes, str] | None = None) -> str:
        if file is None:
            answer = await client.post(base, json=meta, headers=headers)
        else:
            answer = await client.post(base, data={"meta": json.dumps(meta)}, files={"file": file}, headers=headers)
        answer.raise_for_status()
        return str(answer.json()["evidence_id"])

    started = time.perf_counter()
    await post(TRACKING)
    await post(
        {"kind": "tracking_record", "carrier": "CJ대한통운", "tracking_number": "651234567890"}, blobs["trk_pdf"]
    )
    await post(POD, blobs["pod_pdf"])
    for n in range(3):
        await post({"kind": "product_photo"}, blobs[f"photo{n}"])
    await post({"kind": "message_log", "source": "coupang_messages", "order_id": ORDER, "messages": messages()})
    statement = await post(
        {"kind": "statement", "text": "订单号 3000987650001 的商品已于 2026-10-28 14:22 KST 由 CJ大韩通运送达。"}
    )
    await post(
        {
            "kind": "translation",
            "of_evidence_id": statement,
            "language": "ko",
            "certified": True,
            "text": "주문번호 3000987650001의 상품은 2026-10-28 14:22 KST, CJ대한통운 배송완료.",
        }
    )
    nine_s = time.perf_counter() - started
    await asyncio.sleep(0.5)
    seen = validated.expect(dispute, 10)
    last = time.perf_counter()
    await post({"kind": "invoice", "order_id": ORDER, "amount": {"value": "32900", "currency": "KRW"}})
    answered = time.perf_counter()
    at = await asyncio.wait_for(seen, 30)
    check_started = time.perf_counter()
    report = await client.post(f"{base}/check?lang=zh", headers=headers)
    report.raise_for_status()
    check_s = time.perf_counter() - check_started
    return {
        "e2e_ms": (at - last) * 1000,
        "upload_ms": (answered - last) * 1000,
        "check_ms": check_s * 1000,
        "nine_s": nine_s,
        "status": report.json()["status"],
        "findings": [f["rule"] for f in report.json()["findings"]],
    }


async def wait_until(check, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} did not happen within {timeout_s} s")


def evidence_env(infra: LocalInfra, port: int, *, check_debounce_ms: int) -> dict[str, str]:
    """The environment of `python -m services.evidence serve` on the bench's servers."""
    return os.environ | {
        "DD_ENV": "local",
        "DD_EVIDENCE_DATABASE_URL": infra.database_url,
        "DD_EVIDENCE_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DD_EVIDENCE_PORT": str(port),
        "DD_EVIDENCE_LOG_LEVEL": "WARNING",
        "DD_EVIDENCE_BLOB_ROOT": str(infra.root / "evidence-blobs"),
        "DD_EVIDENCE_CHECK_DEBOUNCE_MS": str(check_debounce_ms),
    }


async def run(runs: int, infra: LocalInfra, port: int) -> list[dict]:
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap)
    await asyncio.to_thread(upgrade, DEFINITION.migrations, infra.database_url)
    env = evidence_env(infra, port, check_debounce_ms=0)
    url = f"http://127.0.0.1:{port}"
    process = serve(port, env)
    blobs = files()
    validated = Validated(bootstrap)
    producer = create_producer(bootstrap, client_id="bench-evidence")
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await wait_until(lambda: _ready(client, url), "evidence /readyz")
            run_id = uuid.uuid4().hex[:6]
            disputes = [f"CD-EB-{run_id}-{n:03d}" for n in range(runs + 1)]  # the first one warms up
            await producer.start()
            for dispute in disputes:
                event = new_event(
                    DisputeReceivedV1(
                        dispute_id=dispute,
                        seller_id=SELLER,
                        notice_id=f"N-{dispute}",
                        kind="platform_dispute",
                        order_id=ORDER,
                        amount=Money(value="32900", currency="KRW"),
                        reason_code="NOT_RECEIVED",
                        notified_at=datetime(2026, 11, 2, 0, 40, tzinfo=UTC),
                    ),
                    source="bench",
                    seller_id=SELLER,
                )
                await producer.send_and_wait(event.type, event.to_bytes(), key=event.key)
            headers = {"Authorization": f"Bearer {mint_token(DEVELOPMENT_AUTH_SECRET, 'operator')}"}
            await wait_until(
                lambda: _known(client, f"{url}/v1/cases/{disputes[-1]}/evidence", headers), "cases consumed"
            )
            await validated.start()
            results = [await one_case(client, url, d, blobs, validated) for d in disputes]
            return results[1:]
    finally:
        await producer.stop()
        await validated.stop()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def _ready(client: httpx.AsyncClient, url: str) -> bool:
    return (await client.get(url + "/readyz")).status_code == 200


async def _known(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> bool:
    return (await client.get(url, headers=headers)).status_code == 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def report(results: list[dict]) -> str:
    e2e, check, upload = ([r[k] for r in results] for k in ("e2e_ms", "check_ms", "upload_ms"))
    nine = statistics.median(r["nine_s"] for r in results)
    statuses = sorted({(r["status"], ",".join(r["findings"]) or "no finding") for r in results})
    p99_check = percentile(check, 0.99)
    verdict = "met" if p99_check <= GOAL_CHECK_MS else "NOT met"
    return "\n".join(
        [
            f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — evidence: a 10-item case over HTTP, {len(results)} runs, "
            f"debounce 0, one evidence process, {platform.machine()}, {os.cpu_count()} cores",
            "",
            "| path | p50 ms | p99 ms | max ms | goal / today |",
            "|---|---:|---:|---:|---|",
            f"| last upload → `evidence.validated` (all 10 items) read from the topic | {statistics.median(e2e):.0f} "
            f'| {percentile(e2e, 0.99):.0f} | {max(e2e):.0f} | service firms today: a report "within 2 hours" |',
            f"| `POST …/evidence/check` over HTTP (load, check, store, event, render) | {statistics.median(check):.0f} "
            f"| {p99_check:.0f} | {max(check):.0f} | check ≤ 200 ms (p99) {verdict} |",
            f"| the last upload's own answer (a JSON invoice) | {statistics.median(upload):.0f} "
            f"| {percentile(upload, 0.99):.0f} | {max(upload):.0f} | |",
            "",
            f"The first nine uploads (2 PDFs, 3 photos with extraction) took {nine:.2f} s per case (median). "
            f"Reports: {'; '.join(f'{s} ({f})' for s, f in statuses)}.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    add_http_port_argument(parser)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args()
    results = on_bench_servers(lambda infra: run(args.runs, infra, args.port))
    record_report(report(results), append=not args.no_record)


if __name__ == "__main__":
    main()
