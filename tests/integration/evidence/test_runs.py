"""Checker runs through HTTP and the debounce worker: reports pinned to their set, stale after a
change, in three languages, and `evidence.validated` after `evidence.uploaded` in the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import services.evidence.main
from services.evidence import models, runs
from shared.contracts import DeadlineScheduledV1, DisputeReceivedV1, Money, new_event
from shared.worker import Wakeup
from tests.harness import service_harness
from tests.integration.evidence.conftest import ORDER, Evidence, sample
from tests.support import eventually

CLEAN = ("tracking_cj_delivered", "pod_complete", "messages_coupang")


async def upload_clean(evidence: Evidence, dispute: str, seller: str) -> list[str]:
    ids = []
    for name in CLEAN:
        answer = await evidence.upload(dispute, seller, sample(name), as_json=True)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["evidence_id"])
    return ids


async def test_the_clean_not_received_sample_package_is_ready_with_no_blocker(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    ids = await upload_clean(evidence, dispute, seller)
    answer = await evidence.client.post(
        f"/v1/cases/{dispute}/evidence/check?lang=en", headers=evidence.seller_headers(seller)
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["status"] == "ready" and report["findings"] == [] and report["stale"] is False
    assert [e["evidence_id"] for e in report["evidence_set"]] == ids
    assert [b["article"] for b in report["legal_basis"]] == ["제15조 제1항", "제17조 제5항"]
    assert await evidence.outbox_types(dispute) == ["evidence.uploaded"] * 3 + ["evidence.validated"]
    validated = [e for e in await evidence.outbox_events() if e.subject == dispute][-1]
    assert validated.data.status == "ready" and str(validated.data.report_id) == report["report_id"]
    assert [str(e.evidence_id) for e in validated.data.evidence_set] == ids


async def test_a_report_reads_in_chinese_korean_and_english(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    await upload_clean(evidence, dispute, seller)
    await evidence.upload(dispute, seller, sample("statement_zh_vague"), as_json=True)
    await evidence.client.post(f"/v1/cases/{dispute}/evidence/check", headers=evidence.seller_headers(seller))
    words = {"zh": "韩文译文", "ko": "한국어 번역본", "en": "Korean translation"}
    for lang, word in words.items():
        answer = await evidence.client.get(
            f"/v1/cases/{dispute}/report?lang={lang}", headers=evidence.seller_headers(seller)
        )
        report = answer.json()
        assert report["status"] == "needs_fix" and report["lang"] == lang
        assert [f["rule"] for f in report["findings"]] == ["vague_statement", "korean_translation_missing"]
        assert word in report["findings"][1]["message"]
    bad = await evidence.client.get(f"/v1/cases/{dispute}/report?lang=fr", headers=evidence.seller_headers(seller))
    assert bad.status_code == 422 and bad.json()["code"] == "unsupported_language"


async def test_a_change_to_the_set_after_a_report_makes_it_stale(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    ids = await upload_clean(evidence, dispute, seller)
    url = f"/v1/cases/{dispute}/report"
    none_yet = await evidence.client.get(url, headers=evidence.seller_headers(seller))
    assert none_yet.status_code == 404 and none_yet.json()["code"] == "report_not_found"
    await evidence.client.post(f"/v1/cases/{dispute}/evidence/check", headers=evidence.seller_headers(seller))
    assert (await evidence.client.get(url, headers=evidence.seller_headers(seller))).json()["stale"] is False
    await evidence.client.delete(f"/v1/cases/{dispute}/evidence/{ids[1]}", headers=evidence.seller_headers(seller))
    report = (await evidence.client.get(url, headers=evidence.seller_headers(seller))).json()
    assert report["stale"] is True and report["status"] == "ready"  # the old verdict, marked stale
    rerun = await evidence.client.post(f"/v1/cases/{dispute}/evidence/check", headers=evidence.seller_headers(seller))
    assert rerun.json()["stale"] is False and rerun.json()["status"] == "needs_fix"
    assert "required_evidence_missing" in [f["rule"] for f in rerun.json()["findings"]]


async def test_a_tracking_number_backing_another_order_of_the_seller_is_found_through_the_index(evidence: Evidence):
    seller, first = await evidence.new_case()
    _, second = await evidence.new_case(seller, order_id="3000111122223")
    await evidence.upload(first, seller, sample("tracking_cj_delivered"), as_json=True)
    reused = {**sample("tracking_cj_delivered"), "order_id": "3000111122223"}
    await evidence.upload(second, seller, reused, as_json=True)
    report = await evidence.client.post(f"/v1/cases/{second}/evidence/check", headers=evidence.seller_headers(seller))
    assert "tracking_number_reused" in [f["rule"] for f in report.json()["findings"]]
    _, elsewhere = await evidence.new_case(None, order_id="3000111122223")  # another seller: not its index
    await evidence.upload(elsewhere, None, reused, as_json=True)
    report = await evidence.client.post(f"/v1/cases/{elsewhere}/evidence/check", headers=evidence.operator_headers())
    assert "tracking_number_reused" not in [f["rule"] for f in report.json()["findings"]]


async def test_templates_pass_the_checker_wording_and_refuse_unknown_reason_codes(evidence: Evidence):
    answer = await evidence.client.get(
        "/v1/templates?reason_code=NOT_RECEIVED&lang=ko", headers=evidence.seller_headers("V1")
    )
    assert answer.status_code == 200
    body = answer.json()
    assert "KST" in body["templates"][0]["example"] and body["legal_basis"][0]["article"] == "제15조 제1항"
    bad = await evidence.client.get("/v1/templates?reason_code=NOPE&lang=ko", headers=evidence.seller_headers("V1"))
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_reason_code"
    assert (await evidence.client.get("/v1/templates?reason_code=NOT_RECEIVED")).status_code == 401


async def test_dispute_received_twice_is_one_case_and_an_early_deadline_is_parked_until_it(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    due = datetime(2026, 11, 9, 14, 59, 59, tzinfo=UTC)
    deadline = DeadlineScheduledV1(dispute_id=dispute, due_at=due, business_days=5, rule="computed")
    assert await evidence.deliver_events(new_event(deadline, source="tests")) == ["handled"]
    listed = await evidence.client.get(f"/v1/cases/{dispute}/evidence", headers=evidence.seller_headers(seller))
    assert listed.json()["due_at"] == "2026-11-09T14:59:59Z"

    early = DeadlineScheduledV1(dispute_id="CD-EARLY-1", due_at=due, business_days=5, rule="computed")
    await evidence.deliver_events(new_event(early, source="tests"))
    parked = models.parked_events_table
    assert await evidence.scalar(select(parked.c.dispute_id).where(parked.c.dispute_id == "CD-EARLY-1"))
    received = DisputeReceivedV1(
        dispute_id="CD-EARLY-1",
        seller_id=seller,
        notice_id="N-1",
        kind="chargeback",
        order_id=ORDER,
        amount=Money(value="1", currency="KRW"),
        reason_code="NOT_RECEIVED",
        notified_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    event = new_event(received, source="tests")
    assert await evidence.deliver_events(event) == ["handled"]
    assert await evidence.deliver_events(event) == ["duplicate"]
    c = models.cases
    assert await evidence.scalar(select(c.c.due_at).where(c.c.dispute_id == "CD-EARLY-1")) == due
    assert await evidence.scalar(select(parked.c.dispute_id).where(parked.c.dispute_id == "CD-EARLY-1")) is None


@pytest.fixture
async def debounced(infra, tmp_path):
    """A harness whose checks wait 300 ms after the last change, with its worker loop running."""
    async with service_harness(
        infra, services.evidence.main, harness=Evidence, blob_root=tmp_path, check_debounce_ms=300
    ) as harness:
        harness.blob_root = tmp_path
        worker = asyncio.create_task(
            runs.check_loop(
                harness.sessions,
                poll_s=0.5,
                retry=timedelta(seconds=5),
                wake=harness.context.wakeup,
                clock=harness.context.clock,
            ).run()
        )
        try:
            yield harness
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)


async def test_a_burst_of_uploads_is_checked_once_after_it_settles(debounced: Evidence):
    seller, dispute = await debounced.new_case()
    await asyncio.gather(*(debounced.upload(dispute, seller, sample(n), as_json=True) for n in CLEAN))
    await debounced.upload(dispute, seller, sample("statement_zh_vague"), as_json=True)
    assert "evidence.validated" not in await debounced.outbox_types(dispute)  # still settling
    deadline = asyncio.get_running_loop().time() + 5
    while "evidence.validated" not in await debounced.outbox_types(dispute):
        assert asyncio.get_running_loop().time() < deadline, "no evidence.validated within 5 s"
        await asyncio.sleep(0.05)
    c = models.cases
    # Nothing is due any more, so nothing more can come (no sleep to wait for what might):
    assert await debounced.scalar(select(c.c.check_due_at).where(c.c.dispute_id == dispute)) is None
    assert await debounced.outbox_types(dispute) == ["evidence.uploaded"] * 4 + ["evidence.validated"]
    report = await debounced.client.get(f"/v1/cases/{dispute}/report", headers=debounced.seller_headers(seller))
    assert report.json()["trigger"] == "debounce" and len(report.json()["evidence_set"]) == 4


async def test_two_workers_share_due_cases_and_check_each_once(evidence: Evidence):
    """Two processes' workers (two loops here): SKIP LOCKED hands each due case to one of them."""
    cases = [await evidence.new_case() for _ in range(6)]
    for seller, dispute in cases:  # debounce 0 in this harness: due at once
        assert (await evidence.upload(dispute, seller, sample("pod_complete"), as_json=True)).status_code == 201
    workers = [
        asyncio.create_task(
            runs.check_loop(
                evidence.sessions, poll_s=0.2, retry=timedelta(seconds=5), wake=Wakeup(), clock=evidence.context.clock
            ).run()
        )
        for _ in range(2)
    ]
    try:
        deadline = asyncio.get_running_loop().time() + 10
        for _, dispute in cases:
            while "evidence.validated" not in await evidence.outbox_types(dispute):
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    c = models.cases
    for _, dispute in cases:  # nothing is due any more, so nothing more can come: the counts are final
        assert await evidence.scalar(select(c.c.check_due_at).where(c.c.dispute_id == dispute)) is None
        assert await evidence.outbox_types(dispute) == ["evidence.uploaded", "evidence.validated"]


async def test_a_seller_who_keeps_uploading_still_gets_a_check_after_the_longest_wait(infra, tmp_path):
    """The debouncer's promise: a change is checked `delay` after the last change, but at most
    `max_wait` after the first one not yet checked. Changes every 100 ms never let the 600 ms
    debounce end, so exactly one run comes, at `max_wait`, while they go on; one change after it
    gets exactly one more, and then nothing is due, so no third can come."""
    timing = {"check_debounce_ms": 600, "check_max_wait_ms": 1500}
    async with service_harness(
        infra, services.evidence.main, harness=Evidence, blob_root=tmp_path, **timing
    ) as evidence:
        wake = Wakeup()
        worker = asyncio.create_task(
            runs.check_loop(
                evidence.sessions, poll_s=0.2, retry=timedelta(seconds=5), wake=wake, clock=evidence.context.clock
            ).run()
        )
        try:
            seller, dispute = await evidence.new_case()
            loop = asyncio.get_running_loop()
            started = loop.time()
            uploads = 0
            while "evidence.validated" not in (types := await evidence.outbox_types(dispute)):
                assert loop.time() - started < 10, "no check within 10 s of the first change"
                assert (await evidence.upload(dispute, seller, sample("pod_complete"), as_json=True)).status_code == 201
                uploads += 1
                await asyncio.sleep(0.1)  # the seller's pace (the input), well inside the 600 ms debounce
            assert loop.time() - started >= 1.5  # not before max_wait: the debounce alone never ended
            assert types.count("evidence.validated") == 1, types
            first = await _report(evidence, dispute, seller)
            assert first["trigger"] == "debounce" and len(first["evidence_set"]) <= uploads

            assert (await evidence.upload(dispute, seller, sample("pod_complete"), as_json=True)).status_code == 201
            changed = loop.time()
            types = await eventually(lambda: _validated_twice(evidence, dispute), timeout_s=10, interval_s=0.05)
            assert loop.time() - changed >= 0.6  # a new window: checked the debounce after its change, not at once
            c = models.cases
            assert await evidence.scalar(select(c.c.check_due_at).where(c.c.dispute_id == dispute)) is None
            # Nothing is due any more, so the count is final: exactly two runs.
            types = await evidence.outbox_types(dispute)
            assert types.count("evidence.validated") == 2, types
            last = await _report(evidence, dispute, seller)
            assert len(last["evidence_set"]) == uploads + 1  # the settled set, every change in it
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)


async def _report(evidence: Evidence, dispute: str, seller: str) -> dict:
    answer = await evidence.client.get(f"/v1/cases/{dispute}/report", headers=evidence.seller_headers(seller))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _validated_twice(evidence: Evidence, dispute: str) -> list[str] | None:
    types = await evidence.outbox_types(dispute)
    return types if types.count("evidence.validated") >= 2 else None


async def test_a_run_that_fails_is_retried_later_and_does_not_stop_other_cases(evidence: Evidence):
    bad_seller, bad = await evidence.new_case()
    good_seller, good = await evidence.new_case()
    await evidence.upload(bad, bad_seller, sample("pod_complete"), as_json=True)
    i = models.evidence_items
    async with evidence.session() as session:  # a stored row the checker's bridge cannot read
        await session.execute(i.update().where(i.c.dispute_id == bad).values(facts={"exif_time": "not a time"}))
    await evidence.upload(good, good_seller, sample("pod_complete"), as_json=True)
    worker = asyncio.create_task(
        runs.check_loop(
            evidence.sessions, poll_s=0.2, retry=timedelta(seconds=30), wake=Wakeup(), clock=evidence.context.clock
        ).run()
    )
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while "evidence.validated" not in await evidence.outbox_types(good):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert await evidence.outbox_types(bad) == ["evidence.uploaded"]
    c = models.cases
    due = await evidence.scalar(select(c.c.check_due_at).where(c.c.dispute_id == bad))
    assert due > datetime.now(UTC) + timedelta(seconds=20)  # tried again in 30 s, not in a hot loop
