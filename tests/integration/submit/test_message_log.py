"""The message log in the package, through the submit route: each checked `message_log` item's
messages (its meta in the evidence listing) rendered to its own PDF beside the cover letter, listed by
it, hashed in the manifest, with each message's time in UTC and KST."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import zipfile

from pypdf import PdfReader

from services.submit.package import mismatched_files
from tests.integration.submit.conftest import StoredFile, Submit

CHAT = {
    "source": "coupang_messages",
    "messages": [
        {"sent_at": "2026-03-02T09:15:00+09:00", "sender": "seller", "text": "배송 완료되었습니다"},
        {"sent_at": "2026-03-01T15:30:00Z", "sender": "buyer", "text": "물건을 아직 못 받았어요"},
    ],
}
EXPORT = {  # a log with its own file (the export) and a send time with no zone
    "source": "kakaotalk",
    "messages": [{"sent_at": "2026-03-03 10:00", "sender": "cs", "text": "已联系承运商核实签收"}],
}


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


async def _package(submit: Submit, dispute: str, seller: str) -> tuple[dict[str, bytes], dict[str, dict]]:
    got = await submit.client.get(f"/v1/cases/{dispute}/package", headers=submit.seller_headers(seller))
    assert got.status_code == 200
    assert mismatched_files(io.BytesIO(got.content)) == []
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    manifest = {entry["name"]: entry for entry in json.loads(files["manifest.json"])["files"]}
    return files, manifest


async def test_each_message_log_is_rendered_to_its_own_pdf_listed_and_hashed(submit: Submit) -> None:
    # ids chosen so the meta-only chat sorts before the export: the PDFs follow evidence id order
    chat = StoredFile(uuid.UUID(int=1), "message_log", None, None, meta=CHAT)  # meta only: no file of its own
    export = StoredFile(uuid.UUID(int=2), "message_log", b"export 2026-03-03", "text/plain", meta=EXPORT)
    seller, dispute = await submit.new_case(files=2, extra=[chat, export])
    answer = await submit.submit(dispute, seller)
    assert answer.status_code == 201, answer.text
    files, manifest = await _package(submit, dispute, seller)
    names = list(files)
    assert names[0].endswith("_01_cover_letter.pdf") and names[-1] == "manifest.json"
    assert names[1] == f"{dispute}_02_message_log.pdf" and names[2] == f"{dispute}_03_message_log.pdf"
    assert len(names) == 7  # cover letter, 2 message-log PDFs, 2 files, the export, manifest
    for name, item in ((names[1], chat), (names[2], export)):
        entry = manifest[name]
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest() and entry["size"] == len(files[name])
        assert entry["kind"] == "message_log" and entry["media_type"] == "application/pdf"
        assert entry["provenance"]["source"] == "generated"
        assert entry["provenance"]["evidence_id"] == str(item.evidence_id)
    [packed_export] = [n for n, e in manifest.items() if e["sha256"] == export.sha256]
    assert packed_export.endswith("_message_log.txt")  # the export itself is packed too, unchanged

    chat_text = text_of(files[names[1]])
    assert "물건을 아직 못 받았어요" in chat_text and "배송 완료되었습니다" in chat_text
    assert "2026-03-01 15:30 UTC" in chat_text and "2026-03-02 00:30 KST" in chat_text
    assert "2026-03-02 00:15 UTC" in chat_text and "2026-03-02 09:15 KST" in chat_text
    assert chat_text.index("물건을 아직") < chat_text.index("배송 완료")  # oldest first
    export_text = text_of(files[names[2]])
    assert "已联系承运商核实签收" in export_text
    assert "2026-03-03 10:00" in export_text and "시간대 없음" in export_text  # as written, never converted
    assert re.search(r"\d\d:\d\d (UTC|KST)", export_text) is None

    letter = re.sub(r"\s+", "", text_of(files[names[0]]))
    assert f"{dispute}_02_message_log.pdf" in letter and f"{dispute}_03_message_log.pdf" in letter
    assert manifest[names[1]]["sha256"][:16] in letter


async def test_a_checked_message_log_deleted_since_is_not_ready_and_nothing_is_stored(submit: Submit) -> None:
    chat = StoredFile(uuid.uuid4(), "message_log", None, None, meta=CHAT)
    seller, dispute = await submit.new_case(files=2, extra=[chat])
    chat.deleted = True
    answer = await submit.submit(dispute, seller)
    assert answer.status_code == 409 and answer.json()["code"] == "evidence_not_ready"
    assert answer.json()["evidence_id"] == str(chat.evidence_id)
    got = await submit.client.get(f"/v1/cases/{dispute}/submission", headers=submit.seller_headers(seller))
    assert got.status_code == 404 and submit.portal_packages(dispute) == []
