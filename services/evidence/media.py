"""What an uploaded file is, and what it may be called: sniffing, declared types, safe names.

The type is what the bytes are, not what the caller says: magic bytes for PDF, JPEG, PNG and
WebP; valid UTF-8 without NUL or other control bytes for text. A declared type or file
extension that names a different type is refused (`media_type_mismatch`), so a PNG named
`.pdf` never reaches the PDF extractor. Pure functions: `intake.py` calls them on the staged file.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import PurePosixPath

from services.evidence.errors import MediaTypeMismatch

MAX_FILENAME_CHARS = 128

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
TEXT = "text/plain"
CSV = "text/csv"
JSON = "application/json"

_TEXT_TYPES = frozenset({TEXT, CSV, JSON})

# What a declared Content-Type or an extension names. Types we refuse are listed too, so that a
# PDF named `.zip` is a mismatch rather than silently accepted.
_TYPE_ALIASES = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "application/x-pdf": PDF,
    "text/comma-separated-values": CSV,
    "application/csv": CSV,
    "text/json": JSON,
}
_NEUTRAL_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_EXTENSIONS = {
    ".pdf": PDF,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".jpe": JPEG,
    ".png": PNG,
    ".webp": WEBP,
    ".txt": TEXT,
    ".text": TEXT,
    ".log": TEXT,
    ".csv": CSV,
    ".json": JSON,
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".exe": "application/vnd.microsoft.portable-executable",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_EXTENSION_FOR = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png", WEBP: ".webp", TEXT: ".txt", CSV: ".csv", JSON: ".json"}

# Control bytes a text file may hold: TAB, LF, FF, CR. Anything else below 0x20 (NUL above all)
# means binary data, whatever decodes as UTF-8.
BAD_TEXT_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def sniff_media_type(head: bytes) -> str | None:
    """The type the first bytes of a file show, or None when it is none we accept.

    Binary types by magic number; anything else is text/plain when `head` is UTF-8 (a
    multi-byte character cut at the end of `head` is allowed) without control bytes. CSV and
    JSON are told from plain text by the declared type and name (see `read_evidence_upload`).
    """
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if not head or BAD_TEXT_BYTES.search(head):
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    return TEXT


_PATH_SEPARATORS = re.compile(r"[/\\]")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_WHITESPACE = re.compile(r"\s+")
_LAYOUT_CONTROLS = re.compile(r"[\t\n\v\f\r]")


def sanitize_filename(name: str | None, *, media_type: str | None = None) -> str:
    """A name safe to store and show: the last path segment only, NFC, no control or bidi
    characters, whitespace collapsed, at most 128 characters with the extension kept.

    An empty result becomes ``upload`` plus the extension of `media_type` (the sniffed type).
    """
    text = unicodedata.normalize("NFC", name or "")
    text = _PATH_SEPARATORS.split(text)[-1]
    text = _LAYOUT_CONTROLS.sub(" ", text)  # before controls go: a tab or newline still separates words
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI_CONTROLS)
    text = _WHITESPACE.sub(" ", text).strip(" .")  # no "..", no hidden or trailing-dot names
    if not text:
        return "upload" + _EXTENSION_FOR.get(media_type or "", "")
    if len(text) > MAX_FILENAME_CHARS:
        suffix = PurePosixPath(text).suffix
        if len(suffix) > 16:  # not an extension worth keeping
            suffix = ""
        text = text[: MAX_FILENAME_CHARS - len(suffix)].rstrip(" .") + suffix
    return unicodedata.normalize("NFC", text)


def normalise_type(value: str | None) -> str:
    """`image/JPG; charset=x` → ``image/jpeg``; empty when absent."""
    if not value:
        return ""
    media = value.split(";", 1)[0].strip().lower()
    return _TYPE_ALIASES.get(media, media)


def resolve_media_type(sniffed: str, declared: str, extension_type: str | None, *, json_parses: bool) -> str:
    """The stored type: the sniffed one, refined for text, refused when a claim contradicts it."""
    claims = {t for t in (declared, extension_type or "") if t not in _NEUTRAL_TYPES}
    if sniffed not in _TEXT_TYPES:
        if claims - {sniffed}:
            raise MediaTypeMismatch(
                "The declared type or file extension names another type than the content.", sniffed=sniffed
            )
        return sniffed
    # Text: the claims choose between plain text, CSV and JSON, and may not name anything else.
    if claims - _TEXT_TYPES:
        raise MediaTypeMismatch(
            "The declared type or file extension names another type than the content.", sniffed=TEXT
        )
    if JSON in claims and CSV in claims:
        raise MediaTypeMismatch("The declared type and file extension disagree (JSON or CSV).", sniffed=TEXT)
    if JSON in claims:
        if not json_parses:
            raise MediaTypeMismatch("Declared JSON, but the content is not valid JSON.", sniffed=TEXT)
        return JSON
    if CSV in claims:
        return CSV
    return TEXT


def extension_type(filename: str) -> str | None:
    return _EXTENSIONS.get(PurePosixPath(filename).suffix.lower())
