"""Extraction before the checker: facts read from a file's bytes. Never raises on bad input.

A file that cannot be opened comes back `readable=False` with a stable reason, which the
checker reports as `file_unreadable`. Limits bound the work any one file can cause.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from services.evidence.checker.model import ExtractedFacts, OcrRead
from services.evidence.checker.ocr import OcrFailed, OcrOptions, combine, read_image
from services.evidence.checker.ruleset import load_ruleset

if TYPE_CHECKING:
    from PIL import Image

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_EXIF_IFD, _DATETIME, _DATETIME_ORIGINAL, _OFFSET_TIME, _OFFSET_TIME_ORIGINAL = 0x8769, 306, 36867, 36880, 36881
TEXT_TYPES = {"text/plain", "text/csv", "application/json"}


def detect_language(text: str) -> str | None:
    """ko | zh | ja | en by counting scripts; None when there are no letters.

    A Hangul syllable or a Han character carries about a word, a Latin letter a fifth of one, so
    Korean text full of brand names (CJ, KST) stays Korean. Latin is reported as `en`: we only
    need "Korean or not" and the portal's other languages are Chinese and English.
    """
    sample = text[:20000]
    hangul, han = len(_HANGUL.findall(sample)), len(_HAN.findall(sample))
    kana, latin = len(_KANA.findall(sample)), len(_LATIN.findall(sample)) / 5
    if not (hangul or han or kana or latin):
        return None
    if kana and kana >= hangul:
        return "ja"
    scores = {"ko": hangul, "zh": han, "en": latin}
    return max(scores, key=lambda k: scores[k])


def unreadable(reason: str) -> ExtractedFacts:
    return ExtractedFacts(readable=False, unreadable_reason=reason)


def extract(data: bytes, media_type: str | None, *, ocr: OcrOptions | None = None) -> ExtractedFacts:
    """Facts of one file, by its sniffed media type; images (and image-only PDF pages) are read
    by OCR when `ocr` options are given."""
    if not data:
        return unreadable("empty")
    kind = (media_type or "").split(";")[0].strip().lower()
    if kind == "application/pdf":
        return extract_pdf(data, ocr=ocr)
    if kind.startswith("image/"):
        return extract_image(data, ocr=ocr)
    if kind in TEXT_TYPES or kind.startswith("text/"):
        return extract_text(data)
    return unreadable("unsupported_type")


def extract_text(data: bytes) -> ExtractedFacts:
    limit = load_ruleset().limits["max_text_chars"]
    # utf-8 first; Korean and Chinese spreadsheets are still exported as cp949 / gb18030.
    for encoding in ("utf-8-sig", "utf-16", "cp949", "gb18030"):
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            text = data.decode(encoding)[:limit]
        except UnicodeDecodeError:
            continue
        if encoding == "cp949" and (han := len(_HAN.findall(text))) and han >= len(_HANGUL.findall(text)):
            continue  # GB bytes often decode as cp949 too, into Hanja: Korean text is mostly Hangul
        return ExtractedFacts(text=text, language=detect_language(text))
    return unreadable("encoding")


def extract_pdf(data: bytes, *, ocr: OcrOptions | None = None) -> ExtractedFacts:
    from pypdf import PdfReader

    limits = load_ruleset().limits
    if not data.startswith(b"%PDF-"):
        return unreadable("corrupt")
    if b"%%EOF" not in data[-2048:]:
        return unreadable("truncated")  # pypdf would rebuild a cut file and show half a document as whole
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                return unreadable("encrypted")  # even an empty user password: reviewers and the packager must open it
            pages = len(reader.pages)
            if pages > limits["max_pdf_pages"]:
                return unreadable("too_many_pages")
            parts: list[str] = []
            scans: list[Image.Image] = []  # images of pages without a text layer, for OCR
            size = 0
            for page in reader.pages[: limits["max_pdf_text_pages"]]:
                part = page.extract_text() or ""
                parts.append(part)
                size += len(part)
                if ocr is not None and not part.strip() and len(scans) < ocr.max_pdf_pages:
                    scans.extend(_page_image(page, limits["max_image_pixels"]))
                if size >= limits["max_text_chars"]:
                    break
    except Exception:  # noqa: BLE001 - any parser failure (PdfReadError, LimitReachedError, KeyError...) is "corrupt"
        return unreadable("corrupt")
    text = "\n".join(parts)[: limits["max_text_chars"]]
    read: OcrRead | None = None
    if ocr is not None and scans:
        try:
            read = combine([read_image(scan, ocr) for scan in scans], ocr.languages)
        except OcrFailed as exc:
            return unreadable(exc.reason)
    return ExtractedFacts(text=text, language=detect_language(text), pages=pages, ocr=read)


def _page_image(page: Any, max_pixels: int) -> list[Image.Image]:
    """The largest embedded image of a page (a scan or a pasted screenshot), decoded; none when it
    has none, or it is too large or does not decode (the page's text, empty, is all we know)."""
    try:
        candidates = list(page.images)
    except Exception:  # noqa: BLE001 - an odd image XObject is no scan to read, not a corrupt PDF
        return []
    best: Image.Image | None = None
    for candidate in candidates:
        try:
            image = candidate.image
        except Exception:  # noqa: BLE001 - same
            continue
        if image is None or image.width * image.height > max_pixels:
            continue
        if best is None or image.width * image.height > best.width * best.height:
            best = image
    return [best] if best is not None else []


def extract_image(data: bytes, *, ocr: OcrOptions | None = None) -> ExtractedFacts:
    from PIL import Image, UnidentifiedImageError

    max_pixels = load_ruleset().limits["max_image_pixels"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                width, height = img.size
                if width * height > max_pixels:
                    return unreadable("too_large")
                exif_time = _exif_time(img)
                if ocr is None:
                    img.draft("RGB", (512, 512))  # JPEG decodes at a fraction of its size: proves it decodes, cheaply
                elif max(width, height) > ocr.max_side_px:  # ... or at no more than OCR will read
                    fit = ocr.max_side_px / max(width, height)
                    img.draft("RGB", (math.ceil(width * fit), math.ceil(height * fit)))
                img.load()
                decoded = img if ocr is not None else None  # loaded: usable after the file closes
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return unreadable("too_large")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return unreadable("corrupt")
    except Exception:  # noqa: BLE001 - a decoder bug on hostile bytes is still an unreadable file
        return unreadable("corrupt")
    read: OcrRead | None = None
    if decoded is not None and ocr is not None:
        try:
            read = read_image(decoded, ocr, size=(width, height))
        except OcrFailed as exc:
            return unreadable(exc.reason)
    return ExtractedFacts(width=width, height=height, exif_time=exif_time, ocr=read)


def _exif_time(img: Image.Image) -> datetime | None:
    """EXIF DateTimeOriginal with OffsetTimeOriginal; naive when the camera wrote no offset."""
    try:
        exif = img.getexif()
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # noqa: BLE001 - broken EXIF is no capture time, not an unreadable photo
        return None
    raw = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    offset = sub.get(_OFFSET_TIME_ORIGINAL) if sub.get(_DATETIME_ORIGINAL) else sub.get(_OFFSET_TIME)
    if not isinstance(raw, str):
        return None
    try:
        local = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    m = re.fullmatch(r"([+-])(\d{2}):(\d{2})", (offset or "").strip("\x00 ")) if isinstance(offset, str) else None
    if not m:
        return local
    minutes = (int(m[2]) * 60 + int(m[3])) * (1 if m[1] == "+" else -1)
    return local.replace(tzinfo=timezone(timedelta(minutes=minutes)))
