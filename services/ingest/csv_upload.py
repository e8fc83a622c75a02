"""The CSV import's body, in either form real clients send it, as one stream of CSV bytes.

- a raw body: `text/csv` (also `application/csv`, `text/plain`, or no Content-Type at all, as
  before), the charset from `; charset=...`;
- `multipart/form-data` with exactly one `file` part (`curl -F file=@disputes.csv`, a browser
  form, `httpx.post(files={"file": ...})`), the charset from the part's own Content-Type.

`?charset=` wins over both. The multipart body is parsed as it streams (the shared reader,
`shared.web.multipart`): the `file` part's bytes go on to the importer chunk by chunk and the
upload is never held whole in memory. The file is held to the same limit as a raw body
(`DD_INGEST_IMPORT_MAX_BODY_BYTES`). What follows the file part is still read and checked to the
closing boundary, so a second file or another part refuses the whole upload; the import runs in
the request's one transaction, so a refusal at any point stores nothing.

Refusals (errors.py; the multipart reader's own two from shared/web/multipart.py): 415
`unsupported_content_type` (neither form; the detail says what to send), 400 `malformed_multipart`
(no usable boundary, a part with no name or not form-data, a body cut short or not multipart at
all), 400 `part_headers_too_large` (a part's headers over 8 KB or 16 lines), 422
`csv_file_missing` (no `file` part), 422 `too_many_files` (a second `file` part), 422
`unexpected_part` (any other part, named in the detail and in `part`), 413 `payload_too_large`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from services.ingest.errors import (
    CsvFileMissing,
    PayloadTooLarge,
    TooManyFiles,
    UnexpectedPart,
    UnsupportedContentType,
)
from shared.web.multipart import MultipartReader, Part

__all__ = ["CsvUpload", "read_csv_upload"]

RAW_TYPES = frozenset({b"", b"text/csv", b"application/csv", b"text/plain"})
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
    reader = MultipartReader(
        request.stream(),
        options.get(b"boundary", b""),
        max_header_bytes=MAX_PART_HEADER_BYTES,
        max_headers=MAX_PART_HEADERS,
    )
    _refuse_declared_length(request, limit + _MULTIPART_OVERHEAD)
    parts = reader.__aiter__()
    file = await anext(parts, None)  # up to the file part's headers: its charset is known then
    if file is None:
        raise CsvFileMissing("The upload has no 'file' part: send the CSV as -F file=@disputes.csv.")
    _admit(file, seen_file=False)
    declared = charset or _charset(parse_options_header(file.content_type)[1])
    return CsvUpload(_file_bytes(file, parts, limit), declared)


async def _file_bytes(file: Part, parts: AsyncIterator[Part], limit: int) -> AsyncIterator[bytes]:
    """The file part's bytes as they arrive; then the rest of the body, to the closing boundary."""
    size = 0
    async for data in file:
        size += len(data)
        if size > limit:
            raise PayloadTooLarge(f"The upload is over {limit} bytes.", limit=limit)
        yield data
    async for part in parts:
        _admit(part, seen_file=True)


def _admit(part: Part, *, seen_file: bool) -> None:
    """The upload is one `file` part and nothing else."""
    if part.name != "file":
        raise UnexpectedPart(
            f"Unexpected part {part.name[:64]!r}: the upload is one 'file' part and nothing else.", part=part.name[:64]
        )
    if seen_file:
        raise TooManyFiles("One CSV file per upload: the upload has a second 'file' part.")


def _charset(options: dict[bytes, bytes]) -> str | None:
    value = options.get(b"charset", b"").decode("latin-1").strip()
    return value[:40] or None


def _refuse_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The upload is over {limit} bytes.", limit=limit)
