"""Chinese names for the Korean public holidays of `holidays`' KR calendar (it has no zh translation).

The package builds KR names from a few bases and patterns ("추석 전날", "설날 대체 휴일",
"광복절 대체 휴일 (추정)"), so we translate the base and the pattern; a name we do not know
comes back marked as untranslated, never an exception.
"""

from __future__ import annotations

import re

__all__ = ["chinese_name"]

# Base names, as the KR calendar spells them (and the usual spellings of the same day).
BASE_NAMES_ZH: dict[str, str] = {
    "신정": "元旦",
    "신정연휴": "元旦",
    "설날": "春节",
    "민속의 날": "春节",
    "삼일절": "三一节",
    "식목일": "植树节",
    "노동절": "劳动节",
    "근로자의날": "劳动节",
    "근로자의 날": "劳动节",
    "어린이날": "儿童节",
    "부처님오신날": "佛诞日",
    "석가탄신일": "佛诞日",
    "현충일": "显忠日",
    "제헌절": "制宪节",
    "광복절": "光复节",
    "국군의 날": "国军日",
    "개천절": "开天节",
    "한글날": "韩文日",
    "추석": "中秋节",
    "기독탄신일": "圣诞节",
    "성탄절": "圣诞节",
    "국회의원 선거일": "国会议员选举日",
    "대통령 선거일": "总统选举日",
    "지방선거일": "地方选举日",
    "선거일": "选举日",
    "임시공휴일": "临时公休日",
    "대체공휴일": "替代休息日",
    "대체 휴일": "替代休息日",
}

_ESTIMATED = re.compile(r"\s*\(추정\)$")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?P<base>.+?)\s*대체\s*(?:공)?휴일$"), "{base}替代休息日"),
    (re.compile(r"^(?P<base>.+?)\s*전날$"), "{base}前一天"),
    (re.compile(r"^(?P<base>.+?)\s*다음날$"), "{base}次日"),
)


def chinese_name(korean: str) -> str:
    """The Chinese name of one Korean holiday name; `韩国公休日（<Korean>）` when we have no translation."""
    name = korean.strip()
    if (estimated := _ESTIMATED.search(name)) is not None:
        return _translate(name[: estimated.start()]) + "（推定）"
    return _translate(name)


def _translate(name: str) -> str:
    if (zh := BASE_NAMES_ZH.get(name)) is not None:
        return zh
    for pattern, template in _PATTERNS:
        if (match := pattern.match(name)) is not None and (base := BASE_NAMES_ZH.get(match["base"])):
            return template.format(base=base)
    if "선거" in name:  # by-elections, referendums: an election-type day we have not listed
        return "选举日"
    return f"韩国公休日（{name}）"
