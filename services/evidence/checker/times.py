"""Dates and times as sellers write them, with their zone when they give one (never guessed).

`2024-05-12 14:22 KST`, `2024-05-12T14:22:00+09:00`, `2024. 5. 12. 오후 2:22`, `2024년 5월 12일 14시 22분`,
`10월 28일 14:22 KST`, `2024年5月12日 14:22`, `北京时间 5月12日 下午2点22分`, `May 12, 2024 2:22 PM`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DATE = re.compile(
    r"(?P<iy>(?:19|20)\d{2})\s*[-/.]\s*(?P<im>\d{1,2})\s*[-/.]\s*(?P<id>\d{1,2})(?![\d])\.?"
    r"|(?:(?P<ky>(?:19|20)\d{2})\s*년\s*)?(?P<km>\d{1,2})\s*월\s*(?P<kd>\d{1,2})\s*일"
    r"|(?:(?P<cy>(?:19|20)\d{2})\s*年\s*)?(?P<cm>\d{1,2})\s*月\s*(?P<cd>\d{1,2})\s*[日号號]"
    r"|\b(?P<en>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?\s+(?P<ed>\d{1,2})(?:st|nd|rd|th)?(?!\d)"
    r"(?:,?\s+(?P<ey>(?:19|20)\d{2}))?",
    re.IGNORECASE,
)
_MERIDIEM = r"(?P<mer>오전|오후|上午|下午|晚上|早上|凌晨|中午|[ap]\.?m\.?)?"
_TIME = re.compile(
    r"[\sT,]*(?:에\s*)?" + _MERIDIEM + r"\s*"
    r"(?:(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?"
    r"|(?P<h2>\d{1,2})\s*(?:시|时|點|点)\s*(?:(?P<mi2>\d{1,2})\s*(?:분|分)?)?)"
    r"(?:\s*(?P<mer2>[ap]\.?m\.?)(?![a-z]))?",
    re.IGNORECASE,
)
_LONE_TIME = re.compile(
    _MERIDIEM + r"\s*(?<![\d:])(?:(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?![\d:])"
    r"|(?P<h2>\d{1,2})\s*(?:시|时|点|點)\s*(?P<mi2>\d{1,2})\s*(?:분|分))"
    r"(?:\s*(?P<mer2>[ap]\.?m\.?)(?![a-z]))?",
    re.IGNORECASE,
)
_ZONE = re.compile(
    r"\s*\(?\s*(?:(?P<z>Z)(?![a-z])|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})"
    r"|(?:UTC|GMT)\s*(?P<usign>[+-])\s*(?P<uh>\d{1,2})(?::?(?P<um>\d{2}))?|(?P<label>KST|JST|UTC|GMT|CST|Asia/Seoul"
    r"|한국\s*시간|서울\s*시간|韩国时间|首尔时间|北京时间|中国时间))\s*\)?",
    re.IGNORECASE,
)
_ZONE_BEFORE = re.compile(
    r"(?P<label>KST|한국\s*시간|서울\s*시간|韩国时间|首尔时间|北京时间|中国时间)\s*[:：]?\s*$", re.I
)
_LABELS = {
    "kst": 540,
    "jst": 540,
    "utc": 0,
    "gmt": 0,
    "asia/seoul": 540,
    "한국시간": 540,
    "서울시간": 540,
    "韩国时间": 540,
    "首尔时间": 540,
    "北京时间": 480,
    "中国时间": 480,
}  # CST: China or US Central -> unknown
_PM = {"오후", "下午", "晚上", "pm", "p.m.", "p.m", "pm."}


@dataclass(frozen=True)
class TimeMention:
    text: str
    start: int
    end: int
    year: int | None
    month: int | None
    day: int | None
    hour: int | None
    minute: int | None
    second: int = 0
    offset_minutes: int | None = None  # None: no zone given, or an ambiguous one (CST)
    zone_text: str | None = None

    @property
    def has_time(self) -> bool:
        return self.hour is not None

    @property
    def has_zone(self) -> bool:
        return self.offset_minutes is not None

    @property
    def is_kst(self) -> bool:
        return self.offset_minutes == 540

    @property
    def at(self) -> datetime | None:
        """The instant, only when date, year, time and zone are all given."""
        if None in (self.year, self.month, self.day, self.hour, self.offset_minutes):
            return None
        tz = timezone(timedelta(minutes=self.offset_minutes))  # type: ignore[arg-type]
        return datetime(self.year, self.month, self.day, self.hour, self.minute or 0, self.second, tzinfo=tz)  # type: ignore[arg-type]

    def in_kst(self) -> str | None:
        """This time shown in KST when its zone is known (the fix a seller can paste)."""
        if self.hour is None or self.offset_minutes is None:
            return None
        base = datetime(self.year or 2000, self.month or 1, self.day or 1, self.hour, self.minute or 0)
        kst = base + timedelta(minutes=540 - self.offset_minutes)
        return kst.strftime("%Y-%m-%d %H:%M KST" if self.year else "%H:%M KST")


def _hour(raw: str, meridiem: str | None) -> int:
    hour = int(raw)
    mer = (meridiem or "").lower()
    if mer in _PM and hour < 12:
        hour += 12
    elif mer in {"am", "a.m.", "a.m", "am.", "오전", "上午", "早上", "凌晨"} and hour == 12:
        hour = 0
    return hour


def _zone(text: str, pos: int) -> tuple[int | None, str | None, int]:
    m = _ZONE.match(text, pos)
    if not m or not m.group().strip(" ()"):
        return None, None, pos
    if m["z"]:
        return 0, "Z", m.end()
    if m["sign"]:
        sign = 1 if m["sign"] == "+" else -1
        return sign * (int(m["oh"]) * 60 + int(m["om"])), m.group().strip(" ()"), m.end()
    if m["usign"]:
        sign = 1 if m["usign"] == "+" else -1
        return sign * (int(m["uh"]) * 60 + int(m["um"] or 0)), m.group().strip(" ()"), m.end()
    label = re.sub(r"\s+", "", m["label"]).lower()
    return _LABELS.get(label), m.group().strip(" ()"), m.end()


def _zone_before(text: str, start: int) -> tuple[int | None, str | None]:
    m = _ZONE_BEFORE.search(text[max(0, start - 12) : start])
    if not m:
        return None, None
    return _LABELS.get(re.sub(r"\s+", "", m["label"]).lower()), m["label"]


def _valid(y: int | None, mo: int | None, d: int | None, h: int | None, mi: int | None) -> bool:
    try:
        if mo is not None:
            datetime(y or 2000, mo, d or 1)
        return h is None or (0 <= h <= 23 and 0 <= (mi or 0) <= 59)
    except ValueError:
        return False


def parse_times(text: str, *, limit: int = 500) -> list[TimeMention]:
    """Every date or time of day in `text`, in order, each with its zone if one is written."""
    found: list[TimeMention] = []
    taken: list[tuple[int, int]] = []
    for m in _DATE.finditer(text):
        if len(found) >= limit:
            break
        if m["en"]:
            year, month, day = m["ey"], str(_MONTHS.index(m["en"][:3].lower()) + 1), m["ed"]
        else:
            year = m["iy"] or m["ky"] or m["cy"]
            month, day = m["im"] or m["km"] or m["cm"], m["id"] or m["kd"] or m["cd"]
        y: int | None = int(year) if year else None
        mo, d = int(month), int(day)
        end, hour, minute, second = m.end(), None, None, 0
        t = _TIME.match(text, end)
        if t and (t["h"] or t["h2"]):
            hour = _hour(t["h"] or t["h2"], t["mer"] or t["mer2"])
            minute = int(t["mi"] or t["mi2"] or 0)
            second = int(t["s"] or 0)
            end = t.end()
        offset, label, zend = _zone(text, end) if hour is not None else (None, None, end)
        if label is None:
            offset, label = _zone_before(text, m.start())
        if not _valid(y, mo, d, hour, minute):
            continue
        found.append(
            TimeMention(text[m.start() : zend].strip(), m.start(), zend, y, mo, d, hour, minute, second, offset, label)
        )
        taken.append((m.start(), zend))
    for m in _LONE_TIME.finditer(text):
        if len(found) >= limit:
            break
        if any(a <= m.start() < b for a, b in taken):
            continue
        hour = _hour(m["h"] or m["h2"], m["mer"] or m["mer2"])
        minute = int(m["mi"] or m["mi2"])
        if not _valid(None, None, None, hour, minute):
            continue
        offset, label, zend = _zone(text, m.end())
        if label is None:
            offset, label = _zone_before(text, m.start())
        found.append(
            TimeMention(
                text[m.start() : zend].strip(),
                m.start(),
                zend,
                None,
                None,
                None,
                hour,
                minute,
                int(m["s"] or 0),
                offset,
                label,
            )
        )
    return sorted(found, key=lambda t: t.start)


def parse_instant(value: object) -> datetime | None:
    """A meta timestamp: ISO 8601 first, else the first full date-time a seller wrote. Naive if no zone."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        pass
    for t in parse_times(value, limit=3):
        if t.year and t.month and t.hour is not None:
            if t.at is not None:
                return t.at
            return datetime(t.year, t.month, t.day or 1, t.hour, t.minute or 0, t.second)
    return None
