"""What the templates are given: the Jinja2 environment (autoescaped), time and money formatting,
and the view models built from the services' answers. Pure functions of their inputs (and `now`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.ingest.dashboard import i18n, remote

KST = ZoneInfo("Asia/Seoul")
BEIJING = ZoneInfo("Asia/Shanghai")
TEMPLATES = Path(__file__).parent / "templates"

# Every template is HTML: autoescape is on for all of them (a reason text, a buyer's message or a file
# name is text, never markup), and an undefined name is an error in tests, not a blank on the page.
ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

T = TypeVar("T")

CASE_STATUSES = (
    "received",
    "evidence_pending",
    "needs_fix",
    "ready",
    "submitted",
    "won",
    "lost",
    "partial",
    "accepted",
    "expired",
)
REASON_CODES = (
    "NOT_RECEIVED",
    "NOT_AS_DESCRIBED",
    "DAMAGED",
    "DUPLICATE_CHARGE",
    "UNAUTHORIZED",
    "CREDIT_NOT_PROCESSED",
    "OTHER",
)
EVIDENCE_KINDS = (
    "tracking_record",
    "proof_of_delivery",
    "message_log",
    "statement",
    "translation",
    "invoice",
    "refund_record",
    "product_photo",
    "product_listing",
    "shipping_label",
    "other",
)


@dataclass(frozen=True)
class Panel(Generic[T]):
    """One part of a page fed by one service call: its value, `absent` (the service knows nothing yet:
    a 404 such as `report_not_found`), or `unavailable` (down, timed out, 5xx)."""

    service: str
    value: T | None = None
    absent: bool = False
    unavailable: bool = False
    # The service's refusal (its problem `code`, such as `plan_not_set`): the panel says so in words rather
    # than "unavailable" (`unavailable` stays true, so a template without a word for it still renders).
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


# ------------------------------------------------------------------ formatting


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall(moment: datetime | None, zone: ZoneInfo = KST) -> str:
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def countdown(seconds_left: int, lang: str) -> str:
    """The countdown's first text (the script updates it every second from `data-deadline`)."""
    if seconds_left < 0:
        return i18n.text(lang, "countdown.passed")
    days, rest = divmod(seconds_left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}{i18n.text(lang, 'countdown.days')} {clock}" if days else clock


def money(amount: remote.Money | dict[str, Any] | None) -> str:
    if amount is None:
        return ""
    if isinstance(amount, dict):
        return f"{amount.get('value', '')} {amount.get('currency', '')}".strip()
    return f"{amount.value} {amount.currency}"


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def shown(value: Any, limit: int = 400) -> str:
    """A meta value as one line of text (a list of messages too), cut at `limit` characters."""
    if isinstance(value, str):
        out = value
    elif isinstance(value, dict | list):
        out = json.dumps(value, ensure_ascii=False)
    else:
        out = str(value)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def is_open(status: str) -> bool:
    return status in ("received", "evidence_pending", "needs_fix", "ready")


# ------------------------------------------------------------------ the evidence list


@dataclass(frozen=True)
class FieldView:
    name: str
    value: str
    flagged: bool
    missing: bool = False


@dataclass(frozen=True)
class EvidenceView:
    item: remote.EvidenceItem
    fields: list[FieldView] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return any(f.flagged for f in self.fields)


def evidence_views(items: Iterable[remote.EvidenceItem], findings: Iterable[remote.Finding]) -> list[EvidenceView]:
    """Each item with its meta fields, those a finding names for this item flagged (and shown even when missing)."""
    named: dict[str, list[str]] = {}
    for finding in findings:
        if finding.evidence_id is not None:
            named.setdefault(finding.evidence_id, []).extend(finding.fields)
    views = []
    for item in items:
        flagged = set(named.get(item.evidence_id, ()))
        fields = [FieldView(k, shown(v), k in flagged) for k, v in item.meta.items() if k != "kind"]
        fields += [FieldView(name, "", True, missing=True) for name in sorted(flagged - set(item.meta))]
        views.append(EvidenceView(item, fields))
    return views


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return i18n.text(lang, key, **values)

    return t
