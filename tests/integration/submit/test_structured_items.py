"""Evidence typed in as meta (a tracking record, a proof of delivery, no file of their own) is what
the checker accepted, so the package carries it: each as a JSON record of its meta, hashed in the
manifest with the item's provenance. A ready report of such items only is submitted, not refused."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile

from services.submit.package import mismatched_files
from tests.integration.submit.conftest import StoredFile, Submit

TRACKING = {"carrier": "CJ", "tracking_number": "651234567890", "status": "delivered", "order_id": "3000987650001"}
DELIVERY = {"recipient_name": "김*수", "address": "서울특별시 강남구 역삼로 210, 7층 702호", "status": "delivered"}


async def test_a_set_of_meta_only_items_is_packed_as_json_records(submit: Submit) -> None:
    tracking = StoredFile(uuid.UUID(int=11), "tracking_record", None, None, meta=TRACKING)
    delivery = StoredFile(uuid.UUID(int=12), "proof_of_delivery", None, None, meta=DELIVERY)
    seller, dispute = await submit.new_case(files=0, extra=[tracking, delivery])
    answer = await submit.submit(dispute, seller)
    assert answer.status_code == 201, answer.text

    got = await submit.client.get(f"/v1/cases/{dispute}/package", headers=submit.seller_headers(seller))
    assert got.status_code == 200 and mismatched_files(io.BytesIO(got.content)) == []
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    manifest = {entry["name"]: entry for entry in json.loads(files["manifest.json"])["files"]}
    records = {
        e["provenance"]["evidence_id"]: (n, e) for n, e in manifest.items() if e["media_type"] == "application/json"
    }
    assert set(records) == {str(tracking.evidence_id), str(delivery.evidence_id)}
    for item in (tracking, delivery):
        name, entry = records[str(item.evidence_id)]
        assert name.endswith(f"_{item.kind}.json") and entry["kind"] == item.kind
        packed = json.loads(files[name])  # the meta as the evidence listing has it (with its kind)
        assert {key: packed[key] for key in item.meta} == item.meta
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
    assert "역삼로".encode() in files[records[str(delivery.evidence_id)][0]]  # UTF-8, not \\u escapes
