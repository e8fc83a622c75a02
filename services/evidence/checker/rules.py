"""One pure function per rule id of SPEC section 5: `(case, items, ctx) -> list[Finding]`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.evidence.checker.addresses import RECIPIENT, full_address
from services.evidence.checker.context import (
    CheckContext,
    messages_of,
    norm_id,
    parse_amount,
    resolve_carrier,
    text_of,
    tracking_key,
)
from services.evidence.checker.image_text import ImageText, Seen, box_text
from services.evidence.checker.model import CaptureSource, CaseFacts, EvidenceItem, Finding, Severity
from services.evidence.checker.phrases import phrases
from services.evidence.checker.times import parse_instant, parse_times

Rule = Callable[[CaseFacts, Sequence[EvidenceItem], CheckContext], list[Finding]]
_SOURCES = {"coupang_messages", "wechat", "whatsapp", "kakaotalk", "email", "other"}


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


@dataclass(frozen=True)
class Capture:
    """An item's capture time and where it came from (the report names the source)."""

    at: datetime | None  # None: none known, or an image's time without a year (`shown` has it)
    source: CaptureSource | None = None
    shown: str | None = None
    seen: Seen | None = None  # the image line it was read on


def capture_of(item: EvidenceItem, ctx: CheckContext) -> Capture:
    """Meta's `captured_at`, else EXIF's, else the latest date and time visible in the image."""
    if (meta := parse_instant(item.meta.get("captured_at"))) is not None:
        return Capture(meta, "meta", meta.isoformat())
    if item.extracted.exif_time is not None:  # the stored capture time, when EXIF carried an offset
        at = item.captured_at or item.extracted.exif_time
        return Capture(at, "exif", at.isoformat())
    if item.captured_at is not None:
        return Capture(item.captured_at, "meta", item.captured_at.isoformat())
    image = ctx.images.get(item.evidence_id)
    moment = image.latest if image else None
    if moment is None:
        return Capture(None)
    return Capture(moment.at, "image_text", moment.at.isoformat() if moment.at else moment.shown, moment.seen)


# --- what the image's OCR text shows: the quote, and honest uncertainty ---------------------------


def _image(item: EvidenceItem, ctx: CheckContext) -> ImageText | None:
    return ctx.images.get(item.evidence_id)


def _unsure(ctx: CheckContext, image: ImageText, seen: Seen | None = None) -> bool:
    """Nothing read at all, or the image's or the quoted line's OCR confidence below the ruleset's:
    a blurred image's one legible-looking line may still be misread (an order id off by a digit)."""
    minimum = ctx.ruleset.limits["ocr_min_confidence"]
    return not image.read or min(image.confidence, seen.confidence if seen else 100.0) < minimum


def _from_image(
    ctx: CheckContext,
    rule: str,
    item: EvidenceItem,
    image: ImageText,
    seen: Seen | None,
    fields: tuple[str, ...] = (),
    **params: str,
) -> Finding:
    """A finding that rests on the image text: the line it quotes (or that nothing was found), and a
    warning instead of its severity when the image could not be read with confidence."""
    unsure = _unsure(ctx, image, seen)
    confidence = min(image.confidence, seen.confidence) if seen else image.confidence
    params |= {"image": "uncertain" if unsure else ("found" if seen else "not_found")}
    params |= {"image_confidence": str(round(confidence))}
    if seen is not None:
        params |= {"image_text": seen.text[:200], "image_box": box_text(seen.box)}
    return _finding(ctx, rule, item, fields, "warning" if unsure else None, **params)


def _korean_page(image: ImageText, ctx: CheckContext) -> bool:
    """Coupang's or an accepted Korean carrier's page: the times it shows are Korean time."""
    if image.coupang:
        return True
    named = (resolve_carrier(ctx.ruleset, m.group()) for m in phrases(ctx.ruleset).carriers.finditer(image.text))
    return any(c and c.accepted for c in named)


def _image_delivered_at(image: ImageText, ctx: CheckContext) -> bool:
    korean = _korean_page(image, ctx)
    return any(m.at is not None and (m.at.tzinfo is not None or korean) for m in image.moments)


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
        if not statuses and (image := _image(i, ctx)) is not None:  # the meta is silent: the page in the image
            best = image.best_status(ctx.ruleset.image_text["status_rank"])
            if best is None or best.value != "delivered":
                status = best.value if best else "unknown"
                out.append(_from_image(ctx, "not_delivered_status", i, image, best, ("status",), status=status))
            continue
        out.append(_finding(ctx, "not_delivered_status", i, ("status",), status=statuses[0] if statuses else "unknown"))
    return out


def delivery_proof_incomplete(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    out = []
    for i in _of_kind(items, "proof_of_delivery"):
        text, image = i.extracted.text, _image(i, ctx)
        missing = []
        if not text_of(i.meta.get("recipient_name")).strip() and not RECIPIENT.search(text):
            if not (image and image.recipient):
                missing.append("recipient_name")
        at = parse_instant(i.meta.get("delivered_at"))
        if (at is None or at.tzinfo is None) and not any(t.at for t in parse_times(text[:20000], limit=50)):
            if not (image and _image_delivered_at(image, ctx)):
                missing.append("delivered_at")
        if not full_address(text_of(i.meta.get("address"))) and not full_address(text[:20000]):
            if not (image and image.address):
                missing.append("address")
        if missing and image is not None:  # looked for in the image too
            out.append(_from_image(ctx, "delivery_proof_incomplete", i, image, None, tuple(missing)))
        elif missing:
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
        elif (image := _image(i, ctx)) is not None and (other := image.other_order(case.order_id)) is not None:
            params = {"order_id": other.value, "case_order_id": case.order_id}
            out.append(_from_image(ctx, "order_mismatch", i, image, other, ("order_id",), **params))
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
        image = _image(i, ctx)
        if source not in ctx.ruleset.accepted_message_sources:
            shown = source if source in _SOURCES else ("other" if source else "unknown")
            out.append(_finding(ctx, "message_source_not_accepted", i, ("source",), source=shown))
        elif image is not None and image.messengers:  # a WeChat screenshot sent as Coupang messages
            seen = max(image.messengers, key=lambda s: s.confidence)
            out.append(_from_image(ctx, "message_source_not_accepted", i, image, seen, ("source",), source=seen.value))
    return out


def platform_id_missing(case: CaseFacts, items: Sequence[EvidenceItem], ctx: CheckContext) -> list[Finding]:
    """A screenshot offered as Coupang evidence that shows neither the case's order id nor a Coupang marker."""
    out = []
    for i in items:
        if (image := _image(i, ctx)) is None:
            continue
        source = text_of(i.meta.get("source")).strip().lower()
        coupang_log = i.kind == "message_log" and source in ctx.ruleset.accepted_message_sources
        if not (coupang_log or i.kind in ctx.ruleset.image_text["platform_id_kinds"]):
            continue
        if image.coupang or image.shows_order(case.order_id):
            continue
        if not coupang_log and (waybill := text_of(i.meta.get("tracking_number")).strip()):
            if image.shows_number(waybill):
                continue  # a carrier's page names its waybill, which the item's tracking record ties to the case
        if i.kind == "message_log" and image.messengers:
            continue  # message_source_not_accepted names the other messenger
        finding = _from_image(ctx, "platform_id_missing", i, image, None, ("order_id",), case_order_id=case.order_id)
        out.append(finding)
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
        if _is_picture(i) and capture_of(i, ctx).source is None:
            image = _image(i, ctx)
            if image is None or i.kind in ctx.ruleset.image_text["picture_kinds"]:
                # a photo of a thing is not expected to show a time: EXIF or meta must give it
                out.append(_finding(ctx, "timestamp_missing", i, ("captured_at",), subject="photo", count="1"))
            else:
                params = {"subject": "photo", "count": "1"}
                out.append(_from_image(ctx, "timestamp_missing", i, image, None, ("captured_at",), **params))
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
        capture = capture_of(i, ctx) if _is_picture(i) else Capture(None)
        if capture.source in ("meta", "exif") and capture.at is not None and capture.at.tzinfo is None:
            # an image's own time is what the screen showed, in the page's zone: nothing to fix there
            out.append(_finding(ctx, "timezone_missing", i, ("captured_at",), "warning", times=capture.at.isoformat()))
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
        platform_id_missing,
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
