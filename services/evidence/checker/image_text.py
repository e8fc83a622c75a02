"""What an image's OCR text shows, for the gap checker (issue 22). Pure: the OCR ran at upload.

`read_image(ocr, ruleset, height=...)` reads, line by line: visible dates and times (Korean,
Chinese and ISO forms; a time alone takes the date header above it), Coupang's markers, other
messengers' markers, order ids next to an order label, tracking statuses, a recipient and a full
address. OCR noise is tolerated where it is common and harmless: full-width forms (NFKC), spaces
inside numbers (`1 4:2 2`, `20 24.05.12`), `:` read as `.` or `;` or lost (`2024.05.12 1422`) in a
time, `O`/`l` among digits.
Every finding quotes the line it rests on (text, box, confidence), so the dashboard can mark it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from services.evidence.checker.addresses import full_address
from services.evidence.checker.model import OcrLine, OcrRead
from services.evidence.checker.ruleset import Ruleset
from services.evidence.checker.times import TimeMention, parse_times

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Seen:
    """Something read in the image: what it means, and the line it was read on."""

    value: str  # an order id (digits), a status id, a message source, a marker, a name
    text: str  # the line as OCR read it
    box: Box | None  # left, top, width, height in the image's pixels (None: OCR gave no boxes)
    confidence: float  # the line's (0..100)


@dataclass(frozen=True)
class Moment:
    """A date and a time of day visible in the image (a time alone took the date header above it)."""

    seen: Seen
    shown: str  # `2024-05-12 14:22`, or `05-12 14:22` when the year is not shown
    at: datetime | None  # None when the year is not shown; naive unless the image wrote a zone


@dataclass(frozen=True)
class ImageText:
    confidence: float  # the whole image's (0..100)
    lines: tuple[Seen, ...]  # every line; value = the line as an id key (digits and letters only)
    moments: tuple[Moment, ...]
    coupang: tuple[Seen, ...]  # value = the marker read
    messengers: tuple[Seen, ...]  # value = the message source (wechat, whatsapp, kakaotalk); only those that count
    order_ids: tuple[Seen, ...]  # value = the digits next to an order label
    statuses: tuple[Seen, ...]  # value = shipped | in_transit | out_for_delivery | delivered
    current_status: Seen | None  # the status beside a status label (배송상태 배송중)
    recipient: Seen | None
    address: Seen | None
    text: str  # the cleaned lines, joined

    @property
    def read(self) -> bool:
        """Whether OCR recognised any word at all."""
        return any(_WORD.search(line.text) for line in self.lines)

    def confident(self, minimum: float) -> bool:
        return self.read and self.confidence >= minimum

    def shows_order(self, order_id: str) -> Seen | None:
        """The line showing this order id (spaces, dashes and OCR's O/l for 0/1 forgiven)."""
        return self.shows_number(order_id)

    def shows_number(self, number: str) -> Seen | None:
        """The line showing this id or number (an order id, a waybill number), forgiving as `shows_order`."""
        key = id_key(number)
        if len(key) < 4:
            return None
        return next((line for line in self.lines if key in line.value), None)

    def other_order(self, order_id: str) -> Seen | None:
        """An order id next to an order label that is not this one (when this one is nowhere in the image)."""
        key = id_key(order_id)
        if not key or self.shows_order(order_id):
            return None
        return next((s for s in self.order_ids if key not in s.value), None)

    @property
    def latest(self) -> Moment | None:
        """The latest visible date-time (a screenshot was taken at or after it); the last shown without a year."""
        dated = [m for m in self.moments if m.at is not None]
        if dated:
            return max(dated, key=lambda m: m.at.replace(tzinfo=None) if m.at else datetime.min)
        return self.moments[-1] if self.moments else None

    def best_status(self, rank: list[str]) -> Seen | None:
        """The labelled current status, else the furthest the page lists (a delivered page lists its steps too)."""
        if self.current_status is not None:
            return self.current_status
        known = [s for s in self.statuses if s.value in rank]
        return max(known, key=lambda s: rank.index(s.value)) if known else None


# --------------------------------------------------------------------------- cleaning OCR noise

_LETTER_IN_NUMBER = re.compile(r"(?<=\d)[OoIl|]+(?=\d)|(?<=\d[:.])[Oo](?=\d)|(?<=\d)[Oo](?=[:.]\d)")
_DIGIT_OF = str.maketrans("OoIl|", "00111")
_COLON = re.compile(r"(?<=\d)\s*[;:]\s*(?=\d)")
_SPLIT_HOUR = re.compile(r"(?<![\d:])(\d) (\d)(?=:\d{2}(?!\d))")
_SPLIT_MINUTE = re.compile(r"(?<=\d:)(\d) (\d)(?!\d)")
_SPLIT_YEAR = re.compile(r"(?<!\d)(\d(?: ?\d){3})(?=\s*[.\-/년年]\s*\d)")
_DOT_TIME = re.compile(r"(?<![\d.:/\-])(\d{1,2})\.(\d{2})(?![\d.:/\-])")
# A time whose colon OCR lost (`1422`, `14 22`), only right after a full date or a meridiem, where a time stands.
_BARE_TIME = re.compile(
    r"((?:19|20)\d{2}\s*[.\-/]\s*\d{1,2}\s*[.\-/]\s*\d{1,2}\.?\s+|(?:오전|오후|上午|下午)\s*)(\d{1,2})\s?(\d{2})(?![\d:])"
)
_MERIDIEM_END = re.compile(r"(?:오전|오후|上午|下午|晚上|早上|凌晨|中午|[ap]\.?m\.?)\s*$", re.IGNORECASE)
_DATE_END = re.compile(r"(?:\d{1,2}\s*[.\-/]\s*\d{1,2}\.?|[일日号])\s*$")
_MERIDIEM_ONLY = re.compile(r"^\s*(?:[ap]\.?m\.?)?\s*$", re.IGNORECASE)


def _dot_time(m: re.Match[str]) -> str:
    """`14.22` is `14:22` after a meridiem or a date, or alone on its line (a chat bubble's time)."""
    line, hour, minute = m.string, int(m[1]), int(m[2])
    before, after = line[: m.start()], line[m.end() :]
    alone = not before.strip(" ()[]") and _MERIDIEM_ONLY.match(after)
    if hour <= 23 and minute <= 59 and (_MERIDIEM_END.search(before) or _DATE_END.search(before) or alone):
        return f"{m[1]}:{m[2]}"
    return m.group()


def _bare_time(m: re.Match[str]) -> str:
    hour, minute = int(m[2]), int(m[3])
    return f"{m[1]}{m[2]}:{m[3]}" if hour <= 23 and minute <= 59 else m.group()


def _year(m: re.Match[str]) -> str:
    joined = m[1].replace(" ", "")
    return joined if joined[:2] in ("19", "20") else m[1]


def _hour(m: re.Match[str]) -> str:
    return m[1] + m[2] if int(m[1] + m[2]) <= 23 else m.group()


def clean(text: str) -> str:
    """A line of OCR text with the noise above undone (never a change that could invent a time)."""
    t = unicodedata.normalize("NFKC", text)
    t = _LETTER_IN_NUMBER.sub(lambda m: m.group().translate(_DIGIT_OF), t)
    t = _COLON.sub(":", t)
    t = _SPLIT_MINUTE.sub(r"\1\2", t)
    t = _SPLIT_HOUR.sub(_hour, t)
    t = _SPLIT_YEAR.sub(_year, t)
    t = _BARE_TIME.sub(_bare_time, t)
    return _DOT_TIME.sub(_dot_time, t)


_NOT_ID = re.compile(r"[^0-9A-Z]+")
_WORD = re.compile(r"\w")


def id_key(value: str) -> str:
    """An order id (or a whole line) as digits and letters only, upper case, OCR's O/l among digits as 0/1."""
    t = _LETTER_IN_NUMBER.sub(lambda m: m.group().translate(_DIGIT_OF), unicodedata.normalize("NFKC", value))
    return _NOT_ID.sub("", t.upper())


# --------------------------------------------------------------------------- ruleset word lists


def _pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Latin words on word boundaries, CJK ones with any spacing between characters (OCR splits them)."""
    parts = []
    for word in sorted({unicodedata.normalize("NFKC", w).casefold() for w in words}, key=len, reverse=True):
        pieces = [re.escape(p) if p.isascii() else r"\s*".join(map(re.escape, p)) for p in word.split()]
        body = r"\s*".join(pieces)
        parts.append(rf"(?<![a-z0-9]){body}(?![a-z0-9])" if word.isascii() else body)
    return re.compile("|".join(parts) or r"(?!)")


@dataclass(frozen=True)
class _Lists:
    coupang: re.Pattern[str]
    messengers: tuple[tuple[str, re.Pattern[str]], ...]
    order_label: re.Pattern[str]
    recipient_label: re.Pattern[str]
    status_label: re.Pattern[str]
    status: re.Pattern[str]
    status_of: dict[str, str]
    exclusions: re.Pattern[str]
    band: float
    max_lines: int


_LISTS: dict[str, _Lists] = {}
_SQUASH = re.compile(r"\s+")


def _lists(ruleset: Ruleset) -> _Lists:
    if (found := _LISTS.get(ruleset.version)) is not None:
        return found
    data = ruleset.image_text
    words = {_SQUASH.sub("", unicodedata.normalize("NFKC", w).casefold()): s for w, s in data["status_words"].items()}
    lists = _Lists(
        coupang=_pattern(data["coupang_markers"]),
        messengers=tuple((source, _pattern(ws)) for source, ws in data["messenger_markers"].items()),
        order_label=_pattern(data["order_labels"]),
        recipient_label=_pattern(data["recipient_labels"]),
        status_label=_pattern(data["status_labels"]),
        status=_pattern(data["status_words"]),
        status_of=words,
        exclusions=_pattern(data["status_exclusions"]),
        band=float(data["chrome_band"]),
        max_lines=int(ruleset.limits["ocr_max_lines"]),
    )
    _LISTS[ruleset.version] = lists
    return lists


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Line:
    raw: str
    text: str  # cleaned and case-folded
    box: Box | None
    confidence: float

    def seen(self, value: str) -> Seen:
        return Seen(value, self.raw, self.box, self.confidence)


def _lines(ocr: OcrRead, max_lines: int) -> list[_Line]:
    given: list[OcrLine] = list(ocr.lines[:max_lines]) or [
        OcrLine(t, ocr.confidence, (0, 0, 0, 0)) for t in ocr.text[:200_000].splitlines()[:max_lines]
    ]
    boxed = bool(ocr.lines)
    out = [
        _Line(line.text[:500], clean(line.text[:500]).casefold(), line.box if boxed else None, line.confidence)
        for line in given
        if line.text.strip()
    ]
    if boxed:  # reading order: a date header before the times under it
        out.sort(key=lambda line: (line.box[1], line.box[0]) if line.box else (0, 0))
    return out


_WEEKDAY = re.compile(
    r"[월화수목금토일]요일|\([월화수목금토일]\)|星期[一二三四五六日天]|周[一二三四五六日]"
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(?:mon|tue|wed|thu|fri|sat|sun)\b\.?",
    re.IGNORECASE,
)


def _header(text: str, t: TimeMention) -> bool:
    """A date that is (nearly) the whole line, with at most a weekday beside it: a chat's date header,
    not a date written inside a message (`상품은 5월 13일 배송완료 되었습니다`)."""
    rest = _WEEKDAY.sub("", text[: t.start] + text[t.end :])
    return len(re.sub(r"[\W_]+", "", rest)) <= 2


def _moments(lines: list[_Line]) -> list[Moment]:
    found: list[Moment] = []
    day: tuple[int | None, int, int] | None = None
    for line in lines:
        for t in parse_times(line.text, limit=20):
            if t.month is not None and t.day is not None and (t.hour is not None or _header(line.text, t)):
                day = (t.year, t.month, t.day)  # a date header, or a dated time: the times under it are of that day
            if t.hour is None:
                continue
            if t.month is not None and t.day is not None:
                year, month, dom = t.year, t.month, t.day
            elif day is not None:
                year, month, dom = day
            else:
                continue  # a time with no date anywhere above it (a status bar's clock)
            minute = t.minute or 0
            shown = f"{month:02d}-{dom:02d} {t.hour:02d}:{minute:02d}"
            at = None
            if year is not None:
                shown = f"{year:04d}-{shown}"
                tz = timezone(timedelta(minutes=t.offset_minutes)) if t.offset_minutes is not None else None
                at = datetime(year, month, dom, t.hour, minute, t.second, tzinfo=tz)
            found.append(Moment(line.seen(shown), shown, at))
    return found


def _beside(lines: list[_Line], n: int) -> _Line | None:
    """The line to the right of line n on the same row (a label's value), else the line under it."""
    line = lines[n]
    if line.box is not None:
        mid = line.box[1] + line.box[3] / 2
        row = [
            o
            for o in lines
            if o is not line and o.box is not None and o.box[0] > line.box[0] and o.box[1] <= mid <= o.box[1] + o.box[3]
        ]
        if row:
            return min(row, key=lambda o: o.box[0] if o.box else 0)
    return lines[n + 1] if n + 1 < len(lines) else None


_ID_VALUE = re.compile(r"\s*(?:[:#.]|no\.?)?\s*(\d(?:[ \-]?\d){5,24})")


def _order_ids(lines: list[_Line], label: re.Pattern[str]) -> list[Seen]:
    found = []
    for n, line in enumerate(lines):
        for m in label.finditer(line.text):
            value = _ID_VALUE.match(line.text, m.end())
            if value:
                found.append(line.seen(id_key(value[1])))
            elif not line.text[m.end() :].strip(" :#") and (value_line := _beside(lines, n)) is not None:
                beside = _ID_VALUE.match(value_line.text)  # the label on its own, the id beside or under it
                if beside:
                    found.append(value_line.seen(id_key(beside[1])))
    return found


def _recipient(lines: list[_Line], label: re.Pattern[str]) -> Seen | None:
    for n, line in enumerate(lines):
        m = label.search(line.text)
        if not m:
            continue
        rest = line.text[m.end() :].strip(" :|-")
        if _WORD.search(rest):
            return line.seen(rest)
        value = _beside(lines, n)
        if value is not None and len(value.text) <= 30 and _WORD.search(value.text):
            return value.seen(value.text.strip())
    return None


def _address(lines: list[_Line]) -> Seen | None:
    for line in lines:
        if full_address(line.text):
            return line.seen(line.text)
    for above, below in zip(lines, lines[1:], strict=False):  # an address wrapped over two lines
        if full_address(f"{above.text} {below.text}"):
            return Seen(f"{above.text} {below.text}", f"{above.raw} {below.raw}", above.box, above.confidence)
    return None


def _chrome(line: _Line, marker: str, height: float | None, band: float) -> bool:
    """A marker in the screen's top or bottom band (title bar, input bar), or alone on its line."""
    if len(_SQUASH.sub("", line.text)) <= len(_SQUASH.sub("", marker)) + 4:
        return True
    if line.box is None or not height:
        return False
    top, bottom = line.box[1], line.box[1] + line.box[3]
    return top < height * band or bottom > height * (1 - band)


def _statuses(line: _Line, lists: _Lists) -> list[Seen]:
    text = lists.exclusions.sub(lambda m: " " * len(m.group()), line.text)
    found = (lists.status_of.get(_SQUASH.sub("", m.group())) for m in lists.status.finditer(text))
    return [line.seen(status) for status in found if status]


def read_image(ocr: OcrRead, ruleset: Ruleset, *, height: int | None = None) -> ImageText:
    lists = _lists(ruleset)
    lines = _lines(ocr, lists.max_lines)
    high = float(height or max((line.box[1] + line.box[3] for line in lines if line.box), default=0))
    coupang = [line.seen(m.group()) for line in lines for m in lists.coupang.finditer(line.text)]
    messengers = [
        line.seen(source)
        for line in lines
        for source, pattern in lists.messengers
        for m in pattern.finditer(line.text)
        if not coupang or _chrome(line, m.group(), high, lists.band)
    ]
    statuses, current = [], None
    for n, line in enumerate(lines):
        found = _statuses(line, lists)
        statuses += found
        label = lists.status_label.search(line.text)
        if label and current is None:
            beside = _beside(lines, n) if not line.text[label.end() :].strip(" :") else None
            current = next(iter(found or (_statuses(beside, lists) if beside else [])), None)
    return ImageText(
        confidence=ocr.confidence,
        lines=tuple(line.seen(id_key(line.raw)) for line in lines),
        moments=tuple(_moments(lines)),
        coupang=tuple(coupang),
        messengers=tuple(messengers),
        order_ids=tuple(_order_ids(lines, lists.order_label)),
        statuses=tuple(statuses),
        current_status=current,
        recipient=_recipient(lines, lists.recipient_label),
        address=_address(lines),
        text="\n".join(line.text for line in lines),
    )


def box_text(box: Box | None) -> str:
    """A box as finding params carry it: `left,top,width,height` (empty when OCR gave none)."""
    return ",".join(map(str, box)) if box else ""
