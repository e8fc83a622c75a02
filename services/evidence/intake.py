"""Reading one evidence upload safely: streamed to a staging file, sniffed, named safely.

The body is never held in memory: `request.stream()` feeds python-multipart's streaming
`MultipartParser`; the `file` part goes chunk by chunk to a file in the staging directory
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from services.evidence.errors import (
    EmptyFile,
    MalformedMultipart,
    MetaNotUtf8,
    MetaTooLarge,
    PartHeadersTooLarge,
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

__all__ = ["EvidenceUpload", "StagedFile", "read_evidence_upload"]

MAX_PART_HEADER_BYTES = 16 * 1024  # one part's header block (and any one line of it)
MAX_PART_HEADERS = 32
MAX_BOUNDARY_LENGTH = 70  # RFC 2046 section 5.1.1
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
class _Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None


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


class _MultipartReader:
    """python-multipart callbacks → parts. Callbacks only record (they run inside `write`);
    file bytes are queued and written by the caller off the event loop after each chunk."""

    def __init__(self, *, max_bytes: int, max_meta_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_meta_bytes = max_meta_bytes
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.header_bytes = 0
        self.current: str | None = None  # "file" | "meta" | "kind" while inside that part's data
        self.file_part: _Part | None = None
        self.file_size = 0
        self.pending: list[bytes] = []  # file bytes of the last chunk, not yet on disk
        self.meta: bytearray | None = None
        self.kind: bytearray | None = None
        self.ended = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.header_bytes = 0
        self.header_field.clear()
        self.header_value.clear()

    def _count_header(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > MAX_PART_HEADER_BYTES:
            raise PartHeadersTooLarge("A part's headers are over 16 KB.", limit=MAX_PART_HEADER_BYTES)

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = bytes(self.header_field).decode("latin-1").strip().lower()
        value = bytes(self.header_value).decode("latin-1").strip()
        self.header_field.clear()
        self.header_value.clear()
        if name == "content-disposition":
            disposition, options = parse_options_header(value)
            if disposition != b"form-data":
                raise MalformedMultipart("A part is not form-data.")
            raw_name = options.get(b"name")
            self.part.name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            raw_filename = options.get(b"filename")
            if raw_filename is not None:
                self.part.filename = raw_filename.decode("utf-8", "replace")
        elif name == "content-type":
            self.part.content_type = value

    def on_headers_finished(self) -> None:
        if self.part.name == "file":
            if self.file_part is not None:
                raise MalformedMultipart("At most one file per upload.")
            self.file_part = self.part
            self.current = "file"
        elif self.part.name == "meta":
            if self.meta is not None:
                raise MalformedMultipart("At most one meta field per upload.")
            self.meta = bytearray()
            self.current = "meta"
        elif self.part.name == "kind":
            if self.kind is not None:
                raise MalformedMultipart("At most one kind field per upload.")
            self.kind = bytearray()
            self.current = "kind"
        elif self.part.name is None:
            raise MalformedMultipart("A part has no name.")
        else:
            raise MalformedMultipart(
                "Unknown field; only 'file', 'meta' and 'kind' are accepted.", field=self.part.name[:64]
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self.current == "file":
            self.file_size += n
            if self.file_size > self.max_bytes:
                raise PayloadTooLarge("The file is over the upload limit.", limit=self.max_bytes)
            self.pending.append(data[start:end])
        elif self.current == "meta":
            assert self.meta is not None
            if len(self.meta) + n > self.max_meta_bytes:
                raise MetaTooLarge("meta is over its limit.", limit=self.max_meta_bytes)
            self.meta += data[start:end]
        elif self.current == "kind":
            assert self.kind is not None
            if len(self.kind) + n > MAX_KIND_BYTES:
                kinds = [k.value for k in EvidenceKind]
                raise UnknownKind(f"The `kind` part must be one of {', '.join(kinds)}.", part="kind", kinds=kinds)
            self.kind += data[start:end]

    def on_part_end(self) -> None:
        self.current = None

    def on_end(self) -> None:
        self.ended = True


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

    Raises an `IntakeError` (see `INTAKE_PROBLEMS`) for anything it refuses; then no staged
    file is left. On success the `StagedFile`, if any, belongs to the caller.
    """
    media, options = parse_options_header(request.headers.get("content-type"))
    if media == b"application/json":
        return await _read_json_meta(request, max_meta_bytes)
    if media != b"multipart/form-data":
        raise MalformedMultipart("Send multipart/form-data (file, meta) or application/json (meta alone).")
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
        raise MalformedMultipart("The multipart boundary is missing or over 70 characters.")
    length = _content_length(request)
    if length is not None and length > max_bytes + max_meta_bytes + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge("The upload is over the limit.", limit=max_bytes)

    reader = _MultipartReader(max_bytes=max_bytes, max_meta_bytes=max_meta_bytes)
    try:
        parser = MultipartParser(
            boundary,
            reader.callbacks(),  # type: ignore[arg-type]
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_BYTES,
        )
    except FormParserError:
        raise MalformedMultipart("The multipart boundary is not usable.") from None
    staging = _Staging(path=Path(staging_dir) / f"{uuid.uuid4().hex}.upload")
    try:
        async for chunk in request.stream():
            if reader.ended:
                break  # an epilogue after the closing boundary means nothing (RFC 2046): not read
            try:
                parser.write(chunk)
            except FormParserError as exc:
                # The parser's own per-line and count limits ("Maximum header size/count
                # exceeded") are the same refusal as our whole-block cap.
                if str(exc).startswith("Maximum header"):
                    raise PartHeadersTooLarge(
                        "A part's headers are over 16 KB or too many.", limit=MAX_PART_HEADER_BYTES
                    ) from None
                raise MalformedMultipart("The multipart body is malformed.") from None
            if reader.pending:
                data = b"".join(reader.pending)
                reader.pending.clear()
                await anyio.to_thread.run_sync(staging.write, data)
        if not reader.ended:
            raise MalformedMultipart("The multipart body ends before its closing boundary.")
        await anyio.to_thread.run_sync(staging.finish)
        meta_text = _decode_meta(reader.meta) if reader.meta is not None else None
        # Not UTF-8 cannot be a kind; `replace` keeps it text, so `parse_meta` refuses it as unknown.
        kind_text = bytes(reader.kind).decode("utf-8", "replace") if reader.kind is not None else None
        if reader.file_part is None:
            if meta_text is None and kind_text is None:
                raise MalformedMultipart("Nothing uploaded: send a 'file', a 'meta' (or 'kind'), or both.")
            return EvidenceUpload(meta_text=meta_text, file=None, kind_text=kind_text)
        staged = await _finish_file(reader.file_part, staging)
        return EvidenceUpload(meta_text=meta_text, file=staged, kind_text=kind_text)
    except BaseException:
        with anyio.CancelScope(shield=True):  # a cancelled request still leaves no staged file
            await anyio.to_thread.run_sync(staging.discard)
        raise


async def _finish_file(part: _Part, staging: _Staging) -> StagedFile:
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
