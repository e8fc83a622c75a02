"""Upload, list, read back and delete evidence through HTTP; who may; what each writes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from services.evidence import models
from shared.contracts import CaseSubmittedV1, new_event
from tests.integration.evidence.conftest import ORDER, Evidence, sample
from tests.unit.evidence.test_extract import jpeg, make_pdf


async def test_a_pdf_upload_is_stored_with_its_provenance_and_read_back_byte_for_byte(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    pdf = make_pdf(["CJ Logistics tracking 651234567890", "2026-10-28 14:22 KST delivered"], pages=2)
    meta = {"kind": "tracking_record", "carrier": "CJ", "tracking_number": "651234567890", "order_id": ORDER}
    answer = await evidence.upload(dispute, seller, meta, ("waybill.pdf", pdf, "application/pdf"))
    assert answer.status_code == 201, answer.text
    item = answer.json()
    sha = hashlib.sha256(pdf).hexdigest()
    assert item["sha256"] == sha and item["size"] == len(pdf) and item["media_type"] == "application/pdf"
    assert item["filename"] == "waybill.pdf" and item["uploader"] == f"seller:{seller}"
    assert item["facts"]["readable"] is True and item["facts"]["pages"] == 2
    assert sha in evidence.blob_files() and evidence.staged_files() == []

    content = await evidence.client.get(item["content_url"], headers=evidence.seller_headers(seller))
    assert content.status_code == 200
    assert content.content == pdf
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["etag"] == f'"{sha}"'
    assert content.headers["digest"] == "sha-256=" + base64.b64encode(hashlib.sha256(pdf).digest()).decode()
    again = await evidence.client.get(
        item["content_url"], headers={**evidence.seller_headers(seller), "if-none-match": f'"{sha}"'}
    )
    assert again.status_code == 304


async def test_a_structured_item_comes_as_json_meta_alone_and_has_no_content(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    answer = await evidence.upload(dispute, seller, sample("tracking_cj_delivered"), as_json=True)
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert item["sha256"] is None and item["content_url"] is None and item["meta"]["carrier"] == "CJ"
    content = await evidence.client.get(
        f"/v1/cases/{dispute}/evidence/{item['evidence_id']}/content", headers=evidence.seller_headers(seller)
    )
    assert content.status_code == 404 and content.json()["code"] == "evidence_has_no_file"
    multipart = await evidence.upload(dispute, seller, sample("pod_complete"))  # a meta part alone works too
    assert multipart.status_code == 201, multipart.text


async def test_the_list_shows_the_live_set_in_upload_order_and_a_delete_takes_an_item_out(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    first = (await evidence.upload(dispute, seller, sample("tracking_cj_delivered"), as_json=True)).json()
    photo = jpeg("2026:10:28 14:30:00", "+09:00")
    second = (await evidence.upload(dispute, seller, {"kind": "product_photo"}, ("p.jpg", photo, "image/jpeg"))).json()
    assert second["captured_at"] == "2026-10-28T05:30:00Z"  # EXIF time with its offset, kept as provenance
    listed = await evidence.client.get(f"/v1/cases/{dispute}/evidence", headers=evidence.seller_headers(seller))
    assert [i["evidence_id"] for i in listed.json()["items"]] == [first["evidence_id"], second["evidence_id"]]
    assert listed.json()["set_version"] == 2

    url = f"/v1/cases/{dispute}/evidence/{first['evidence_id']}"
    assert (await evidence.client.delete(url, headers=evidence.seller_headers(seller))).status_code == 204
    assert (await evidence.client.delete(url, headers=evidence.seller_headers(seller))).status_code == 404
    listed = await evidence.client.get(f"/v1/cases/{dispute}/evidence", headers=evidence.seller_headers(seller))
    assert [i["evidence_id"] for i in listed.json()["items"]] == [second["evidence_id"]]
    everything = await evidence.client.get(
        f"/v1/cases/{dispute}/evidence?include_deleted=true", headers=evidence.operator_headers()
    )
    assert [i["deleted_at"] is not None for i in everything.json()["items"]] == [True, False]
    assert await evidence.outbox_types(dispute) == ["evidence.uploaded"] * 3
    events = [e for e in await evidence.outbox_events() if e.subject == dispute]
    assert [e.data.change for e in events] == ["added", "added", "deleted"]
    assert [e.data.carrier for e in events] == ["cj", None, None]  # the ruleset's id, for ingest's stats
    assert events[2].data.evidence_id == uuid.UUID(first["evidence_id"])


async def test_another_sellers_case_and_an_unknown_case_answer_404_and_store_nothing(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    item = (await evidence.upload(dispute, seller, sample("pod_complete"), as_json=True)).json()
    other = "V-OTHER"
    headers = evidence.seller_headers(other)
    for method, url in [
        ("GET", f"/v1/cases/{dispute}/evidence"),
        ("GET", f"/v1/cases/{dispute}/evidence/{item['evidence_id']}/content"),
        ("DELETE", f"/v1/cases/{dispute}/evidence/{item['evidence_id']}"),
        ("GET", f"/v1/cases/{dispute}/report"),
        ("POST", f"/v1/cases/{dispute}/evidence/check"),
    ]:
        answer = await evidence.client.request(method, url, headers=headers)
        assert answer.status_code == 404 and answer.json()["code"] == "case_not_found", (method, url)
    refused = await evidence.upload(dispute, other, sample("pod_complete"), ("a.txt", b"hello", "text/plain"))
    assert refused.status_code == 404
    unknown = await evidence.upload("CD-NOPE", seller, sample("pod_complete"), as_json=True)
    assert unknown.status_code == 404 and unknown.json()["code"] == "case_not_found"
    assert await evidence.item_count(dispute) == 1
    operator = await evidence.client.get(f"/v1/cases/{dispute}/evidence", headers=evidence.operator_headers())
    assert operator.status_code == 200 and len(operator.json()["items"]) == 1


async def test_an_operator_upload_is_recorded_as_the_operators(evidence: Evidence):
    _, dispute = await evidence.new_case()
    answer = await evidence.upload(dispute, None, sample("pod_complete"), as_json=True)
    assert answer.status_code == 201 and answer.json()["uploader"] == "operator"


async def test_the_tracking_index_keeps_live_tracking_numbers_only(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    item = (await evidence.upload(dispute, seller, sample("tracking_cj_delivered"), as_json=True)).json()
    t = models.tracking_index
    row = await evidence.scalar(select(t.c.number_key).where(t.c.evidence_id == uuid.UUID(item["evidence_id"])))
    assert row == "651234567890"
    await evidence.client.delete(
        f"/v1/cases/{dispute}/evidence/{item['evidence_id']}", headers=evidence.seller_headers(seller)
    )
    gone = await evidence.scalar(select(t.c.number_key).where(t.c.evidence_id == uuid.UUID(item["evidence_id"])))
    assert gone is None


async def test_an_upload_waits_for_the_case_row_lock_so_one_disputes_events_stay_in_order(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    c = models.cases
    async with evidence.session() as holder:
        await holder.execute(select(c.c.dispute_id).where(c.c.dispute_id == dispute).with_for_update())
        upload = asyncio.create_task(evidence.upload(dispute, seller, sample("pod_complete"), as_json=True))
        await asyncio.sleep(0.5)
        assert not upload.done()  # blocked on the case row
        assert await evidence.item_count(dispute) == 0
    answer = await upload
    assert answer.status_code == 201
    assert await evidence.outbox_types(dispute) == ["evidence.uploaded"]


async def test_a_deleted_items_bytes_stay_readable_so_a_submitted_set_stays_verifiable(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    photo = jpeg("2026:10:28 14:30:00", "+09:00")
    item = (await evidence.upload(dispute, seller, {"kind": "product_photo"}, ("p.jpg", photo, "image/jpeg"))).json()
    url = f"/v1/cases/{dispute}/evidence/{item['evidence_id']}"
    assert (await evidence.client.delete(url, headers=evidence.seller_headers(seller))).status_code == 204
    content = await evidence.client.get(url + "/content", headers=evidence.operator_headers())
    assert content.status_code == 200 and hashlib.sha256(content.content).hexdigest() == item["sha256"]
    assert item["sha256"] in evidence.blob_files()


async def test_after_case_submitted_an_item_can_no_longer_be_deleted_but_stays_readable(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    item = (await evidence.upload(dispute, seller, sample("tracking_cj_delivered"), as_json=True)).json()
    url = f"/v1/cases/{dispute}/evidence/{item['evidence_id']}"
    submitted = CaseSubmittedV1(
        dispute_id=dispute,
        receipt_id="R-1",
        adapter="http",
        submitted_at=datetime.now(UTC),
        package_sha256="a" * 64,
    )
    await evidence.deliver_events(new_event(submitted, source="tests", seller_id=seller))

    refused = await evidence.client.delete(url, headers=evidence.seller_headers(seller))
    assert refused.status_code == 409 and refused.json()["code"] == "case_submitted"
    assert (await evidence.client.delete(url, headers=evidence.operator_headers())).status_code == 409
    listed = await evidence.client.get(f"/v1/cases/{dispute}/evidence", headers=evidence.seller_headers(seller))
    assert [i["evidence_id"] for i in listed.json()["items"]] == [item["evidence_id"]]
    assert await evidence.outbox_types(dispute) == ["evidence.uploaded"]  # the refused delete wrote nothing


async def test_a_submission_before_its_case_is_known_waits_for_the_case(evidence: Evidence):
    seller, early = "V" + uuid.uuid4().hex[:8].upper(), f"CD-{uuid.uuid4().hex[:12]}"
    submitted = CaseSubmittedV1(
        dispute_id=early, receipt_id="R-2", adapter="http", submitted_at=datetime.now(UTC), package_sha256="b" * 64
    )
    await evidence.deliver_events(new_event(submitted, source="tests", seller_id=seller))  # parked
    await evidence.new_case(seller, dispute_id=early)  # the case arrives; the parked submission follows
    item = (await evidence.upload(early, seller, sample("tracking_cj_delivered"), as_json=True)).json()
    refused = await evidence.client.delete(
        f"/v1/cases/{early}/evidence/{item['evidence_id']}", headers=evidence.seller_headers(seller)
    )
    assert refused.status_code == 409 and refused.json()["code"] == "case_submitted"
