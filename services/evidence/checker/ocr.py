"""Text in images by OCR: Tesseract through pytesseract, bounded in size and time.

A pure function of the image and the options (no settings, no clock): the upload's extraction
step calls it in a worker thread, a few at a time. Tesseract runs as a child process that
pytesseract kills when the time limit passes; a failure is raised as `OcrFailed` with a stable
reason, which extraction turns into an unreadable file.

How the image is prepared, and why (measured on the screenshots tests/screens.py draws):
- grayscale then autocontrast, and Tesseract's Sauvola thresholding (local, so text on grey,
  blue, green or yellow chat bubbles is kept): with the global default Otsu the lines inside
  KakaoTalk bubbles were lost;
- page segmentation 4 (one column of text of variable sizes): chat and tracking pages are a
  column of lines; the default (3, full layout analysis) dropped bubbles taken for pictures;
- images whose long side is under `min_side_px` are enlarged (a 960 px screenshot lost its
  small times at 1×, kept them all at 2.5×); above `max_side_px` they are shrunk to bound the
  time. Boxes are mapped back to the original image's pixels either way.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services.evidence.checker.model import OcrLine, OcrRead

if TYPE_CHECKING:
    from PIL import Image

# psm 4: a single column of text of variable sizes; thresholding_method 2: Sauvola (see above).
_CONFIG = "--psm 4 -c thresholding_method=2"
# No space between words when either side is Chinese or Japanese script (they write none).
_NO_SPACE = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_MAX_UPSCALE = 3.0
_LineKey = tuple[int, int, int, int]  # page, block, paragraph, line (Tesseract's numbering)


@dataclass(frozen=True)
class OcrOptions:
    """What one OCR run may do (from the service's settings, passed in)."""

    languages: str = "kor+chi_sim+eng"
    timeout_s: float = 10.0  # per image; Tesseract is killed after it
    max_side_px: int = 2400  # larger images are shrunk to this long side first
    min_side_px: int = 1200  # smaller ones are enlarged (at most 3×, at most to max_side_px)
    max_pdf_pages: int = 3  # image-only PDF pages read by OCR, the first ones


class OcrFailed(Exception):
    """Tesseract did not give a read: `reason` is `ocr_timeout` or `ocr_failed`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class _Word:
    text: str
    confidence: float
    left: int
    top: int
    right: int
    bottom: int


def read_image(image: Image.Image, options: OcrOptions, *, size: tuple[int, int] | None = None) -> OcrRead:
    """The text of one decoded image, with its lines' confidences and boxes in the pixels of the
    original, whose `size` is given when it was decoded smaller (a JPEG draft)."""
    prepared, scale = prepare(image, options, size=size)
    words, texts = _words(prepared, options)
    return _read(words, texts, scale, options.languages)


def prepare(
    image: Image.Image, options: OcrOptions, *, size: tuple[int, int] | None = None
) -> tuple[Image.Image, float]:
    """Grayscale, autocontrast, resized into the bounds; the scale from the original (of `size`,
    else the image's own) to the prepared image."""
    from PIL import Image, ImageOps

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(ground, rgba)  # transparent is white, as a viewer shows it
    gray = ImageOps.autocontrast(ImageOps.grayscale(image))
    width, height = size or gray.size
    long_side = max(width, height)
    scale = 1.0
    if long_side > options.max_side_px:
        scale = options.max_side_px / long_side
    elif 0 < long_side < options.min_side_px:
        scale = min(_MAX_UPSCALE, options.max_side_px / long_side)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target != gray.size:
        gray = gray.resize(target, Image.Resampling.LANCZOS)
    return gray, scale


def combine(reads: Sequence[OcrRead], languages: str) -> OcrRead:
    """Several images' reads (the pages of a PDF) as one: lines in order, confidence over all lines.

    The boxes stay in each page image's own pixels.
    """
    lines = tuple(line for r in reads for line in r.lines)
    confidence = sum(line.confidence for line in lines) / len(lines) if lines else 0.0
    return OcrRead(
        text="\n".join(r.text for r in reads if r.text),
        confidence=round(confidence, 1),
        lines=lines,
        languages=languages,
    )


def _words(image: Image.Image, options: OcrOptions) -> tuple[list[tuple[_LineKey, _Word]], list[str]]:
    """One Tesseract run writing both its TSV (words, confidences, boxes) and its plain text.

    The plain text is where the line's spacing comes from: the TSV cuts Korean words into
    syllables and loses which of them had a space between.
    """
    from pytesseract import pytesseract  # type: ignore[import-untyped]  # no stubs, no py.typed

    # Tesseract's OpenMP would start a thread per core in each of our (already parallel) runs;
    # pytesseract passes os.environ to the child. An operator's own value is kept.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    with tempfile.TemporaryDirectory(prefix="dd-ocr-") as tmp:
        source, base = os.path.join(tmp, "in.png"), os.path.join(tmp, "out")
        image.save(source, format="PNG", compress_level=1)  # read once, at once: speed over size
        try:
            pytesseract.run_tesseract(
                source,
                base,
                extension="txt",
                lang=options.languages,
                config=f"{_CONFIG} -c tessedit_create_tsv=1",
                timeout=options.timeout_s,
            )
            tsv = Path(base + ".tsv").read_text(encoding="utf-8", errors="replace")
            txt = Path(base + ".txt").read_text(encoding="utf-8", errors="replace")
        except RuntimeError as exc:  # pytesseract's "Tesseract process timeout" (it killed the process)
            if "timeout" in str(exc).lower():
                raise OcrFailed("ocr_timeout") from exc
            raise OcrFailed("ocr_failed", type(exc).__name__) from exc
        except Exception as exc:  # noqa: BLE001 - not installed, crashed, no language data, no output
            raise OcrFailed("ocr_failed", type(exc).__name__) from exc
    # Tesseract pads columns with runs of spaces; one space is the text's own spacing.
    return _tsv_words(tsv), [" ".join(line.split()) for line in txt.replace("\f", "\n").splitlines() if line.strip()]


def _tsv_words(tsv: str) -> list[tuple[_LineKey, _Word]]:
    """The words of Tesseract's TSV (level 5 rows with text) with their line's key."""
    out = []
    for row in tsv.splitlines()[1:]:  # the first is the header
        cells = row.split("\t", 11)
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        try:
            page, block, par, line, _, left, top, width, height = (int(c) for c in cells[1:10])
            conf = float(cells[10])
        except ValueError:
            continue
        if conf < 0:
            continue
        out.append(((page, block, par, line), _Word(cells[11].strip(), conf, left, top, left + width, top + height)))
    return out


def _read(words: list[tuple[_LineKey, _Word]], texts: list[str], scale: float, languages: str) -> OcrRead:
    grouped: dict[_LineKey, list[_Word]] = {}
    for key, word in words:  # in Tesseract's reading order; a dict keeps it
        grouped.setdefault(key, []).append(word)
    # The plain text has the same lines in the same order; should it not (never seen), the words
    # are joined by the script rule alone.
    spaced: list[str | None] = list(texts) if len(texts) == len(grouped) else [None] * len(grouped)
    lines = tuple(_line(ws, scale, text) for ws, text in zip(grouped.values(), spaced, strict=True))
    all_words = [w for _, w in words]
    confidence = sum(w.confidence for w in all_words) / len(all_words) if all_words else 0.0
    return OcrRead(
        text="\n".join(line.text for line in lines),
        confidence=round(confidence, 1),
        lines=lines,
        languages=languages,
    )


def _line(words: list[_Word], scale: float, text: str | None) -> OcrLine:
    if text is None:
        text = words[0].text
        for prev, word in zip(words, words[1:], strict=False):
            joint = "" if _NO_SPACE.match(prev.text[-1]) or _NO_SPACE.match(word.text[0]) else " "
            text += joint + word.text
    left, top = min(w.left for w in words), min(w.top for w in words)
    right, bottom = max(w.right for w in words), max(w.bottom for w in words)
    box = (
        round(left / scale),
        round(top / scale),
        round((right - left) / scale),
        round((bottom - top) / scale),
    )
    return OcrLine(text=text, confidence=round(sum(w.confidence for w in words) / len(words), 1), box=box)
