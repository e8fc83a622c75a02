"""The gap checker's ruleset: JSON data beside this file, loaded once, with a version string.

The version is the declared `ruleset.json` version plus a fingerprint of every data file, so a
report always names the exact data it was checked against, even if someone forgot to bump it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.evidence.checker.model import Severity

_DIR = Path(__file__).parent
_FILES = (
    "ruleset.json",
    "carriers.json",
    "phrases.json",
    "messages.json",
    "legal_basis.json",
    "templates.json",
    "image_text.json",
)
LANGS = ("zh", "ko", "en")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def norm_name(value: str) -> str:
    """Carrier names compared after NFKC, case folding, without spaces and punctuation."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", value).casefold())


@dataclass(frozen=True)
class Carrier:
    id: str
    accepted: bool
    names: dict[str, str]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Ruleset:
    version: str
    severity: dict[str, Severity]  # rule id -> default severity, in report order
    required_kinds: dict[str, tuple[str, ...]]
    delivery_reasons: frozenset[str]
    confirmation_reasons: frozenset[str]
    tracking_kinds: frozenset[str]
    authored_kinds: frozenset[str]
    accepted_message_sources: frozenset[str]
    limits: dict[str, int]
    carriers: tuple[Carrier, ...]
    carrier_by_alias: dict[str, Carrier]
    phrases: dict[str, Any]
    messages: dict[str, Any]
    legal: dict[str, Any]
    templates: dict[str, Any]
    image_text: dict[str, Any]  # what the checker reads in an image's OCR text: markers, labels, status words

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(self.severity)

    def order(self, rule: str) -> int:
        return self.rule_ids.index(rule)


@cache
def load_ruleset() -> Ruleset:
    raw = {name: (_DIR / name).read_bytes() for name in _FILES}
    fingerprint = hashlib.sha256(b"".join(raw[name] for name in _FILES)).hexdigest()[:8]
    data = {name: json.loads(body) for name, body in raw.items()}
    main = data["ruleset.json"]
    carriers = tuple(
        Carrier(c["id"], accepted, c["names"], tuple(c["aliases"]))
        for group, accepted in (("accepted", True), ("rejected", False))
        for c in data["carriers.json"][group]
    )
    return Ruleset(
        version=f"{main['version']}+{fingerprint}",
        severity={r["id"]: r["severity"] for r in main["rules"]},
        required_kinds={k: tuple(v) for k, v in main["required_kinds"].items()},
        delivery_reasons=frozenset(main["delivery_reasons"]),
        confirmation_reasons=frozenset(main["confirmation_reasons"]),
        tracking_kinds=frozenset(main["tracking_kinds"]),
        authored_kinds=frozenset(main["authored_kinds"]),
        accepted_message_sources=frozenset(main["accepted_message_sources"]),
        limits=main["limits"],
        carriers=carriers,
        carrier_by_alias={norm_name(a): c for c in carriers for a in (*c.aliases, *c.names.values())},
        phrases=data["phrases.json"],
        messages=data["messages.json"],
        legal=data["legal_basis.json"],
        templates=data["templates.json"],
        image_text=data["image_text.json"],
    )
