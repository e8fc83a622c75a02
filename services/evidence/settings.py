"""Settings of the evidence service: `DD_EVIDENCE_*` first, then the common `DD_*`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from services.evidence.checker.ocr import OcrOptions
from shared.settings import BlobStoreSettings


class Settings(BlobStoreSettings):
    service: ClassVar[str] = "evidence"

    port: int = 8002

    # The local store's blobs (content-addressed, root/ab/cd/<sha256>); uploads are staged under it with
    # either store (DD_BLOB_STORE=local|s3, shared.settings.BlobStoreSettings, docs/blob-store.md).
    blob_root: Path = Path(".local/blobs/evidence")
    # With DD_BLOB_STORE=s3: keys `evidence/ab/cd/<sha256>` in the bucket.
    blob_s3_prefix: str = "evidence"
    # An uploaded file larger than this answers 413 (it is streamed to disk, never held in memory).
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # The `meta` part (or a JSON body of a structured item) larger than this answers 413.
    max_meta_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # A message log's `messages` beyond this answers 422 `too_many_messages` (the checker's own limit).
    max_messages: int = Field(default=10_000, ge=1)
    # The checker runs this long after the last upload or delete of a case (0: at once).
    check_debounce_ms: int = Field(default=1_500, ge=0)
    # ... but at most this long after the first change not yet checked (a seller who keeps uploading).
    check_max_wait_ms: int = Field(default=10_000, ge=0)
    # The check worker's longest sleep when nothing wakes it (other processes' uploads).
    check_poll_interval_ms: int = Field(default=1_000, ge=10)
    # After a failed run the case is tried again this much later.
    check_retry_ms: int = Field(default=30_000, ge=100)
    # Extractions (PDF text, image decode) running at once, each in a worker thread.
    extract_concurrency: int = Field(default=2, ge=1)

    # OCR of images (and image-only PDF pages) at upload, in that extraction step (checker/ocr.py).
    ocr_enabled: bool = True
    # Tesseract language data, '+'-joined (Debian tesseract-ocr-kor, -chi-sim; eng comes with it).
    ocr_languages: str = Field(default="kor+chi_sim+eng", pattern=r"^[a-z_]+(\+[a-z_]+)*$")
    # Per image: Tesseract is killed after this and the file is unreadable (`ocr_timeout`).
    ocr_timeout_s: float = Field(default=15.0, gt=0)
    # Images whose long side exceeds this are shrunk to it before OCR (bounds time and memory).
    ocr_max_side_px: int = Field(default=2400, ge=256)
    # Images whose long side is under this are enlarged (at most 3×): small text reads better.
    ocr_min_side_px: int = Field(default=1200, ge=0)
    # Image-only pages of a PDF read by OCR, the first ones.
    ocr_pdf_pages: int = Field(default=3, ge=0)

    def ocr_options(self) -> OcrOptions | None:
        """The extraction's OCR options, None when OCR is off."""
        if not self.ocr_enabled:
            return None
        return OcrOptions(
            languages=self.ocr_languages,
            timeout_s=self.ocr_timeout_s,
            max_side_px=self.ocr_max_side_px,
            min_side_px=self.ocr_min_side_px,
            max_pdf_pages=self.ocr_pdf_pages,
        )
