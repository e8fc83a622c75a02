"""Masking of buyers' personal data in anything that is logged.

Works twice over: by key (`buyer_name`, `phone`, `address`, ... anywhere in the value,
nested dicts and lists included) and by pattern inside every string (phone numbers,
resident registration numbers, e-mail addresses, Korean street addresses), which catches
personal data pasted into free text such as an exception message.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from structlog.typing import EventDict, WrappedLogger

__all__ = ["ADDRESS_MASK", "REDACTED", "RRN_MASK", "mask_personal_data", "mask_text", "mask_value"]


ADDRESS_MASK = "[address]"
RRN_MASK = "******-*******"
REDACTED = "[redacted]"

# Digits or ASCII word characters around a number mean it is part of something longer
# (an order id, a UUID, "CD-2026-000123"); Hangul around it is fine ("연락처010...").
_NUM_START = r"(?<![A-Za-z0-9_+\-])"
_NUM_END = r"(?![A-Za-z0-9_\-])"
_SEP = r"[-. ]?"

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-]+)@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})")

# Resident registration number: YYMMDD-GNNNNNN, G (sex/century) 1-8. The hyphen is
# required: 13 bare digits is what a Coupang order id looks like.
_RRN = re.compile(_NUM_START + r"\d{6}-[1-8]\d{6}" + _NUM_END)

# Korean mobile (010, 011, 016-019), domestic or +82 / 0082, with -, . or space, or none.
_KR_MOBILE = re.compile(
    _NUM_START
    + r"(?P<head>(?:(?:\+|00)82"
    + _SEP
    + r"(?:\(0\))?0?1[016789])|01[016789])"
    + r"(?P<sep1>"
    + _SEP
    + r")(?P<mid>\d{3,4})(?P<sep2>"
    + _SEP
    + r")(?P<last>\d{4})"
    + _NUM_END
)
# Korean landline (02 Seoul, 031-064 regions, 070 VoIP). Separators are required, as
# ten bare digits starting with 0 are too common to be sure of.
_KR_LANDLINE = re.compile(
    _NUM_START
    + r"(?P<head>(?:(?:\+|00)82[-. ]?)?0?(?:2|[3-6][1-5]|70))"
    + r"(?P<sep1>[-. ])(?P<mid>\d{3,4})(?P<sep2>[-. ])(?P<last>\d{4})"
    + _NUM_END
)
# Chinese mobile: 1[3-9]X XXXX XXXX, optionally +86 / 0086 (cross-border sellers' buyers).
_CN_MOBILE = re.compile(
    _NUM_START
    + r"(?P<head>(?:(?:\+|00)86"
    + _SEP
    + r")?1[3-9]\d)"
    + r"(?P<sep1>"
    + _SEP
    + r")(?P<mid>\d{4})(?P<sep2>"
    + _SEP
    + r")(?P<last>\d{4})"
    + _NUM_END
)
_PHONES = (_KR_MOBILE, _KR_LANDLINE, _CN_MOBILE)

# Korean addresses. Road-name: "[시/도 구 ...] 테헤란로 123[, 4층 401호]", "강남대로94길 45".
# Lot: "역삼동 123-4", "신천리 45번지", or "<구> 역삼동 123". A building number followed by
# a counter word ("사유로 3건") is a count, not an address.
_HANGUL = "가-힣"
_ADMIN = rf"(?:[{_HANGUL}]{{1,10}}(?:특별자치시|특별자치도|특별시|광역시|시|도|군|구|읍|면)\s+)"
_NOT_A_COUNT = (
    rf"(?![0-9\-])(?!\s?(?:건|개|원|명|회|번째|차례|차|%|초|분|시간|일|주|개월|년|월|배|위|점|등|kg|g)(?![{_HANGUL}]))"
)
_DETAIL = (
    rf"(?:\s*,?\s*(?:(?:지하|B)\s?)?\d{{1,5}}\s?(?:층|호|동)(?![{_HANGUL}])"  # 4층, 401호, 101동
    rf"|\s*\([{_HANGUL}A-Za-z0-9 ,.\-]{{1,40}}\))"  # (역삼동, 아이파크)
)
# "을지로3가" is a neighbourhood, not "을지로 3": no Hangul right after the number.
_ROAD = rf"[{_HANGUL}][{_HANGUL}0-9]*(?<!으)(?:로|길)\s?\d{{1,5}}(?:-\d{{1,5}})?(?![{_HANGUL}])" + _NOT_A_COUNT
_LOT_NAME = rf"[{_HANGUL}][{_HANGUL}0-9]*(?:동|리|가)\s?"
_LOT = (
    rf"(?:{_ADMIN}{{1,4}}{_LOT_NAME}\d{{1,5}}(?:-\d{{1,5}})?(?:\s?번지)?" + _NOT_A_COUNT + ")"
    rf"|(?:{_LOT_NAME}\d{{1,5}}(?:-\d{{1,5}}|\s?번지))"
)
# Bounded repeats ({0,4}: 도 시 구 읍/면 at most) keep matching linear on hostile text
# such as "서울시 " x 2000, which an unbounded `*` takes quadratic time to refuse.
_ADDRESS = re.compile(rf"(?<![{_HANGUL}0-9])(?:{_ADMIN}{{0,4}}{_ROAD}|{_LOT}){_DETAIL}{{0,4}}")


def _mask_phone_match(match: re.Match[str]) -> str:
    # Keep the prefix and the last four digits: enough to tell two buyers apart in a
    # support conversation, not enough to call anyone.
    return (
        match.group("head")
        + match.group("sep1")
        + "*" * len(match.group("mid"))
        + match.group("sep2")
        + match.group("last")
    )


def _mask_email_match(match: re.Match[str]) -> str:
    return f"{match.group(1)[0]}***@{match.group(2)}"


def mask_text(text: str) -> str:
    """Mask personal data found anywhere inside free text.

    Order matters: e-mails first (their local part may be a phone number), then resident
    registration numbers and addresses, whose digits phone patterns must not half-match.
    """
    text = _EMAIL.sub(_mask_email_match, text)
    text = _RRN.sub(RRN_MASK, text)
    text = _ADDRESS.sub(ADDRESS_MASK, text)
    for pattern in _PHONES:
        text = pattern.sub(_mask_phone_match, text)
    return text


def _mask_name(value: str) -> str:
    # First character only, and always two stars, so the length does not narrow it down.
    value = value.strip()
    return f"{value[0]}**" if value else value


def _mask_phone(value: str) -> str:
    masked = mask_text(value)
    if masked != value:
        return masked
    # Not a format we know (a foreign number): hide every digit but the last four.
    digits = sum(ch.isdigit() for ch in value)
    seen = 0
    out = []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


def _mask_email(value: str) -> str:
    masked = mask_text(value)
    return masked if masked != value else _mask_name(value)


def _mask_contact(value: str) -> str:
    # A contact is a phone, an e-mail or a name; the text patterns know the first two.
    masked = mask_text(value)
    return masked if masked != value else _mask_name(value)


_MASKERS: dict[str, Callable[[str], str]] = {
    "name": _mask_name,
    "phone": _mask_phone,
    "email": _mask_email,
    "address": lambda value: ADDRESS_MASK if value.strip() else value,
    "rrn": lambda value: RRN_MASK if value.strip() else value,
    "contact": _mask_contact,
    "secret": lambda value: REDACTED if value else value,
}

# Key words, after splitting a key into lower-case words ("buyerPhone" -> buyer, phone).
_PHONE_WORDS = {"phone", "phones", "mobile", "tel", "telephone", "cellphone", "fax", "phonenumber"}
_EMAIL_WORDS = {"email", "emails"}
_ADDRESS_WORDS = {"address", "addresses", "addr", "street", "zipcode", "zip", "postcode", "postal"}
_NOT_POSTAL_ADDRESS = {"ip", "mac", "remote", "client", "server", "host", "peer", "bind", "listen", "wallet"}
_RRN_WORDS = {"rrn", "ssn", "jumin", "resident"}
_CONTACT_WORDS = {"contact", "contacts"}
_SECRET_WORDS = {"password", "passwd", "secret", "token", "authorization", "cookie", "apikey"}
_NAME_KEYS = {"name", "names", "username", "nickname", "fullname", "cardholder", "holder"}
# "<thing>_name" keys that name things, not people; any other "<x>_name" is masked.
_THING_NAMES = {
    "file",
    "func",
    "function",
    "module",
    "logger",
    "service",
    "event",
    "host",
    "hostname",
    "topic",
    "table",
    "column",
    "field",
    "class",
    "product",
    "item",
    "option",
    "vendor",
    "bank",
    "carrier",
    "courier",
    "brand",
    "category",
    "store",
    "shop",
    "queue",
    "job",
    "task",
    "step",
    "reason",
    "status",
    "template",
    "document",
    "evidence",
    "attachment",
    "app",
    "model",
    "metric",
    "index",
    "key",
    "type",
    "kind",
    "schema",
    "group",
    "consumer",
    "process",
    "thread",
    "route",
    "endpoint",
    "method",
    "handler",
    "header",
    "param",
    "parameter",
    "attribute",
    "object",
    "bucket",
    "content",
    "mime",
    "media",
    "sku",
    "portal",
    "channel",
    "marketplace",
    "policy",
    "rule",
    "state",
    "stage",
    "action",
    "command",
    "db",
    "database",
    "server",
    "cluster",
    "region",
    "zone",
    "env",
}


def _key_words(key: str) -> list[str]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return [word for word in re.split(r"[_\-.\s]+", snake.lower()) if word]


def _kind_of(key: object) -> str | None:
    """Which kind of personal data a key holds, or None if it is not a personal-data key."""
    words = _key_words(str(key))
    if not words:
        return None
    word_set = set(words)
    if word_set & _SECRET_WORDS or words[-2:] == ["api", "key"]:
        return "secret"
    if word_set & _RRN_WORDS or words[-2:] == ["registration", "number"]:
        return "rrn"
    if word_set & _EMAIL_WORDS:
        return "email"
    if word_set & _PHONE_WORDS:
        return "phone"
    if word_set & _ADDRESS_WORDS and not word_set & _NOT_POSTAL_ADDRESS:
        return "address"
    if word_set & _CONTACT_WORDS:
        return "contact"
    if words[-1] in _NAME_KEYS and not (len(words) > 1 and words[-2] in _THING_NAMES):
        return "name"
    return None


def _mask(kind: str | None, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _MASKERS[kind](value) if kind else mask_text(value)
    if isinstance(value, Mapping):
        if kind == "address":  # {"line1": ..., "zip": ...}: all of it is the address
            return ADDRESS_MASK
        # Children use their own key's kind, else inherit ours ("contact": {"value": ...}).
        return {k: _mask(_kind_of(k) or kind, v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask(kind, item) for item in value]
    if isinstance(value, (int, float)):
        # An amount stays a number; a phone number logged as an int does not.
        return _MASKERS[kind](str(value)) if kind else value
    if isinstance(value, enum.Enum):
        return _mask(kind, value.value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "model_dump"):  # a pydantic model (an event payload): mask its fields
        return _mask(kind, value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _mask(kind, dataclasses.asdict(value))
    # Anything else would reach the JSON renderer as repr()/str(), with what it holds.
    return _mask(kind, str(value))


def mask_value(key: str, value: Any) -> Any:
    """Mask `value` as logged under `key`: by the key's meaning, then by text patterns.

    >>> mask_value("buyer_name", "김철수")
    '김**'
    >>> mask_value("phone", "010-1234-5678")
    '010-****-5678'
    """
    return _mask(_kind_of(key), value)


def mask_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask personal data in every value of the event."""
    return {key: mask_value(key, value) for key, value in event_dict.items()}
