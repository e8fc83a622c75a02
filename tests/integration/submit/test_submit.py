"""Submit through the route on real PostgreSQL, against the portal simulator: refusals, the package,
retries, a lost response completed by the reconciler, idempotency, the manual path, access."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from services.portal_sim.settings import VerdictRule
from services.submit import models, submissions
from services.submit.package import mismatched_files
from shared.contracts import DisputeChange, DisputeUpdatedV1, new_event
from tests.integration.submit.conftest import Submit


async def _no_submission(submit: Submit, dispute_id: str, seller_id: str) -> None:
    got = await submit.client.get(f"/v1/cases/{dispute_id}/submission", headers=submit.seller_headers(seller_id))
    assert got.status_code == 404 and got.json()["code"] == "submission_not_found"
    assert await submit.events_of(dispute_id, "case.submitted") == []
    assert submit.portal_packages(dispute_id) == []


async def test_an_accepted_submission_stores_a_package_whose_manifest_matches_its_files(submit: Submit) -> None:
    seller, dispute = await submit.new_case(files=3)
    answer = await submit.submit(dispute, seller)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["state"] == "receipted" and body["receipt_id"].startswith("RCPT-")
    package = await submit.client.get(f"/v1/cases/{dispute}/package", headers=submit.seller_headers(seller))
    assert package.status_code == 200 and package.headers["content-type"] == "application/zip"
    data = package.content
    import hashlib

    assert hashlib.sha256(data).hexdigest() == body["package_sha256"]
    assert mismatched_files(io.BytesIO(data)) == []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
    assert names[-1] == "manifest.json" and len(names) == 5  # cover letter, 3 files, manifest
    assert all(re.fullmatch(rf"{dispute}_\d\d_[a-z_]+\.(pdf|png)", n) for n in names[:-1])
    assert names[0].endswith("_01_cover_letter.pdf")
    checked = {f.sha256 for f in submit.evidence.files[dispute]}
    assert checked <= {entry["sha256"] for entry in manifest["files"]}
    [event] = await submit.events_of(dispute, "case.submitted")
    assert event.data.receipt_id == body["receipt_id"] and event.data.package_sha256 == body["package_sha256"]
    assert event.data.adapter == "http" and len(event.data.evidence_set) == 3
    assert len(submit.portal_packages(dispute)) == 1
    again = await submit.submit(dispute, seller)
    assert again.status_code == 409 and again.json()["code"] == "already_submitted"


async def test_each_preflight_refusal_answers_its_code_and_stores_nothing(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    wrong = await submit.submit(dispute, seller, order_id="999", amount={"value": "1", "currency": "KRW"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "case_mismatch"
    assert wrong.json()["fields"] == ["order_id", "amount"]
    await _no_submission(submit, dispute, seller)

    seller, dispute = await submit.new_case(status="needs_fix")
    refused = await submit.submit(dispute, seller)
    assert refused.status_code == 409 and refused.json()["code"] == "evidence_not_ready"
    assert refused.json()["rules"] == ["delivery_proof_present"]
    await _no_submission(submit, dispute, seller)

    seller, dispute = await submit.new_case(due_in=timedelta(hours=-1))
    late = await submit.submit(dispute, seller)
    assert late.status_code == 409 and late.json()["code"] == "deadline_passed"
    await _no_submission(submit, dispute, seller)

    seller, dispute = await submit.new_case()
    closed = DisputeUpdatedV1(dispute_id=dispute, seller_id=seller, change=DisputeChange.accepted)
    await submit.deliver_events(new_event(closed, source="tests", seller_id=seller))
    accepted = await submit.submit(dispute, seller)
    assert accepted.status_code == 409 and accepted.json()["code"] == "case_closed"
    await _no_submission(submit, dispute, seller)

    seller, dispute = await submit.new_case()
    submit.evidence.files[dispute][0].data += b"changed after the check"
    stale = await submit.submit(dispute, seller)
    assert stale.status_code == 409 and stale.json()["code"] == "evidence_not_ready"
    await _no_submission(submit, dispute, seller)
    staged = [p for p in submit.context.packages.staging_dir.rglob("*") if p.is_file()]
    assert staged == []  # nothing half-built left behind


async def test_a_case_with_no_report_yet_is_not_ready(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    async with submit.session() as session:
        await session.execute(models.cases.update().where(models.cases.c.dispute_id == dispute).values(report_id=None))
    refused = await submit.submit(dispute, seller)
    assert refused.status_code == 409 and refused.json()["code"] == "evidence_not_ready"


async def test_another_sellers_case_is_not_found(submit: Submit) -> None:
    _, dispute = await submit.new_case()
    other = await submit.submit(dispute, "VOTHER")
    assert other.status_code == 404 and other.json()["code"] == "case_not_found"
    for path in ("submission", "package"):
        got = await submit.client.get(f"/v1/cases/{dispute}/{path}", headers=submit.seller_headers("VOTHER"))
        assert got.status_code == 404 and got.json()["code"] == "case_not_found"
    unknown = await submit.submit("CD-unknown", None)
    assert unknown.status_code == 404


async def test_retries_under_429_and_500_end_in_one_receipt(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    await submit.fault(fault="429", times=1, retry_after_s=0)
    await submit.fault(fault="500", times=1)
    answer = await submit.submit(dispute, seller)
    assert answer.status_code == 201, answer.text
    assert len(submit.portal_packages(dispute)) == 1
    assert len(await submit.events_of(dispute, "case.submitted")) == 1


async def test_a_lost_response_is_completed_by_the_reconciler_never_submitted_twice(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    previous = submit.set_settings(portal_max_attempts=1)
    try:
        await submit.fault(fault="lose_response", times=1, delay_s=1.5)  # stored, then the answer is late
        answer = await submit.submit(dispute, seller)
        assert answer.status_code == 202 and answer.json()["state"] == "pending"
        assert len(submit.portal_packages(dispute)) == 1  # the portal has it; we have no receipt
        assert await submit.events_of(dispute, "case.submitted") == []
        assert await submissions.reconcile(submit.sessions, submit.context) == 0  # not due yet
        submit.clock.advance(timedelta(seconds=31))
        assert await submissions.reconcile(submit.sessions, submit.context) == 1
        assert await submissions.reconcile(submit.sessions, submit.context) == 0
    finally:
        submit.context.settings = previous
        submit.clock.set(datetime.now(UTC))  # back to the wall clock: tokens minted later are not from the future
    got = (await submit.client.get(f"/v1/cases/{dispute}/submission", headers=submit.seller_headers(seller))).json()
    [package] = submit.portal_packages(dispute)
    assert got["state"] == "receipted" and got["receipt_id"] == package.receipt_id
    assert len(await submit.events_of(dispute, "case.submitted")) == 1
    again = await submit.submit(dispute, seller)
    assert again.status_code == 409 and again.json()["code"] == "already_submitted"


async def test_the_reconciler_resends_a_package_the_portal_never_stored(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    previous = submit.set_settings(portal_max_attempts=1)
    try:
        await submit.fault(fault="timeout", times=1, delay_s=1.5)  # nothing stored
        answer = await submit.submit(dispute, seller)
        assert answer.status_code == 202
        assert submit.portal_packages(dispute) == []
        submit.clock.advance(timedelta(seconds=31))
        assert await submissions.reconcile(submit.sessions, submit.context) == 1
    finally:
        submit.context.settings = previous
        submit.clock.set(datetime.now(UTC))  # back to the wall clock: tokens minted later are not from the future
    assert len(submit.portal_packages(dispute)) == 1
    assert len(await submit.events_of(dispute, "case.submitted")) == 1


async def test_the_same_idempotency_key_gets_the_same_answer_and_another_body_is_422(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    first = await submit.submit(dispute, seller, key="key-1")
    again = await submit.submit(dispute, seller, key="key-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await submit.submit(dispute, seller, key="key-1", order_id="other")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert len(submit.portal_packages(dispute)) == 1


async def test_two_concurrent_submits_make_one_submission(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    answers = await asyncio.gather(submit.submit(dispute, seller), submit.submit(dispute, seller))
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert len(submit.portal_packages(dispute)) == 1
    async with submit.session() as session:
        count = (
            await session.execute(
                select(func.count()).select_from(models.submissions).where(models.submissions.c.dispute_id == dispute)
            )
        ).scalar()
    assert count == 1
    same_key = await submit.new_case(seller)
    answers = await asyncio.gather(*(submit.submit(same_key[1], seller, key="k-conc") for _ in range(2)))
    # The one that waited on the case row answers what is there while the other is at the portal:
    # the same submission, `pending` (202) or already `receipted` (201); asked again, the final answer.
    assert sorted(a.status_code for a in answers) in ([201, 201], [201, 202])
    assert {a.json()["package_sha256"] for a in answers} == {answers[0].json()["package_sha256"]}
    final = await submit.submit(same_key[1], seller, key="k-conc")
    assert final.status_code == 201 and final.json() == next(a.json() for a in answers if a.status_code == 201)
    assert len(submit.portal_packages(same_key[1])) == 1


async def test_the_manual_path_ends_in_the_same_receipt_and_event(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    put = await submit.client.put(
        f"/v1/sellers/{seller}/portal", json={"adapter": "manual"}, headers=submit.operator_headers()
    )
    assert put.status_code == 200 and put.json()["adapter"] == "manual"
    answer = await submit.submit(dispute, seller)
    assert answer.status_code == 202 and answer.json()["state"] == "sent"
    assert submit.portal_packages(dispute) == []
    package = await submit.client.get(f"/v1/cases/{dispute}/package", headers=submit.seller_headers(seller))
    assert package.status_code == 200 and mismatched_files(io.BytesIO(package.content)) == []
    url = f"/v1/cases/{dispute}/submission/receipt"
    bad = await submit.client.post(url, json={"receipt_number": "12-34"}, headers=submit.seller_headers(seller))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_receipt_number"
    assert await submit.events_of(dispute, "case.submitted") == []
    good = await submit.client.post(
        url, json={"receipt_number": "WING-2026-0301-5566"}, headers=submit.seller_headers(seller)
    )
    assert good.status_code == 200, good.text
    assert good.json()["state"] == "receipted" and good.json()["receipt_id"] == "202603015566"
    [event] = await submit.events_of(dispute, "case.submitted")
    assert event.data.adapter == "manual" and event.data.receipt_id == "202603015566"
    repeat = await submit.client.post(
        url, json={"receipt_number": "2026-0301-5566"}, headers=submit.seller_headers(seller)
    )
    assert repeat.status_code == 200 and len(await submit.events_of(dispute, "case.submitted")) == 1


async def test_a_verdict_before_the_lost_receipt_still_leaves_the_reconciler_to_record_it(submit: Submit) -> None:
    # Found by `make chaos`: submit was SIGKILLed after the portal stored the package and before the receipt
    # was written; the portal's verdict callback came first and cleared the submission's next check, so
    # the reconciler never looked again: no receipt and no case.submitted, ever (two cases in one run).
    seller, dispute = await submit.new_case()
    previous = submit.set_settings(portal_max_attempts=1)
    try:
        await submit.fault(fault="lose_response", times=1, delay_s=1.5)  # stored, then the answer is late
        # The verdict comes after the route gave up on the answer: as after a kill, nothing else touches the row.
        submit.portal_app.state.portal.rules.insert(0, VerdictRule(dispute_id=dispute, delay_s=2.5))
        answer = await submit.submit(dispute, seller)
        assert answer.status_code == 202 and answer.json()["state"] == "pending"
        for _ in range(200):  # the portal's callback: the verdict, before any receipt
            if await submit.events_of(dispute, "verdict.returned"):
                break
            await asyncio.sleep(0.05)
        assert len(await submit.events_of(dispute, "verdict.returned")) == 1
        assert await submit.events_of(dispute, "case.submitted") == []
        submit.clock.advance(timedelta(seconds=31))
        assert await submissions.reconcile(submit.sessions, submit.context) == 1
    finally:
        submit.context.settings = previous
        submit.clock.set(datetime.now(UTC))  # back to the wall clock: tokens minted later are not from the future
    got = (await submit.client.get(f"/v1/cases/{dispute}/submission", headers=submit.seller_headers(seller))).json()
    [package] = submit.portal_packages(dispute)
    assert got["state"] == "receipted" and got["receipt_id"] == package.receipt_id
    assert len(await submit.events_of(dispute, "case.submitted")) == 1
    assert len(await submit.events_of(dispute, "verdict.returned")) == 1
