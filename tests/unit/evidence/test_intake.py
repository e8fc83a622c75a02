"""read_evidence_upload behind a throwaway FastAPI route, called with real multipart bodies.

httpx builds the ordinary bodies (files=, data=); hostile ones are built by hand. Every
refusal must answer its problem code and leave the staging directory empty.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI, Request

from services.evidence.errors import INTAKE_PROBLEMS
from services.evidence.intake import EvidenceUpload, read_evidence_upload
from services.evidence.media import sanitize_filename, sniff_media_type
from shared.web.problems import install_problem_handlers

MB = 1024 * 1024
MAX_BYTES = 20 * MB
MAX_META = 1024


def _png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 100 + b"\xff\xd9"
PNG_BYTES = _png()
WEBP_BYTES = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + b"\x00" * 22


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", b"\x00" * (10 * MB))  # 10 MB of zeros → a few KB
    return buffer.getvalue()


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    path = tmp_path / "staging"
    path.mkdir()
    return path


@pytest.fixture
def client(staging: Path) -> httpx.AsyncClient:
    app = FastAPI()
    install_problem_handlers(app, INTAKE_PROBLEMS)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        result: EvidenceUpload = await read_evidence_upload(
            request, staging_dir=staging, max_bytes=MAX_BYTES, max_meta_bytes=MAX_META
        )
        staged = result.file
        return {
            "meta": result.meta_text,
            "file": None
            if staged is None
            else {
                "path": str(staged.path),
                "sha256": staged.sha256,
                "size": staged.size,
                "media_type": staged.media_type,
                "filename": staged.filename,
                "declared_type": staged.declared_type,
            },
        }

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _staged(staging: Path) -> list[str]:
    return sorted(p.name for p in staging.iterdir())


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


# ---- accepted uploads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "declared", "expected"),
    [
        ("invoice.pdf", PDF_BYTES, "application/pdf", "application/pdf"),
        ("photo.JPG", JPEG_BYTES, "image/jpeg", "image/jpeg"),
        ("photo.png", PNG_BYTES, "image/png", "image/png"),
        ("photo.webp", WEBP_BYTES, "image/webp", "image/webp"),
        ("scan", PNG_BYTES, "application/octet-stream", "image/png"),  # no extension, neutral type: fine
        ("chat.txt", "배송완료 2024-05-12 14:22 KST\n已签收\n".encode(), "text/plain", "text/plain"),
        ("orders.csv", b"order,carrier\n1,CJ\n", "text/csv", "text/csv"),
        ("orders.csv", b"order,carrier\n1,CJ\n", "application/octet-stream", "text/csv"),
        ("log.json", b'{"messages": []}', "application/json", "application/json"),
    ],
)
async def test_accepted_files_are_staged_with_sha256_size_and_sniffed_type(
    client: httpx.AsyncClient, staging: Path, name: str, content: bytes, declared: str, expected: str
) -> None:
    meta = json.dumps({"kind": "delivery_proof"})
    response = await client.post("/upload", files={"file": (name, content, declared)}, data={"meta": meta})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"] == meta
    staged = body["file"]
    assert staged["sha256"] == hashlib.sha256(content).hexdigest()
    assert staged["size"] == len(content)
    assert staged["media_type"] == expected
    assert staged["filename"] == name
    assert Path(staged["path"]).parent == staging
    assert await anyio.Path(staged["path"]).read_bytes() == content


async def test_file_without_meta(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", files={"file": ("a.pdf", PDF_BYTES, "application/pdf")})
    assert response.status_code == 200
    assert response.json()["meta"] is None
    assert response.json()["file"]["media_type"] == "application/pdf"


async def test_meta_alone_as_a_json_body(client: httpx.AsyncClient, staging: Path) -> None:
    meta = {"kind": "tracking", "carrier": "CJ대한통운", "tracking_number": "123456789012"}
    response = await client.post("/upload", json=meta)

    assert response.status_code == 200
    assert json.loads(response.json()["meta"]) == meta
    assert response.json()["file"] is None
    assert _staged(staging) == []


async def test_meta_alone_as_a_multipart_field(client: httpx.AsyncClient) -> None:
    # httpx sends data= alone urlencoded, so the multipart body is built by hand.
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\n\r\n'
        '{"kind": "statement"}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    response = await client.post(
        "/upload", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 200
    assert response.json() == {"meta": '{"kind": "statement"}', "file": None}


async def test_meta_that_is_not_json_is_returned_as_text(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/upload", files={"file": ("a.pdf", PDF_BYTES, "application/pdf")}, data={"meta": "not json {"}
    )
    assert response.status_code == 200
    assert response.json()["meta"] == "not json {"


# ---- refused content ---------------------------------------------------------------------


async def test_png_named_pdf_is_a_mismatch(client: httpx.AsyncClient, staging: Path) -> None:
    response = await client.post("/upload", files={"file": ("receipt.pdf", PNG_BYTES, "application/octet-stream")})
    _assert_problem(response, 415, "media_type_mismatch")
    assert _staged(staging) == []


async def test_png_declared_as_pdf_is_a_mismatch(client: httpx.AsyncClient, staging: Path) -> None:
    response = await client.post("/upload", files={"file": ("receipt", PNG_BYTES, "application/pdf")})
    _assert_problem(response, 415, "media_type_mismatch")
    assert _staged(staging) == []


async def test_text_declared_as_json_that_does_not_parse_is_a_mismatch(
    client: httpx.AsyncClient, staging: Path
) -> None:
    response = await client.post("/upload", files={"file": ("log.json", b"{not json", "application/json")})
    _assert_problem(response, 415, "media_type_mismatch")
    assert _staged(staging) == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("evidence.zip", _zip_bomb()),
        ("evidence.pdf.zip", b"PK\x03\x04" + b"\x00" * 64),
        ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64),
        ("log.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 64),
        ("photo.heic", b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64),
        ("notes.txt", b"\xc3\x28 invalid utf-8"),
        ("notes.txt", b"text with a NUL \x00 inside"),
    ],
)
async def test_unsupported_types_are_refused(
    client: httpx.AsyncClient, staging: Path, name: str, content: bytes
) -> None:
    response = await client.post("/upload", files={"file": (name, content, "application/octet-stream")})
    _assert_problem(response, 415, "unsupported_media_type")
    assert _staged(staging) == []


async def test_text_with_a_nul_after_the_head_is_refused(client: httpx.AsyncClient, staging: Path) -> None:
    content = b"plain text line\n" * 100_000 + b"\x00binary tail"
    response = await client.post("/upload", files={"file": ("notes.txt", content, "text/plain")})
    _assert_problem(response, 415, "unsupported_media_type")
    assert _staged(staging) == []


async def test_empty_file_is_refused(client: httpx.AsyncClient, staging: Path) -> None:
    response = await client.post("/upload", files={"file": ("a.pdf", b"", "application/pdf")})
    _assert_problem(response, 422, "empty_file")
    assert _staged(staging) == []


# ---- limits -------------------------------------------------------------------------------


async def _chunks(content_chunk: bytes, count: int, prefix: bytes, suffix: bytes) -> AsyncIterator[bytes]:
    yield prefix
    for _ in range(count):
        yield content_chunk
    yield suffix


def _multipart_parts(boundary: str, filename: str, content_type: str) -> tuple[bytes, bytes]:
    prefix = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    suffix = f"\r\n--{boundary}--\r\n".encode()
    return prefix, suffix


async def test_25_mb_upload_over_a_20_mb_limit_is_413_and_nothing_is_staged(
    client: httpx.AsyncClient, staging: Path
) -> None:
    content = b"%PDF-1.7\n" + b"x" * (25 * MB)
    response = await client.post("/upload", files={"file": ("big.pdf", content, "application/pdf")})
    _assert_problem(response, 413, "payload_too_large")
    assert _staged(staging) == []


async def test_chunked_25_mb_upload_without_content_length_stops_at_the_limit(
    client: httpx.AsyncClient, staging: Path
) -> None:
    boundary = "xYz123"
    prefix, suffix = _multipart_parts(boundary, "big.pdf", "application/pdf")
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        async for piece in _chunks(b"%PDF-" + b"x" * (64 * 1024 - 5), 25 * 16, prefix, suffix):
            sent += len(piece)
            yield piece

    response = await client.post(
        "/upload", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    _assert_problem(response, 413, "payload_too_large")
    assert _staged(staging) == []
    assert sent < 21 * MB  # reading stopped at the limit, not at the end of the body


async def test_meta_over_its_limit_is_413(client: httpx.AsyncClient, staging: Path) -> None:
    big_meta = json.dumps({"note": "x" * (MAX_META + 1)})
    response = await client.post(
        "/upload", files={"file": ("a.pdf", PDF_BYTES, "application/pdf")}, data={"meta": big_meta}
    )
    _assert_problem(response, 413, "meta_too_large")
    assert _staged(staging) == []


async def test_json_meta_body_over_its_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", json={"note": "x" * (MAX_META + 1)})
    _assert_problem(response, 413, "meta_too_large")


async def test_a_15_mb_upload_in_small_chunks_is_never_held_in_memory(client: httpx.AsyncClient, staging: Path) -> None:
    boundary = "memory-boundary"
    prefix, suffix = _multipart_parts(boundary, "scan.pdf", "application/pdf")
    piece = (b"%PDF-" + bytes(range(256)) * 64)[: 16 * 1024]
    assert len(piece) == 16 * 1024
    count = 15 * 64  # 15 MB
    expected = hashlib.sha256(piece * count).hexdigest()

    tracemalloc.start()
    try:
        response = await client.post(
            "/upload",
            content=_chunks(piece, count, prefix, suffix),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 200, response.text
    assert response.json()["file"]["sha256"] == expected
    assert response.json()["file"]["size"] == 15 * MB
    print(f"intake: peak traced memory {peak} bytes while streaming 15 MB")
    assert peak < 2 * MB, f"peak {peak} bytes while streaming 15 MB"


# ---- hostile multipart ---------------------------------------------------------------------


def _post_raw(client: httpx.AsyncClient, body: bytes, content_type: str) -> Any:
    return client.post("/upload", content=body, headers={"content-type": content_type})


async def test_truncated_multipart_is_400_and_nothing_is_staged(client: httpx.AsyncClient, staging: Path) -> None:
    prefix, _ = _multipart_parts("cut", "a.pdf", "application/pdf")
    body = prefix + PDF_BYTES * 1000  # no closing boundary
    response = await _post_raw(client, body, "multipart/form-data; boundary=cut")
    _assert_problem(response, 400, "malformed_multipart")
    assert _staged(staging) == []


async def test_body_cut_inside_the_headers_is_400(client: httpx.AsyncClient, staging: Path) -> None:
    body = b'--cut\r\nContent-Disposition: form-data; name="fi'
    response = await _post_raw(client, body, "multipart/form-data; boundary=cut")
    _assert_problem(response, 400, "malformed_multipart")
    assert _staged(staging) == []


async def test_a_boundary_over_70_chars_is_400(client: httpx.AsyncClient, staging: Path) -> None:
    boundary = "b" * 71
    prefix, suffix = _multipart_parts(boundary, "a.pdf", "application/pdf")
    response = await _post_raw(client, prefix + PDF_BYTES + suffix, f"multipart/form-data; boundary={boundary}")
    _assert_problem(response, 400, "malformed_multipart")
    assert _staged(staging) == []


async def test_missing_boundary_is_400(client: httpx.AsyncClient) -> None:
    response = await _post_raw(client, b"whatever", "multipart/form-data")
    _assert_problem(response, 400, "malformed_multipart")


async def test_megabytes_of_part_headers_are_400(client: httpx.AsyncClient, staging: Path) -> None:
    header = b"X-Padding: " + b"a" * (4 * MB) + b"\r\n"
    body = (
        b'--h\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        + header
        + b"\r\n"
        + PDF_BYTES
        + b"\r\n--h--\r\n"
    )
    response = await _post_raw(client, body, "multipart/form-data; boundary=h")
    _assert_problem(response, 400, "part_headers_too_large")
    assert _staged(staging) == []


async def test_too_many_header_lines_are_400(client: httpx.AsyncClient, staging: Path) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(40))
    body = b'--h\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n' + headers + b"\r\n" + PDF_BYTES
    response = await _post_raw(client, body + b"\r\n--h--\r\n", "multipart/form-data; boundary=h")
    _assert_problem(response, 400, "part_headers_too_large")
    assert _staged(staging) == []


async def test_many_small_headers_add_up_to_the_cap(client: httpx.AsyncClient, staging: Path) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 800) for i in range(25))  # ~20 KB in 26 lines
    body = b'--h\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n' + headers + b"\r\n" + PDF_BYTES
    response = await _post_raw(client, body + b"\r\n--h--\r\n", "multipart/form-data; boundary=h")
    _assert_problem(response, 400, "part_headers_too_large")
    assert _staged(staging) == []


async def test_two_files_are_400(client: httpx.AsyncClient, staging: Path) -> None:
    response = await client.post(
        "/upload",
        files=[("file", ("a.pdf", PDF_BYTES, "application/pdf")), ("file", ("b.png", PNG_BYTES, "image/png"))],
    )
    _assert_problem(response, 400, "malformed_multipart")
    assert _staged(staging) == []


async def test_unknown_field_is_400(client: httpx.AsyncClient, staging: Path) -> None:
    response = await client.post(
        "/upload", files={"file": ("a.pdf", PDF_BYTES, "application/pdf")}, data={"meta": "{}", "extra": "1"}
    )
    _assert_problem(response, 400, "malformed_multipart")
    assert _staged(staging) == []


async def test_not_multipart_is_400(client: httpx.AsyncClient) -> None:
    response = await _post_raw(client, b"hello", "text/plain")
    _assert_problem(response, 400, "malformed_multipart")
    response = await client.post("/upload", data={"meta": "{}"})  # urlencoded form
    _assert_problem(response, 400, "malformed_multipart")


async def test_empty_multipart_is_400(client: httpx.AsyncClient) -> None:
    response = await _post_raw(client, b"--e--\r\n", "multipart/form-data; boundary=e")
    _assert_problem(response, 400, "malformed_multipart")


async def test_garbage_before_the_first_boundary_is_400(client: httpx.AsyncClient, staging: Path) -> None:
    response = await _post_raw(client, b"garbage\r\n" * 10, "multipart/form-data; boundary=g")
    _assert_problem(response, 400, "malformed_multipart")
    assert _staged(staging) == []


async def test_meta_not_utf8_is_400(client: httpx.AsyncClient) -> None:
    body = b'--m\r\nContent-Disposition: form-data; name="meta"\r\n\r\n\xff\xfe\r\n--m--\r\n'
    response = await _post_raw(client, body, "multipart/form-data; boundary=m")
    _assert_problem(response, 400, "meta_not_utf8")


# ---- file names ----------------------------------------------------------------------------


async def test_hostile_file_names_are_sanitized(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", files={"file": ("../../etc/passwd", b"root:x:0:0\n", "text/plain")})
    assert response.status_code == 200, response.text
    assert response.json()["file"]["filename"] == "passwd"
    assert Path(response.json()["file"]["path"]).name != "passwd"  # the staged name is ours

    # httpx would percent-encode the control character; a hostile client sends it raw.
    body = (
        (
            '--n\r\nContent-Disposition: form-data; name="file"; filename="in\x07voice\u202egpj.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF_BYTES
        + b"\r\n--n--\r\n"
    )
    response = await _post_raw(client, body, "multipart/form-data; boundary=n")
    assert response.status_code == 200, response.text
    assert response.json()["file"]["filename"] == "invoicegpj.pdf"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\Users\\kim\\영수증.pdf", "영수증.pdf"),
        ("..", "upload.pdf"),
        ("", "upload.pdf"),
        (None, "upload.pdf"),
        ("   ", "upload.pdf"),
        ("a\x00b\x1fc\x7fd\x85e.pdf", "abcde.pdf"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("x\u2066y\u2069z.png", "xyz.png"),
        ("many   \t spaces\n.pdf", "many spaces .pdf"),
        ("e\u0301.pdf", "\u00e9.pdf"),  # NFC
        (".hidden", "hidden"),
    ],
)
def test_sanitize_filename(raw: str | None, expected: str) -> None:
    assert sanitize_filename(raw, media_type="application/pdf") == expected


def test_sanitize_filename_caps_length_and_keeps_the_extension() -> None:
    name = "가" * 300 + ".pdf"
    cleaned = sanitize_filename(name)
    assert len(cleaned) == 128
    assert cleaned.endswith(".pdf")
    assert sanitize_filename("", media_type=None) == "upload"
    assert sanitize_filename("/", media_type="image/png") == "upload.png"


# ---- sniffing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PDF_BYTES[:16], "application/pdf"),
        (JPEG_BYTES[:16], "image/jpeg"),
        (PNG_BYTES[:16], "image/png"),
        (WEBP_BYTES[:16], "image/webp"),
        ("배송완료".encode(), "text/plain"),
        ("배송완료".encode()[:-1], "text/plain"),  # a character cut at the end of the head
        (b"PK\x03\x04\x14\x00", None),
        (b"\x1f\x8b\x08\x00", None),
        (b"MZ\x90\x00", None),
        (b"GIF89a", "text/plain"),  # ASCII-only head: text here; a GIF body holds NULs (refused on read)
        (b"\xff\xfe", None),
        (b"", None),
    ],
)
def test_sniff_media_type(head: bytes, expected: str | None) -> None:
    assert sniff_media_type(head) == expected


async def test_an_epilogue_after_the_closing_boundary_is_not_read(client: httpx.AsyncClient) -> None:
    prefix, suffix = _multipart_parts("ep", "a.pdf", "application/pdf")
    response = await _post_raw(client, prefix + PDF_BYTES + suffix + b"junk" * 1000, "multipart/form-data; boundary=ep")
    assert response.status_code == 200, response.text
    assert response.json()["file"]["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()


async def test_a_body_that_breaks_off_midway_leaves_no_staged_file(client: httpx.AsyncClient, staging: Path) -> None:
    prefix, _ = _multipart_parts("gone", "a.pdf", "application/pdf")

    async def body() -> AsyncIterator[bytes]:
        yield prefix
        for _ in range(20):
            yield b"%PDF-" + b"x" * 65536
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await client.post("/upload", content=body(), headers={"content-type": "multipart/form-data; boundary=gone"})
    assert _staged(staging) == []
