"""Reading one evidence upload safely: streamed to a staging file, sniffed, named safely.

The body is never held in memory: `request.stream()` feeds the shared streaming multipart reader
(`shared.web.multipart`); the `file` part goes chunk by chunk to a file in the staging directory
(same filesystem as the blob store, so storing it is a rename) with a running sha256 and
size. Every refusal deletes the staged file, so a rejected upload leaves nothing behind.

The type is what the bytes are (`media.py` sniffs it and names the file safely). Whether a PDF
or image really opens is the extractor's job (a `file_unreadable` finding), not this module's.

Stable codes (`INTAKE_PROBLEMS` in `errors.py`):

=====  ===========================  ===================================================
400    malformed_multipart          not multipart/form-data or JSON, a bad or missing
                                    boundary (over 70 chars), a body without its closing
                                    boundary, a part without a name, an unknown field,
                                    two `file`, two `meta` or two `kind` parts, nothing
                                    at all
400    part_headers_too_large       one part's header block over 16 KB, or over 32 lines
400    meta_not_utf8                `meta` is not UTF-8 text (whether it is JSON is the
                                    caller's question)
413    payload_too_large            the file over `max_bytes` (or Content-Length over
                                    what a file and meta may need)
413    meta_too_large               `meta` over `max_meta_bytes`
415    unsupported_media_type       none of PDF, JPEG, PNG, WebP, UTF-8 text/CSV/JSON
415    media_type_mismatch          declared type or extension names another type
422    empty_file                   a `file` part with no bytes
422    unknown_kind                 a `kind` part over 64 bytes (no kind is that long;
                                    whether a shorter one is a kind is `meta.py`'s call)
=====  ===========================  ===================================================

The `kind` part (SPEC section 5: `kind` is a field of `meta` or its own part beside it) is
returned as text; `meta.parse_meta` reconciles it with `meta`.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from services.evidence.errors import (
    EmptyFile,
    MetaNotUtf8,
    MetaTooLarge,
    PayloadTooLarge,
    UnknownKind,
    UnsupportedMediaType,
)
from services.evidence.media import (
    BAD_TEXT_BYTES,
    JSON,
    TEXT,
    extension_type,
    normalise_type,
    resolve_media_type,
    sanitize_filename,
    sniff_media_type,
)
from shared.contracts import EvidenceKind
from shared.errors import DomainError
from shared.web.multipart import MalformedMultipart, MultipartReader, Part

__all__ = ["EvidenceUpload", "StagedFile", "read_evidence_upload"]

MAX_PART_HEADER_BYTES = 16 * 1024  # one part's header block (and any one line of it)
MAX_PART_HEADERS = 32
MAX_KIND_BYTES = 64  # the `kind` part: the longest kind is 17 characters
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers beside the file and meta


# ---- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedFile:
    """An upload on disk in the staging directory; the caller stores (`BlobStore.put`) or deletes it."""

    path: Path
    sha256: str
    size: int
    media_type: str  # sniffed from the bytes, never the caller's word
    filename: str  # sanitised
    declared_type: str | None  # the part's Content-Type as sent (normalised), for provenance


@dataclass(frozen=True)
class EvidenceUpload:
    meta_text: str | None  # as sent (UTF-8); parsing it is the caller's job
    file: StagedFile | None
    kind_text: str | None = None  # the `kind` part as sent, if any (never from a JSON body)


# ---- streaming ---------------------------------------------------------------------------


@dataclass
class _Staging:
    """The `file` part on its way to disk; written only from a worker thread."""

    path: Path
    handle: BinaryIO | None = None
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    head: bytes = b""
    text_ok: bool = True
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")())

    def write(self, data: bytes) -> None:
        if self.handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.path.open("xb")
        self.digest.update(data)
        self.handle.write(data)
        self.size += len(data)
        if len(self.head) < 64:
            self.head += data[: 64 - len(self.head)]
        if self.text_ok:
            # Decoding only checks; the text itself is dropped at once.
            try:
                self.decoder.decode(data, final=False)
                self.text_ok = BAD_TEXT_BYTES.search(data) is None
            except UnicodeDecodeError:
                self.text_ok = False

    def finish(self) -> None:
        if self.text_ok:
            try:
                self.decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.text_ok = False
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        self.path.unlink(missing_ok=True)


def _decode_meta(raw: bytes | bytearray) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise MetaNotUtf8("meta must be UTF-8 text.") from None


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise MalformedMultipart("Content-Length is not a number.") from None
    return length if length >= 0 else None


async def _read_json_meta(request: Request, max_meta_bytes: int) -> EvidenceUpload:
    length = _content_length(request)
    if length is not None and length > max_meta_bytes:
        raise MetaTooLarge("meta is over its limit.", limit=max_meta_bytes)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > max_meta_bytes:
            raise MetaTooLarge("meta is over its limit.", limit=max_meta_bytes)
        body += chunk
    return EvidenceUpload(meta_text=_decode_meta(body), file=None)


def _json_parses(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            json.load(handle)
    except (ValueError, RecursionError):
        return False
    return True


async def read_evidence_upload(
    request: Request, *, staging_dir: Path, max_bytes: int, max_meta_bytes: int = 262144
) -> EvidenceUpload:
    """Read one upload: multipart `file` (at most one), `meta` and `kind`, or a JSON body as `meta` alone.

    Raises an `IntakeError` or the multipart reader's `MalformedMultipart`/`PartHeadersTooLarge`
    (all in `INTAKE_PROBLEMS`) for anything it refuses; then no staged
    file is left. On success the `StagedFile`, if any, belongs to the caller.
    """
    media, options = parse_options_header(request.headers.get("content-type"))
    if media == b"application/json":
        return await _read_json_meta(request, max_meta_bytes)
    if media != b"multipart/form-data":
        raise MalformedMultipart("Send multipart/form-data (file, meta) or application/json (meta alone).")
    reader = MultipartReader(
        request.stream(),
        options.get(b"boundary", b""),
        max_header_bytes=MAX_PART_HEADER_BYTES,
        max_headers=MAX_PART_HEADERS,
    )
    length = _content_length(request)
    if length is not None and length > max_bytes + max_meta_bytes + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge("The upload is over the limit.", limit=max_bytes)

    staging = _Staging(path=Path(staging_dir) / f"{uuid.uuid4().hex}.upload")
    try:
        file_part: Part | None = None
        meta: bytes | None = None
        kind: bytes | None = None
        async for part in reader:
            if part.name == "file":
                if file_part is not None:
                    raise MalformedMultipart("At most one file per upload.")
                file_part = part
                await _stage(part, staging, max_bytes)
            elif part.name == "meta":
                if meta is not None:
                    raise MalformedMultipart("At most one meta field per upload.")
                meta = await _read_small(
                    part, max_meta_bytes, lambda: MetaTooLarge("meta is over its limit.", limit=max_meta_bytes)
                )
            elif part.name == "kind":
                if kind is not None:
                    raise MalformedMultipart("At most one kind field per upload.")
                kind = await _read_small(part, MAX_KIND_BYTES, _kind_too_long)
            else:
                raise MalformedMultipart(
                    "Unknown field; only 'file', 'meta' and 'kind' are accepted.", field=part.name[:64]
                )
        await anyio.to_thread.run_sync(staging.finish)
        meta_text = _decode_meta(meta) if meta is not None else None
        # Not UTF-8 cannot be a kind; `replace` keeps it text, so `parse_meta` refuses it as unknown.
        kind_text = kind.decode("utf-8", "replace") if kind is not None else None
        if file_part is None:
            if meta_text is None and kind_text is None:
                raise MalformedMultipart("Nothing uploaded: send a 'file', a 'meta' (or 'kind'), or both.")
            return EvidenceUpload(meta_text=meta_text, file=None, kind_text=kind_text)
        staged = await _finish_file(file_part, staging)
        return EvidenceUpload(meta_text=meta_text, file=staged, kind_text=kind_text)
    except BaseException:
        with anyio.CancelScope(shield=True):  # a cancelled request still leaves no staged file
            await anyio.to_thread.run_sync(staging.discard)
        raise


async def _stage(part: Part, staging: _Staging, max_bytes: int) -> None:
    """The `file` part to the staging file, chunk by chunk, written off the event loop."""
    size = 0
    async for data in part:
        size += len(data)
        if size > max_bytes:
            raise PayloadTooLarge("The file is over the upload limit.", limit=max_bytes)
        await anyio.to_thread.run_sync(staging.write, data)


async def _read_small(part: Part, limit: int, too_large: Callable[[], DomainError]) -> bytes:
    """A field part kept in memory, refused (`too_large`) as soon as it passes `limit` bytes."""
    value = bytearray()
    async for data in part:
        if len(value) + len(data) > limit:
            raise too_large()
        value += data
    return bytes(value)


def _kind_too_long() -> UnknownKind:
    kinds = [k.value for k in EvidenceKind]
    return UnknownKind(f"The `kind` part must be one of {', '.join(kinds)}.", part="kind", kinds=kinds)


async def _finish_file(part: Part, staging: _Staging) -> StagedFile:
    size = staging.size
    if size == 0:
        raise EmptyFile("The file is empty.")
    sniffed = sniff_media_type(staging.head)
    if sniffed is None or (sniffed == TEXT and not staging.text_ok):
        raise UnsupportedMediaType("Accepted: PDF, JPEG, PNG, WebP, UTF-8 text, CSV or JSON.")
    declared = normalise_type(part.content_type)
    named = extension_type(sanitize_filename(part.filename))
    path = staging.path
    # Only a text file that claims to be JSON is parsed (in a thread; `json.load` holds that
    # one file in memory, at most `max_bytes`).
    claims_json = sniffed == TEXT and JSON in {declared, named}
    json_parses = claims_json and await anyio.to_thread.run_sync(_json_parses, path)
    media_type = resolve_media_type(sniffed, declared, named, json_parses=json_parses)
    return StagedFile(
        path=path,
        sha256=staging.digest.hexdigest(),
        size=size,
        media_type=media_type,
        filename=sanitize_filename(part.filename, media_type=media_type),
        declared_type=declared or None,
    )
