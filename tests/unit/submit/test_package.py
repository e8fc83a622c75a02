"""The package ZIP: names, manifest with provenance, byte-for-byte determinism, streamed inputs, a stale set."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.submit import package
from services.submit.errors import EvidenceNotReady

E1 = uuid.UUID("00000000-0000-4000-8000-00000000000a")
E2 = uuid.UUID("00000000-0000-4000-8000-00000000000b")
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 400  # a 100 KB "JPEG"
LABEL = b"%PDF-1.4 label"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def chunked(data: bytes, size: int = 1000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def inputs(tmp_path: Path, *, photo=PHOTO):
    photo_path = tmp_path / "photo.bin"
    photo_path.write_bytes(photo)
    evidence = [
        package.PackageFile(
            "shipping_label",
            "application/pdf",
            sha(LABEL),
            chunked(LABEL, 4),
            package.Provenance(E2, "V1", AT, "upload", None),
        ),
        package.PackageFile(
            "product_photo", "image/jpeg", sha(PHOTO), photo_path, package.Provenance(E1, "V1", AT, "upload", AT)
        ),
    ]
    letters = [package.generated("cover_letter", "application/pdf", b"%PDF-1.4 letter")]
    return evidence, letters


async def build(tmp_path: Path, name: str, **kw):
    evidence, letters = inputs(tmp_path, **kw)
    return await package.build("D-1/2", evidence, tmp_path / name, letters=letters, report_id=E1)


async def test_files_are_named_by_dispute_number_and_kind_with_the_manifest_last(tmp_path):
    built = await build(tmp_path, "p.zip")
    with zipfile.ZipFile(built.path) as zf:
        assert zf.namelist() == [
            "D-1-2_01_cover_letter.pdf",
            "D-1-2_02_product_photo.jpg",
            "D-1-2_03_shipping_label.pdf",
            "manifest.json",
        ]
        assert zf.read("D-1-2_02_product_photo.jpg") == PHOTO and zf.read("D-1-2_03_shipping_label.pdf") == LABEL


async def test_the_manifest_lists_every_file_with_sha256_kind_and_provenance(tmp_path):
    built = await build(tmp_path, "p.zip")
    with zipfile.ZipFile(built.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == package.FORMAT and manifest["dispute_id"] == "D-1/2"
    assert manifest["report_id"] == str(E1)
    photo = manifest["files"][1]
    assert photo == {
        "name": "D-1-2_02_product_photo.jpg",
        "kind": "product_photo",
        "media_type": "image/jpeg",
        "sha256": sha(PHOTO),
        "size": len(PHOTO),
        "provenance": {
            "evidence_id": str(E1),
            "uploader": "V1",
            "uploaded_at": "2026-03-01T09:30:00Z",
            "source": "upload",
            "captured_at": "2026-03-01T09:30:00Z",
        },
    }
    assert [f["sha256"] for f in manifest["files"]] == [e.sha256 for e in built.entries]
    assert package.mismatched_files(built.path) == []


async def test_the_same_inputs_give_the_same_package_sha256_in_any_order(tmp_path):
    first = await build(tmp_path, "a.zip")
    evidence, letters = inputs(tmp_path)
    second = await package.build("D-1/2", evidence[::-1], tmp_path / "b.zip", letters=letters, report_id=E1)
    assert first.sha256 == second.sha256 == sha((tmp_path / "b.zip").read_bytes())
    assert first.size == second.size


async def test_another_input_gives_another_package(tmp_path):
    first = await build(tmp_path, "a.zip")
    evidence, letters = inputs(tmp_path)
    other = await package.build("D-1/2", evidence, tmp_path / "b.zip", letters=letters, report_id=E2)
    assert other.sha256 != first.sha256


async def test_a_file_that_changed_since_the_report_is_evidence_not_ready_and_leaves_no_zip(tmp_path):
    with pytest.raises(EvidenceNotReady) as refused:
        await build(tmp_path, "p.zip", photo=PHOTO[:-1] + b"!")
    assert refused.value.data["evidence_id"] == str(E1)
    assert not (tmp_path / "p.zip").exists()


async def test_a_tampered_package_names_the_bad_file(tmp_path):
    built = await build(tmp_path, "p.zip")
    rewritten = io.BytesIO()
    with zipfile.ZipFile(built.path) as src, zipfile.ZipFile(rewritten, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data + b"x" if name.endswith("shipping_label.pdf") else data)
    rewritten.seek(0)
    assert package.mismatched_files(rewritten) == ["D-1-2_03_shipping_label.pdf"]


def test_unknown_media_types_get_bin_and_long_sets_get_wider_numbers():
    assert package.file_name("D1", 7, "other", "application/x-thing") == "D1_07_other.bin"
    assert package.file_name("D1", 7, "invoice", "application/pdf", width=3) == "D1_007_invoice.pdf"
