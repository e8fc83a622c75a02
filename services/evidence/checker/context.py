"""What the rules share: the ruleset, `now`, the tracking index, and per-item text read once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.evidence.checker.extract import detect_language
from services.evidence.checker.image_text import ImageText, read_image
from services.evidence.checker.model import EvidenceItem, TrackingRef
from services.evidence.checker.ruleset import Carrier, Ruleset, norm_name


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


_DROP = str.maketrans("", "", " \t\n\r-")


def norm_id(value: Any) -> str:
    """Order ids and tracking numbers compared without spaces and dashes, case-insensitively."""
    if isinstance(value, str):
        return value.translate(_DROP).upper()
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else ""


_RESOLVED: dict[tuple[str, str], Carrier | None] = {}


def resolve_carrier(ruleset: Ruleset, name: str) -> Carrier | None:
    """A carrier by exact alias, else by the longest alias inside the name (`CJ대한통운(주)`)."""
    memo = (ruleset.version, name)
    if memo not in _RESOLVED:
        if len(_RESOLVED) > 10_000:  # bounded: carrier names are few, but they come from users
            _RESOLVED.clear()
        _RESOLVED[memo] = _resolve(ruleset, name)
    return _RESOLVED[memo]


def _resolve(ruleset: Ruleset, name: str) -> Carrier | None:
    key = norm_name(name)
    if not key:
        return None
    if key in ruleset.carrier_by_alias:
        return ruleset.carrier_by_alias[key]
    inside = [(len(a), c) for a, c in ruleset.carrier_by_alias.items() if len(a) >= 3 and a in key]
    return max(inside, key=lambda x: x[0])[1] if inside else None


def tracking_key(ruleset: Ruleset, carrier: str, number: str) -> tuple[str, str]:
    """The index key of a tracking number: canonical carrier id (or its normalised name) + number."""
    found = resolve_carrier(ruleset, carrier)
    return (found.id if found else norm_name(carrier), norm_id(number))


def messages_of(item: EvidenceItem) -> list[Mapping[str, Any]]:
    raw = item.meta.get("messages")
    return [m for m in raw if isinstance(m, Mapping)] if isinstance(raw, list) else []


def parse_amount(value: Any) -> tuple[Decimal | None, str | None]:
    """An amount as {value, currency}, or a string like "45,000 KRW" / "₩45000" (currency unknown)."""
    if isinstance(value, Mapping):
        number, currency = value.get("value"), value.get("currency")
    else:
        number, currency = value, None
    if isinstance(number, int | float | Decimal) and not isinstance(number, bool):
        number = str(number)
    if not isinstance(number, str):
        return None, None
    m = re.search(r"-?\d[\d,]*(\.\d+)?", number)
    if not m:
        return None, None
    if currency is None and (c := re.search(r"\b[A-Z]{3}\b", number)):
        currency = c.group()
    if currency is None and ("₩" in number or "원" in number):
        currency = "KRW"
    try:
        return Decimal(m.group().replace(",", "")), currency if isinstance(currency, str) else None
    except InvalidOperation:
        return None, None


@dataclass(frozen=True)
class CheckContext:
    ruleset: Ruleset
    now: datetime
    tracking_index: Mapping[tuple[str, str], frozenset[str]]  # key -> order ids (normalised)
    texts: Mapping[str, str] = field(default_factory=dict)  # evidence_id -> text the rules read
    languages: Mapping[str, str | None] = field(default_factory=dict)
    images: Mapping[str, ImageText] = field(default_factory=dict)  # evidence_id -> what its OCR text shows

    @classmethod
    def build(
        cls, ruleset: Ruleset, items: Sequence[EvidenceItem], other_orders: Iterable[TrackingRef], now: datetime
    ) -> CheckContext:
        # Only numbers this case shows matter: the seller's index may be large, the case has a few.
        ours = {norm_id(i.meta.get("tracking_number")) for i in items if i.kind in ruleset.tracking_kinds} - {""}
        index: dict[tuple[str, str], set[str]] = {}
        for ref in other_orders:
            if ours and norm_id(ref.tracking_number) in ours:
                key = tracking_key(ruleset, ref.carrier, ref.tracking_number)
                index.setdefault(key, set()).add(norm_id(ref.order_id))
        limit = ruleset.limits["max_text_chars"]
        texts = {i.evidence_id: item_text(i)[:limit] for i in items}
        langs = {
            i.evidence_id: (
                i.extracted.language
                if not _meta_text(i) and i.extracted.language
                else detect_language(texts[i.evidence_id])
            )
            for i in items
        }
        images = {
            i.evidence_id: read_image(i.extracted.ocr, ruleset, height=i.extracted.height)
            for i in items
            if i.extracted.ocr is not None
        }
        return cls(ruleset, now, {k: frozenset(v) for k, v in index.items()}, texts, langs, images)


def _meta_text(item: EvidenceItem) -> str:
    if item.kind == "message_log":
        return "\n".join(text_of(m.get("text")) for m in messages_of(item)[:10000])
    return text_of(item.meta.get("text"))


def item_text(item: EvidenceItem) -> str:
    """The words of an item: its meta text (statement, translation, messages) and its file's text."""
    return "\n".join(t for t in (_meta_text(item), item.extracted.text) if t)
