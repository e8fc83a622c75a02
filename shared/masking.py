"""Masking of buyers' personal data in anything that is logged (the second line of defence).

The first line is the allowlist of keys (shared/log_policy.py). Here: by key (`buyer_name`,
`phone`, `address`, `recipient`, `收件人`, ... anywhere in the value, nested dicts and lists
included) and by pattern inside every string (shared/pii_patterns.py: phones, resident and
Chinese ID numbers, e-mails, Korean, romanised Korean and Chinese addresses, names after a
person word or before an honorific, values under personal keys inside a repr), after
decoding escaped text and NFKC normalisation. Validation errors lose their `input` values.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from shared import pii_patterns as P

__all__ = [
    "ADDRESS_MASK",
    "ID_NUMBER_MASK",
    "MASKED",
    "REDACTED",
    "RRN_MASK",
    "SAFE",
    "TEXT",
    "UNKNOWN",
    "describe_exception",
    "has_validation_error",
    "mask_structure",
    "mask_text",
    "mask_value",
    "personal_kind",
    "safe_validation_errors",
    "strip_validation_inputs",
]


ADDRESS_MASK = "[address]"
RRN_MASK = "******-*******"
ID_NUMBER_MASK = "[id-number]"
REDACTED = "[redacted]"
MASKED = "[masked]"


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


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _mask_cn_id_match(match: re.Match[str]) -> str:
    # ISO 7064 MOD 11-2 check digit: an 18-digit id of ours rarely passes it by chance.
    text = match.group(0)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(text[:17], _CN_ID_WEIGHTS, strict=True)) % 11]
    return ID_NUMBER_MASK if text[17].upper() == check else text


def _decode_escaped(text: str) -> str:
    """Turn "\\uae40..." and b'\\xea...' back into the text they hide, so the patterns see it."""
    if "\\u" in text or "\\U" in text:
        text = P.UNICODE_ESCAPES.sub(_decode_unicode_run, text)
    if "b'" in text or 'b"' in text:
        text = P.BYTES_LITERAL.sub(_decode_bytes_literal, text)
    return text


def _decode_unicode_run(match: re.Match[str]) -> str:
    # Surrogate pairs ("\\ud83d\\ude00") are joined through UTF-16; broken ones become U+FFFD.
    raw = match.group(0).encode("ascii").decode("unicode_escape")
    return raw.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _decode_bytes_literal(match: re.Match[str]) -> str:
    try:
        literal: bytes = ast.literal_eval(match.group(0))  # the pattern matches bytes literals only
        decoded = literal.decode("utf-8")
        return "b" + match.group(1) + decoded + match.group(1)
    except (ValueError, SyntaxError, UnicodeDecodeError):
        return match.group(0)  # binary, not text: nothing readable to mask


def _mask_keyed_match(match: re.Match[str]) -> str:
    kind = _kind_of(match.group("name"))
    if kind is None:
        return match.group(0)
    quoted = match.group("vq")
    value = match.group("qv") if quoted else match.group("uv")
    stripped = value.rstrip()
    masked = _MASKERS[kind](stripped) + value[len(stripped) :]
    if quoted:
        masked = quoted + masked + quoted
    return match.group("key") + match.group("sep") + masked


_ID_COLUMN_LAST = {"id", "ids", "uuid", "code", "key", "no", "seq", "version", "topic", "partition", "offset", "group"}


def _mask_pg_key_match(match: re.Match[str]) -> str:
    # Ids in a unique-key violation help an operator; any other column may be personal.
    columns = [_key_words(column.strip().strip('"')) for column in match.group("cols").split(",")]
    if all(words and words[-1] in _ID_COLUMN_LAST for words in columns):
        return match.group(0)
    return f"Key ({match.group('cols')})=({MASKED})"


def _mask_name_match(match: re.Match[str]) -> str:
    start, end = match.span(1)
    whole_start = match.start(0)
    text = match.group(0)
    return text[: start - whole_start] + _mask_name(match.group(1)) + text[end - whole_start :]


def _mask_person_then_name(match: re.Match[str]) -> str:
    return match.group("lead") + _mask_name(match.group("name"))


def mask_text(text: str) -> str:
    """Mask personal data found anywhere inside free text.

    Escaped text is decoded and the rest NFKC-normalised first (full-width digits and
    colons become ASCII). Then values under personal keys ("'buyer': '김민수'"), and the
    patterns: e-mails before phones (their local part may be a phone number), ID numbers
    and addresses before phones (whose digits phone patterns must not half-match), names
    last.
    """
    # Event names, topics, ids and error strings repeat line after line: remember short ones.
    return _mask_short_text(text) if len(text) <= _CACHED_TEXT_LEN else _mask_text(text)


_CACHED_TEXT_LEN = 256


@functools.lru_cache(maxsize=8192)
def _mask_short_text(text: str) -> str:
    return _mask_text(text)


def _mask_text(text: str) -> str:
    text = _decode_escaped(text)
    ascii_only = text.isascii()
    if not ascii_only and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
        ascii_only = text.isascii()
    if "input_type=" in text:
        text = P.PYDANTIC_INPUT_VALUE.sub(f"input_value={MASKED}, input_type=", text)
    if "input'" in text or 'input"' in text:
        text = P.ERRORS_INPUT.sub(lambda m: f"{m.group(1)}input{m.group(1)}: {MASKED!r}", text)
    if "Key (" in text or "Failing row" in text:
        text = P.PG_KEY_DETAIL.sub(_mask_pg_key_match, text)
        text = P.PG_FAILING_ROW.sub(f"Failing row contains ({MASKED})", text)
    if ":" in text or "=" in text:
        text = P.KEYED_VALUE.sub(_mask_keyed_match, text)
    if "@" in text:
        text = P.EMAIL.sub(_mask_email_match, text)
    if P.DIGIT.search(text):  # ID numbers, addresses and phones all have digits
        text = P.RRN.sub(RRN_MASK, text)
        text = P.CN_ID.sub(_mask_cn_id_match, text)
        if not ascii_only:
            text = P.KR_ADDRESS.sub(ADDRESS_MASK, text)
            if ("号" in text or "號" in text) and not P.CN_ROAD_CHARS.isdisjoint(text):
                text = P.CN_ADDRESS.sub(ADDRESS_MASK, text)
        if P.ROMAN_ROAD_HINT.search(text):
            text = P.ROMAN_KR_ADDRESS.sub(ADDRESS_MASK, text)
        for pattern in P.PHONES:
            text = pattern.sub(_mask_phone_match, text)
    if not ascii_only:
        text = P.KR_HONORIFIC_NAME.sub(_mask_name_match, text)
        text = P.CN_HONORIFIC_NAME.sub(_mask_name_match, text)
    if "M" in text or "D" in text:
        text = P.EN_TITLED_NAME.sub(_mask_name_match, text)
    return P.PERSON_THEN_NAME.sub(_mask_person_then_name, text)


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
    # A contact is a phone, an e-mail or a name, or a name and a phone; the text patterns
    # know phones and e-mails, a name leads.
    masked = mask_text(value)
    if masked == value:
        return _mask_name(value)
    return P.LEADING_NAME.sub(lambda match: match.group(0).replace(match.group(1), _mask_name(match.group(1))), masked)


_MASKERS: dict[str, Callable[[str], str]] = {
    "name": _mask_name,
    "phone": _mask_phone,
    "email": _mask_email,
    "address": lambda value: ADDRESS_MASK if value.strip() else value,
    "rrn": lambda value: RRN_MASK if value.strip() else value,
    "contact": _mask_contact,
    "secret": lambda value: REDACTED if value else value,
    "input": lambda value: MASKED if value else value,
}

# Key words, after splitting a key into lower-case words ("buyerPhone" -> buyer, phone).
_PHONE_WORDS = {"phone", "phones", "mobile", "tel", "telephone", "cellphone", "fax", "phonenumber", "hp", "handphone"}
_EMAIL_WORDS = {"email", "emails"}
_ADDRESS_WORDS = {"address", "addresses", "addr", "street", "zipcode", "zip", "postcode", "postal"}
_NOT_POSTAL_ADDRESS = {"ip", "mac", "remote", "client", "server", "host", "peer", "bind", "listen", "wallet"}
_RRN_WORDS = {"rrn", "ssn", "jumin", "resident"}
_CONTACT_WORDS = {"contact", "contacts"}
# People: whatever is logged under these is a name, a phone, an address or all of them.
_PERSON_WORDS = {
    "buyer", "buyers", "recipient", "recipients", "consignee", "consignees", "receiver", "customer",
    "customers", "orderer", "addressee", "payer", "cardholder",
}  # fmt: skip
# Keys that are about a person but hold no personal data: "buyer_id", "recipient_count".
_NOT_PERSONAL_LAST = {"id", "ids", "no", "count", "counts", "type", "kind", "code", "status", "verified", "key", "ref"}
_ADDRESS_COMPOUNDS = {"shipto", "deliverto", "billto", "soldto", "shipping", "delivery", "destination"}
# Keys in other languages, as they show up in pasted payloads ("收件人：王小明").
_CJK_KEY_KINDS = {
    **dict.fromkeys(
        ("收件人", "收货人", "联系人", "姓名", "구매자", "수령인", "수취인", "받는분", "받는 분"), "contact"
    ),
    **dict.fromkeys(("주문자", "고객명", "이름", "성명"), "name"),
    **dict.fromkeys(("地址", "收货地址", "주소", "배송지"), "address"),
    **dict.fromkeys(("电话", "手机", "手机号", "연락처", "전화번호", "휴대폰", "핸드폰"), "phone"),
    **dict.fromkeys(("身份证", "身份证号", "주민번호", "주민등록번호"), "rrn"),
}
_SECRET_WORDS = {"password", "passwd", "secret", "token", "authorization", "cookie", "apikey"}
_NAME_KEYS = {"name", "names", "username", "nickname", "fullname", "cardholder", "holder"}
# "<thing>_name" keys that name things, not people; any other "<x>_name" is masked.
_THING_NAMES = {
    "file", "func", "function", "module", "logger", "service", "event", "host", "hostname", "topic", "table",
    "column", "field", "class", "product", "item", "option", "vendor", "bank", "carrier", "courier", "brand",
    "category", "store", "shop", "queue", "job", "task", "step", "reason", "status", "template", "document",
    "evidence", "attachment", "app", "model", "metric", "index", "key", "type", "kind", "schema", "group",
    "consumer", "process", "thread", "route", "endpoint", "method", "handler", "header", "param", "parameter",
    "attribute", "object", "bucket", "content", "mime", "media", "sku", "portal", "channel", "marketplace",
    "policy", "rule", "state", "stage", "action", "command", "db", "database", "server", "cluster", "region",
    "zone", "env",
}  # fmt: skip


def _key_words(key: str) -> list[str]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return [word for word in re.split(r"[_\-.\s]+", snake.lower()) if word]


@functools.lru_cache(maxsize=4096)
def _kind_of(key: object) -> str | None:
    """Which kind of personal data a key holds, or None if it is not a personal-data key."""
    key = str(key)
    if (cjk := _CJK_KEY_KINDS.get(key.replace(" ", ""))) is not None:
        return cjk
    words = _key_words(key)
    if not words:
        return None
    word_set = set(words)
    if word_set & _SECRET_WORDS or words[-2:] == ["api", "key"]:
        return "secret"
    if words[0] == "input" and words[-1] in ("input", "value"):  # pydantic's echo of a payload
        return "input"
    if word_set & _RRN_WORDS or words[-2:] == ["registration", "number"]:
        return "rrn"
    if word_set & _EMAIL_WORDS:
        return "email"
    if word_set & _PHONE_WORDS:
        return "phone"
    if word_set & _ADDRESS_WORDS and not word_set & _NOT_POSTAL_ADDRESS:
        return "address"
    if "".join(words[:2]) in _ADDRESS_COMPOUNDS and words[-1] not in _NOT_PERSONAL_LAST:
        return "address"
    if word_set & _CONTACT_WORDS:
        return "contact"
    if words[-1] in _NAME_KEYS and not (len(words) > 1 and words[-2] in _THING_NAMES):
        return "name"
    if word_set & _PERSON_WORDS and words[-1] not in _NOT_PERSONAL_LAST:
        return "contact"
    return None


# Policies of the walker below, besides the personal kinds of _MASKERS: SAFE values are
# kept (free text in them still goes through mask_text), TEXT is free text to mask, UNKNOWN
# strings are replaced by MASKED. A key with no policy (None) inherits its parent's.
SAFE, TEXT, UNKNOWN = "safe", "text", "unknown"
PolicyOf = Callable[[str], "str | None"]


def mask_structure(value: Any, policy: str, policy_of: PolicyOf, unknown: str = UNKNOWN) -> Any:
    """Mask `value` logged under a key of `policy`; `policy_of` gives nested keys theirs.

    A nested key of no policy inherits a personal parent's ("recipient": {"note": ...}),
    else gets `unknown`: list items share their list's policy.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):  # a code of ours (StrEnum too), whatever key it is under
        return mask_structure(value.value, SAFE if policy == UNKNOWN else policy, policy_of, unknown)
    if isinstance(value, str):
        if policy in (SAFE, TEXT):
            return mask_text(value)
        if policy == UNKNOWN:
            return MASKED if value else value
        return _MASKERS[policy](value)
    if isinstance(value, (int, float)):
        # Numbers are counts, sizes and amounts; a phone number logged as an int is not.
        return _MASKERS[policy](str(value)) if policy in _MASKERS else value
    if isinstance(value, Mapping):
        if policy == "address":  # {"line1": ..., "zip": ...}: all of it is the address
            return ADDRESS_MASK
        inherited = policy if policy in _MASKERS else unknown
        return {
            mask_text(str(key)): mask_structure(item, policy_of(str(key)) or inherited, policy_of, unknown)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [mask_structure(item, policy, policy_of, unknown) for item in value]
    if isinstance(value, BaseException):
        # Operators need errors: the type stays readable, the message is free text.
        return describe_exception(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "model_dump"):  # a pydantic model (an event payload): mask its fields
        return mask_structure(value.model_dump(mode="json"), policy, policy_of, unknown)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return mask_structure(dataclasses.asdict(value), policy, policy_of, unknown)
    # Anything else would reach the JSON renderer as repr()/str(), with what it holds.
    return mask_structure(str(value), policy, policy_of, unknown)


def mask_value(key: str, value: Any) -> Any:
    """Mask `value` as logged under `key`: by the key's meaning, then by text patterns.

    No allowlist here (shared/log_policy.py adds it for log lines): a key of no known
    meaning keeps its value, with personal data inside it masked.

    >>> mask_value("buyer_name", "김철수")
    '김**'
    >>> mask_value("phone", "010-1234-5678")
    '010-****-5678'
    """
    return mask_structure(value, _kind_of(key) or TEXT, _kind_of, unknown=TEXT)


def personal_kind(key: str) -> str | None:
    """The kind of personal data `key` holds ("name", "phone", "address", ...), or None."""
    return _kind_of(key)


# --------------------------------------------------------------------------- validation errors


def _is_validation_error(exc: BaseException) -> bool:
    # pydantic's ValidationError and FastAPI's RequestValidationError/ResponseValidationError,
    # without importing FastAPI here.
    return callable(getattr(exc, "errors", None)) and type(exc).__name__.endswith("ValidationError")


def safe_validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic/FastAPI `.errors()` without what the caller sent: only `type`, `loc`, `msg`.

    `input` echoes the payload and `ctx` may hold it too; a dict's keys in `loc` and a
    validator's message may carry data, so both go through mask_text.
    """
    return [
        {
            "type": str(error.get("type", "")),
            "loc": [part if isinstance(part, int) else mask_text(str(part)) for part in error.get("loc", ())],
            "msg": mask_text(str(error.get("msg", ""))),
        }
        for error in errors
    ]


def describe_exception(exc: BaseException) -> str:
    """`Type: message` with the message masked; validation errors without their input values."""
    if _is_validation_error(exc):
        try:
            errors = safe_validation_errors(exc.errors())  # type: ignore[attr-defined]
        except Exception:  # an odd subclass: say nothing rather than echo the payload
            errors = []
        return f"{type(exc).__name__}: {len(errors)} validation error(s) {errors}"
    return f"{type(exc).__name__}: {mask_text(str(exc))}"


def _chain(exc: BaseException | None) -> Iterable[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def has_validation_error(exc: BaseException) -> bool:
    """Whether `exc` or an exception in its cause/context chain is a validation error."""
    return any(_is_validation_error(link) for link in _chain(exc))


def strip_validation_inputs(text: str, exc: BaseException | None) -> str:
    """Replace the str() of each validation error in `exc`'s chain, inside `text`, by a safe one."""
    for link in _chain(exc):
        if _is_validation_error(link):
            text = text.replace(str(link), describe_exception(link).partition(": ")[2])
    return text
