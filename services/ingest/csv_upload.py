"""The CSV import's body, in either form real clients send it, as one stream of CSV bytes.

- a raw body: `text/csv` (also `application/csv`, `text/plain`, or no Content-Type at all, as
  before), the charset from `; charset=...`;
- `multipart/form-data` with exactly one `file` part (`curl -F file=@disputes.csv`, a browser
  form, `httpx.post(files={"file": ...})`), the charset from the part's own Content-Type.

`?charset=` wins over both. The multipart body is parsed as it streams (python-multipart's
`MultipartParser`): the `file` part's bytes go on to the importer chunk by chunk and the upload is
never held whole in memory. The file is held to the same limit as a raw body
(`DD_INGEST_IMPORT_MAX_BODY_BYTES`). What follows the file part is still read and checked to the
closing boundary, so a second file or another part refuses the whole upload; the import runs in
the request's one transaction, so a refusal at any point stores nothing.

Refusals (errors.py): 415 `unsupported_content_type` (neither form; the detail says what to
send), 400 `malformed_multipart` (no usable boundary, a part with no name or not form-data, a
body cut short or not multipart at all), 422 `csv_file_missing` (no `file` part),
422 `too_many_files` (a second `file` part), 422 `unexpected_part` (any other part, named in
the detail and in `part`), 413 `payload_too_large`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from services.ingest.errors import (
    CsvFileMissing,
    MalformedMultipart,
    PayloadTooLarge,
    TooManyFiles,
    UnexpectedPart,
    UnsupportedContentType,
)

__all__ = ["CsvUpload", "read_csv_upload"]

RAW_TYPES = frozenset({b"", b"text/csv", b"application/csv", b"text/plain"})
MAX_BOUNDARY_LENGTH = 70  # RFC 2046 section 5.1.1
MAX_PART_HEADERS = 16
MAX_PART_HEADER_BYTES = 8 * 1024
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers beside the file


@dataclass(frozen=True)
class CsvUpload:
    chunks: AsyncIterator[bytes]  # the CSV's bytes as they arrive
    charset: str | None  # declared: ?charset=, else the (part's) Content-Type's charset


async def read_csv_upload(request: Request, *, charset: str | None, limit: int) -> CsvUpload:
    """The CSV of this request; for a multipart body, read up to the start of its `file` part."""
    media, options = parse_options_header(request.headers.get("content-type"))
    if media in RAW_TYPES:
        _refuse_declared_length(request, limit)
        return CsvUpload(request.stream(), charset or _charset(options))
    if media != b"multipart/form-data":
        raise UnsupportedContentType(
            "Send the CSV as the body (Content-Type: text/csv) or as the 'file' part of a multipart/form-data "
            "upload (curl -F file=@disputes.csv).",
            content_type=media.decode("latin-1")[:100],
        )
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
        raise MalformedMultipart("The multipart boundary is missing or over 70 characters.")
    _refuse_declared_length(request, limit + _MULTIPART_OVERHEAD)
    parts = _Parts(limit)
    try:
        parser = MultipartParser(
            boundary,
            parts.callbacks(),  # type: ignore[arg-type]
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_BYTES,
        )
    except FormParserError:
        raise MalformedMultipart("The multipart boundary is not usable.") from None
    stream = request.stream().__aiter__()
    async for chunk in stream:  # up to the file part's headers: its charset is known then
        _write(parser, parts, chunk)
        if parts.file is not None:
            break
    if parts.file is None:
        if not parts.ended:
            raise MalformedMultipart("The multipart body ends before its closing boundary.")
        raise CsvFileMissing("The upload has no 'file' part: send the CSV as -F file=@disputes.csv.")
    declared = charset or _charset(parse_options_header(parts.file.content_type)[1])
    return CsvUpload(_file_bytes(parser, parts, stream), declared)


async def _file_bytes(parser: MultipartParser, parts: _Parts, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The file part's bytes: those of the chunk that began it, then the rest, to the closing boundary."""
    if data := parts.take():
        yield data
    async for chunk in stream:
        if parts.ended:
            break  # an epilogue after the closing boundary means nothing (RFC 2046): not read
        _write(parser, parts, chunk)
        if data := parts.take():
            yield data
    if not parts.ended:
        raise MalformedMultipart("The multipart body ends before its closing boundary.")


def _write(parser: MultipartParser, parts: _Parts, chunk: bytes) -> None:
    if parts.ended:
        return
    try:
        parser.write(chunk)
    except FormParserError:
        raise MalformedMultipart("The multipart body is malformed.") from None


def _charset(options: dict[bytes, bytes]) -> str | None:
    value = options.get(b"charset", b"").decode("latin-1").strip()
    return value[:40] or None


def _refuse_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The upload is over {limit} bytes.", limit=limit)


@dataclass
class _Part:
    name: str | None = None
    content_type: str | None = None


class _Parts:
    """python-multipart callbacks: the one `file` part's bytes kept for the caller, every other part refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.file: _Part | None = None
        self.in_file = False
        self.size = 0
        self.pending: list[bytes] = []
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

    def take(self) -> bytes:
        data = b"".join(self.pending)
        self.pending.clear()
        return data

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.header_field.clear()
        self.header_value.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
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
        elif name == "content-type":
            self.part.content_type = value

    def on_headers_finished(self) -> None:
        name = self.part.name
        if name is None:
            raise MalformedMultipart("A part has no name.")
        if name != "file":
            raise UnexpectedPart(
                f"Unexpected part {name[:64]!r}: the upload is one 'file' part and nothing else.", part=name[:64]
            )
        if self.file is not None:
            raise TooManyFiles("One CSV file per upload: the upload has a second 'file' part.")
        self.file = self.part
        self.in_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            return
        self.size += end - start
        if self.size > self.limit:
            raise PayloadTooLarge(f"The upload is over {self.limit} bytes.", limit=self.limit)
        self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        self.in_file = False

    def on_end(self) -> None:
        self.ended = True
