"""One pure function per rule id of SPEC section 5: `(case, items, ctx) -> list[Finding]`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from services.evidence.checker.context import (
    CheckContext,
    messages_of,
    norm_id,
    parse_amount,
    resolve_carrier,
    text_of,
    tracking_key,
)
from services.evidence.checker.model import CaseFacts, EvidenceItem, Finding, Severity
from services.evidence.checker.phrases import phrases
from services.evidence.checker.times import parse_instant, parse_times

Rule = Callable[[CaseFacts, Sequence[EvidenceItem], CheckContext], list[Finding]]
_SOURCES = {"coupang_messages", "wechat", "whatsapp", "kakaotalk", "email", "other"}
_BUILDING = re.compile(
    r"(?:로|길|路|街|동|리|가|번지|road|street|st|ro|gil|ave|avenue)\.?\s*\d+(?:-\d+)?|\d+(?:-\d+)?\s*(?:번지|号|號)"
    r"|\b\d+(?:-\d+)?\s+(?:[a-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|blvd|lane|ln|way)\b",
    re.IGNORECASE,
)
_UNIT = re.compile(r"\d+\s*(?:층|호|楼|樓|室|F\b)|(?:unit|apt|suite|room|floor|#)\.?\s*\d+|지하\s*\d+|\bB\d+\b", re.I)
_RECIPIENT = re.compile(r"(수령인|받는\s*분|收件人|签收人|recipient)\s*[:：]?\s*\S+", re.IGNORECASE)


def _finding(
    ctx: CheckContext,
    rule: str,
    item: EvidenceItem | None,
    fields: tuple[str, ...] = (),
    severity: Severity | None = None,
    **params: str,
) -> Finding:
    return Finding(
        rule,
        severity or ctx.ruleset.severity[rule],
        item.evidence_id if item else None,
        fields,
        params,
    )


def _too_many(item: EvidenceItem, ctx: CheckContext) -> bool:
    raw = item.meta.get("messages")
    return isinstance(raw, list) and len(raw) > ctx.ruleset.limits["max_messages"]


def _messages(item: EvidenceItem, ctx: CheckContext) -> list[Mapping[str, Any]]:
    return [] if _too_many(item, ctx) else messages_of(item)


def _of_kind(items: Sequence[EvidenceItem], *kinds: str) -> list[EvidenceItem]:
    return [i for i in items if i.kind in kinds]


def _capture_time(item: EvidenceItem) -> datetime | None:
    return item.captured_at or parse_instant(item.meta.get("captured_at")) or item.extracted.exif_time


def _is_picture(item: EvidenceItem) -> bool:
    if item.kind == "product_photo":
        return True
    if not (item.media_type or "").startswith("image/"):
        return False
    own_times = {
        "tracking_record": ("delivered_at", "events"),
        "proof_of_delivery": ("delivered_at",),
        "message_log": ("messages",),
    }.get(item.kind, ())
    return not any(item.meta.get(k) for k in own_times)  # a screenshot whose times are given in its meta


def file_unreadable(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in items:
        if not i.extracted.readable:
            out.append(_finding(ctx, "file_unreadable", i, reason=i.extracted.unreadable_reason or "corrupt"))
        elif _too_many(i, ctx):
            out.append(_finding(ctx, "file_unreadable", i, ("messages",), reason="too_many_messages"))
    return out


def required_evidence_missing(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    present = {i.kind for i in items}
    needed = ctx.ruleset.required_kinds.get(case.reason_code, ())
    return [_finding(ctx, "required_evidence_missing", None, ("kind",), kind=k) for k in needed if k not in present]


def carrier_not_accepted(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in _of_kind(items, *ctx.ruleset.tracking_kinds):
        named = text_of(i.meta.get("carrier")).strip()
        if named:
            carrier = resolve_carrier(ctx.ruleset, named)
            if not (carrier and carrier.accepted):
                out.append(_finding(ctx, "carrier_not_accepted", i, ("carrier",), carrier=named))
            continue
        # No carrier in meta: read the file's words (a Taobao waybill PDF names itself).
        seen = [
            resolve_carrier(ctx.ruleset, m.group())
            for m in phrases(ctx.ruleset).carriers.finditer(ctx.texts.get(i.evidence_id, ""))
        ]
        if any(c and c.accepted for c in seen):
            continue
        rejected = next((m for m in seen if m), None)
        out.append(
            _finding(
                ctx,
                "carrier_not_accepted",
                i,
                ("carrier",),
                carrier=rejected.names.get("en", rejected.id) if rejected else "—",
            )
        )
    return out


def not_delivered_status(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    if case.reason_code not in ctx.ruleset.delivery_reasons:
        return []
    aliases = phrases(ctx.ruleset).status_aliases
    out = []
    for i in _of_kind(items, "tracking_record", "proof_of_delivery"):
        events_meta = i.meta.get("events")
        events: list[Any] = events_meta if isinstance(events_meta, list) else []
        raw = [i.meta.get("status"), *(e.get("status") for e in events if isinstance(e, dict))]
        statuses = [aliases.get(s.strip().casefold(), "unknown") for s in raw if isinstance(s, str) and s.strip()]
        if "delivered" in statuses or (not statuses and parse_instant(i.meta.get("delivered_at"))):
            continue  # a delivery time without a status still says it was delivered
        if not statuses and phrases(ctx.ruleset).delivered.search(ctx.texts.get(i.evidence_id, "")):
            continue  # a file-only tracking page that reads 배송완료
        out.append(_finding(ctx, "not_delivered_status", i, ("status",), status=statuses[0] if statuses else "unknown"))
    return out


def _full_address(text: str) -> bool:
    return bool(_BUILDING.search(text) and _UNIT.search(text))


def delivery_proof_incomplete(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in _of_kind(items, "proof_of_delivery"):
        text = i.extracted.text
        missing = []
        if not text_of(i.meta.get("recipient_name")).strip() and not _RECIPIENT.search(text):
            missing.append("recipient_name")
        at = parse_instant(i.meta.get("delivered_at"))
        if (at is None or at.tzinfo is None) and not any(t.at for t in parse_times(text[:20000], limit=50)):
            missing.append("delivered_at")
        if not _full_address(text_of(i.meta.get("address"))) and not _full_address(text[:20000]):
            missing.append("address")
        if missing:
            out.append(_finding(ctx, "delivery_proof_incomplete", i, tuple(missing)))
    return out


def tracking_number_reused(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    ours = norm_id(case.order_id)
    for i in _of_kind(items, *ctx.ruleset.tracking_kinds):
        carrier, number = text_of(i.meta.get("carrier")), i.meta.get("tracking_number")
        if not carrier or not norm_id(number):
            continue
        others = sorted(ctx.tracking_index.get(tracking_key(ctx.ruleset, carrier, str(number)), frozenset()) - {ours})
        if others:
            out.append(
                _finding(
                    ctx,
                    "tracking_number_reused",
                    i,
                    ("carrier", "tracking_number"),
                    carrier=carrier,
                    tracking_number=str(number),
                    other_orders=", ".join(others[:5]),
                )
            )
    return out


def order_mismatch(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in items:
        named = i.meta.get("order_id")
        if norm_id(named) and norm_id(named) != norm_id(case.order_id):
            out.append(
                _finding(ctx, "order_mismatch", i, ("order_id",), order_id=str(named), case_order_id=case.order_id)
            )
    return out


def amount_mismatch(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in _of_kind(items, "invoice"):
        value, currency = parse_amount(i.meta.get("amount"))
        if value is None:
            continue
        if value != case.amount.value or (currency and currency.upper() != case.amount.currency):
            out.append(
                _finding(
                    ctx,
                    "amount_mismatch",
                    i,
                    ("amount",),
                    amount=f"{value} {currency or ''}".strip(),
                    case_amount=f"{case.amount.value} {case.amount.currency}",
                )
            )
    return out


def message_source_not_accepted(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in _of_kind(items, "message_log"):
        source = text_of(i.meta.get("source")).strip().lower()
        if source not in ctx.ruleset.accepted_message_sources:
            shown = source if source in _SOURCES else ("other" if source else "unknown")
            out.append(_finding(ctx, "message_source_not_accepted", i, ("source",), source=shown))
    return out


def buyer_contacted_to_withdraw(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    pattern = phrases(ctx.ruleset).withdrawal
    out = []
    for i in _of_kind(items, "message_log"):
        for m in _messages(i, ctx):
            if m.get("sender") != "seller" or not pattern.search(text_of(m.get("text"))):
                continue
            sent = parse_instant(m.get("sent_at"))
            if case.notified_at and sent and sent.tzinfo and sent < case.notified_at:
                continue  # before the dispute existed
            out.append(
                _finding(
                    ctx,
                    "buyer_contacted_to_withdraw",
                    i,
                    ("messages",),
                    quote=text_of(m.get("text"))[:80],
                    sent_at=text_of(m.get("sent_at")) or "—",
                )
            )
            break
    return out


def timestamp_missing(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in items:
        if _is_picture(i) and _capture_time(i) is None:
            out.append(_finding(ctx, "timestamp_missing", i, ("captured_at",), subject="photo", count="1"))
        if i.kind == "message_log":
            timeless = sum(parse_instant(m.get("sent_at")) is None for m in _messages(i, ctx))
            if timeless:
                out.append(
                    _finding(ctx, "timestamp_missing", i, ("messages",), subject="messages", count=str(timeless))
                )
    return out


def timezone_missing(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in items:
        if i.kind in ctx.ruleset.authored_kinds:
            bad = [t for t in parse_times(ctx.texts.get(i.evidence_id, "")) if t.has_time and not t.is_kst]
            if bad:
                shown = "; ".join(t.text + (f" → {t.in_kst()}" if t.in_kst() else "") for t in bad[:5])
                out.append(_finding(ctx, "timezone_missing", i, ("text",), times=shown))
        if _is_picture(i) and (at := _capture_time(i)) is not None and at.tzinfo is None:
            out.append(_finding(ctx, "timezone_missing", i, ("captured_at",), "warning", times=at.isoformat()))
        if i.kind == "message_log":
            naive = [
                text_of(m.get("sent_at"))
                for m in _messages(i, ctx)
                if (at := parse_instant(m.get("sent_at"))) is not None and at.tzinfo is None
            ]
            if naive:
                out.append(_finding(ctx, "timezone_missing", i, ("messages",), "warning", times="; ".join(naive[:3])))
    return out


def vague_statement(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in _of_kind(items, *ctx.ruleset.authored_kinds):
        p = phrases(ctx.ruleset)
        text = p.hedge_exclusions.sub(lambda m: " " * len(m.group()), ctx.texts.get(i.evidence_id, ""))
        found = dict.fromkeys(m.group() for m in p.hedges.finditer(text))
        if found:
            out.append(_finding(ctx, "vague_statement", i, ("text",), words=", ".join(list(found)[:8])))
    return out


def _korean_translation(i: EvidenceItem, ctx: CheckContext) -> bool:
    declared = text_of(i.meta.get("language")).strip().lower()
    return i.kind == "translation" and (
        declared in {"ko", "ko-kr", "korean", "한국어"} or (not declared and ctx.languages.get(i.evidence_id) == "ko")
    )


def korean_translation_missing(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    translated = {text_of(t.meta.get("of_evidence_id")) for t in items if _korean_translation(t, ctx)}
    out = []
    for i in items:
        lang = ctx.languages.get(i.evidence_id)
        if i.kind != "translation" and lang not in (None, "ko") and i.evidence_id not in translated:
            out.append(_finding(ctx, "korean_translation_missing", i, (), language=lang))
    return out


def translation_not_certified(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    return [
        _finding(ctx, "translation_not_certified", i, ("certified",))
        for i in items
        if _korean_translation(i, ctx) and i.meta.get("certified") not in (True, "true", "yes", 1)
    ]


def glossary_mismatch(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in _of_kind(items, *ctx.ruleset.authored_kinds):
        if ctx.languages.get(i.evidence_id) != "ko":
            continue
        text = ctx.texts.get(i.evidence_id, "")
        for pattern, literal, standard in phrases(ctx.ruleset).glossary:
            if pattern.search(text):
                out.append(_finding(ctx, "glossary_mismatch", i, ("text",), literal=literal, standard=standard))
    return out


def _confirms(text: str, ctx: CheckContext) -> bool:
    p = phrases(ctx.ruleset)
    if p.waiver.search(text):
        return True
    return bool(p.confirmation.search(text)) and not p.negation.search(text)


def buyer_confirmation_missing(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    if case.reason_code not in ctx.ruleset.confirmation_reasons:
        return []
    logs = _of_kind(items, "message_log")
    for i in logs:
        if any(m.get("sender") == "buyer" and _confirms(text_of(m.get("text")), ctx) for m in _messages(i, ctx)):
            return []
    return [_finding(ctx, "buyer_confirmation_missing", logs[0] if len(logs) == 1 else None, ("messages",))]


RULES: dict[str, Rule] = {
    f.__name__: f
    for f in (
        file_unreadable,
        required_evidence_missing,
        carrier_not_accepted,
        not_delivered_status,
        delivery_proof_incomplete,
        tracking_number_reused,
        order_mismatch,
        amount_mismatch,
        message_source_not_accepted,
        buyer_contacted_to_withdraw,
        timestamp_missing,
        timezone_missing,
        vague_statement,
        korean_translation_missing,
        translation_not_certified,
        glossary_mismatch,
        buyer_confirmation_missing,
    )
}
