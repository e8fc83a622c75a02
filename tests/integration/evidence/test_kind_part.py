"""The upload's `kind` as its own multipart part (issue 15, SPEC section 5), sent as ordinary
clients send it: httpx `files=`/`data=` (what `curl -F kind=... -F meta=... -F file=@...` sends).
Refusals leave no row, blob, staged file or event (`Nothing`)."""

from __future__ import annotations

import json

from tests.integration.evidence.conftest import ORDER, Evidence
from tests.integration.evidence.test_bad_input import Nothing, png, refused

TRACKING_FIELDS = {"carrier": "CJ", "tracking_number": "651234567890", "order_id": ORDER}


def url(dispute: str) -> str:
    return f"/v1/cases/{dispute}/evidence"


async def test_a_kind_part_beside_meta_and_a_file_supplies_the_kind(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    answer = await evidence.client.post(
        url(dispute),
        data={"kind": "tracking_record", "meta": json.dumps(TRACKING_FIELDS)},
        files={"file": ("waybill.png", png(), "image/png")},
        headers=evidence.seller_headers(seller),
    )
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert item["kind"] == "tracking_record" and item["meta"] == {"kind": "tracking_record", **TRACKING_FIELDS}
    assert item["media_type"] == "image/png"
    assert await evidence.outbox_types(dispute) == ["evidence.uploaded"]
    listed = await evidence.client.get(url(dispute), headers=evidence.seller_headers(seller))
    assert [i["kind"] for i in listed.json()["items"]] == ["tracking_record"]


async def test_a_kind_part_and_meta_without_a_file_as_curl_sends_them(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    answer = await evidence.client.post(
        url(dispute),
        files={"kind": (None, "tracking_record"), "meta": (None, json.dumps(TRACKING_FIELDS))},
        headers=evidence.seller_headers(seller),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["kind"] == "tracking_record" and answer.json()["meta"]["carrier"] == "CJ"


async def test_meta_may_be_left_out_when_a_kind_part_names_the_kind(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    photo = await evidence.client.post(
        url(dispute),
        data={"kind": "product_photo"},
        files={"file": ("p.png", png(), "image/png")},
        headers=evidence.seller_headers(seller),
    )
    assert photo.status_code == 201, photo.text
    assert photo.json()["kind"] == "product_photo" and photo.json()["meta"] == {"kind": "product_photo"}
    bare = await evidence.client.post(
        url(dispute), files={"kind": (None, "refund_record")}, headers=evidence.seller_headers(seller)
    )
    assert bare.status_code == 201, bare.text
    assert bare.json()["meta"] == {"kind": "refund_record"} and bare.json()["sha256"] is None
    # A kind part alone is still held to its kind: a photo is a file.
    lone = await evidence.client.post(
        url(dispute), files={"kind": (None, "product_photo")}, headers=evidence.seller_headers(seller)
    )
    refused(lone, 422, "file_required")
    assert await evidence.item_count(dispute) == 2


async def test_kind_in_meta_only_is_accepted_as_before(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    answer = await evidence.client.post(
        url(dispute),
        data={"meta": json.dumps({"kind": "product_photo"})},
        files={"file": ("p.png", png(), "image/png")},
        headers=evidence.seller_headers(seller),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["kind"] == "product_photo"


async def test_the_same_kind_in_the_part_and_in_meta_is_accepted(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    answer = await evidence.client.post(
        url(dispute),
        data={"kind": "tracking_record", "meta": json.dumps({"kind": "tracking_record", **TRACKING_FIELDS})},
        files={"file": ("waybill.png", png(), "image/png")},
        headers=evidence.seller_headers(seller),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["kind"] == "tracking_record"


async def test_different_kinds_in_the_part_and_in_meta_are_422_kind_mismatch_naming_both(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    async with Nothing(evidence, dispute):
        answer = await evidence.client.post(
            url(dispute),
            data={"kind": "proof_of_delivery", "meta": json.dumps({"kind": "tracking_record", **TRACKING_FIELDS})},
            files={"file": ("waybill.png", png(), "image/png")},
            headers=evidence.seller_headers(seller),
        )
        refused(answer, 422, "kind_mismatch")
        body = answer.json()
        assert body["part_kind"] == "proof_of_delivery" and body["meta_kind"] == "tracking_record"
        assert "proof_of_delivery" in body["detail"] and "tracking_record" in body["detail"]


async def test_a_kind_part_that_is_not_a_known_kind_is_422_unknown_kind(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    async with Nothing(evidence, dispute):
        for kind in ("receipt_scan", "", "x" * 500, "TRACKING_RECORD"):
            answer = await evidence.client.post(
                url(dispute),
                data={"kind": kind, "meta": json.dumps(TRACKING_FIELDS)},
                files={"file": ("waybill.png", png(), "image/png")},
                headers=evidence.seller_headers(seller),
            )
            refused(answer, 422, "unknown_kind")
            assert answer.json()["part"] == "kind" and "tracking_record" in answer.json()["kinds"]


async def test_a_repeated_kind_part_is_400_malformed_multipart(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    async with Nothing(evidence, dispute):
        for kinds in (["tracking_record", "tracking_record"], ["tracking_record", "invoice"]):
            answer = await evidence.client.post(
                url(dispute),
                data={"kind": kinds, "meta": json.dumps(TRACKING_FIELDS)},
                files={"file": ("waybill.png", png(), "image/png")},
                headers=evidence.seller_headers(seller),
            )
            refused(answer, 400, "malformed_multipart")
            assert "kind" in answer.json()["detail"]


async def test_any_other_unknown_part_is_still_400_malformed_multipart(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    async with Nothing(evidence, dispute):
        answer = await evidence.client.post(
            url(dispute),
            data={"kind": "tracking_record", "meta": json.dumps(TRACKING_FIELDS), "carrier": "CJ"},
            files={"file": ("waybill.png", png(), "image/png")},
            headers=evidence.seller_headers(seller),
        )
        refused(answer, 400, "malformed_multipart")
        assert answer.json()["field"] == "carrier"
