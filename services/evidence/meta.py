"""The `meta` of an upload: one pydantic model per kind (SPEC section 5), and `parse_meta`.

Top-level fields are closed (`extra="forbid"`: a typo such as `tracking_numbr` is a 422, not a
silently weaker item); rows inside `events[]` and `messages[]` keep unknown fields, since carrier
and messenger exports vary. Times stay strings as the seller wrote them: the checker reads them
(`2024년 5월 12일 14시 22분 KST` too) and reports a time without zone as a finding, never a 422.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.evidence.errors import (
    FileRequired,
    KindMismatch,
    MetaInvalid,
    MetaMalformed,
    MetaMissing,
    TooManyMessages,
    UnknownKind,
)
from shared.contracts import EvidenceKind

Short = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, Field(max_length=100_000)]

# Kinds that may come without a file: their facts are in the meta (SPEC: "structured kinds").
STRUCTURED_KINDS = frozenset(
    {"tracking_record", "proof_of_delivery", "message_log", "statement", "translation", "invoice", "refund_record"}
)


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)  # 651234567890 as a number

    source: Short | None = None  # declared source of the item (a message log: one of MessageSource)
    order_id: Id | None = None
    captured_at: Short | None = None
    note: Text | None = None


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)


class TrackingEvent(_Row):
    time: Short | None = None
    status: Short | None = None
    location: Short | None = None


class TrackingMeta(_Meta):
    kind: Literal["tracking_record", "proof_of_delivery", "shipping_label"]
    carrier: Short | None = None
    tracking_number: Annotated[str, Field(max_length=64)] | None = None
    status: Short | None = None  # shipped | in_transit | out_for_delivery | delivered (or 배송완료 ...)
    delivered_at: Short | None = None
    recipient_name: Short | None = None
    address: Annotated[str, Field(max_length=1000)] | None = None
    events: Annotated[list[TrackingEvent], Field(max_length=1000)] | None = None


class Message(_Row):
    sent_at: Short | None = None
    sender: Literal["buyer", "seller", "cs"]
    text: Annotated[str, Field(max_length=20_000)] = ""


class MessageLogMeta(_Meta):
    kind: Literal["message_log"]
    source: Literal["coupang_messages", "wechat", "whatsapp", "kakaotalk", "email", "other"] | None = None
    exported_at: Short | None = None
    messages: list[Message] | None = None


class StatementMeta(_Meta):
    kind: Literal["statement"]
    text: Text | None = None
    language: Short | None = None


class TranslationMeta(_Meta):
    kind: Literal["translation"]
    of_evidence_id: Short | None = None
    language: Short | None = None
    certified: bool | None = None
    text: Text | None = None


class MoneyMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
    value: Short
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None


class PaymentMeta(_Meta):
    kind: Literal["invoice", "refund_record"]
    amount: MoneyMeta | Short | None = None
    issued_at: Short | None = None
    refunded_at: Short | None = None


class FileMeta(_Meta):
    """Kinds that are a file first: a photo, a listing page, anything else."""

    kind: Literal["product_photo", "product_listing", "other"]
    title: Short | None = None
    text: Text | None = None


EvidenceMeta = Annotated[
    TrackingMeta | MessageLogMeta | StatementMeta | TranslationMeta | PaymentMeta | FileMeta,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(EvidenceMeta)
_KINDS = [k.value for k in EvidenceKind]


def parse_meta(raw: str | None, *, has_file: bool, max_messages: int, kind_part: str | None = None) -> dict[str, Any]:
    """The validated meta (what the seller sent, minus nothing) or a refusal with a stable code.

    `kind_part` is the upload's own `kind` form part, if it came (SPEC section 5): it must be a
    known kind; it supplies `kind` when meta has none, and must equal meta's when both have one.
    With a `kind` part, `meta` may be left out (or empty): it is then `{}`.
    """
    if kind_part is not None:
        kind_part = kind_part.strip()
        if kind_part not in _KINDS:
            raise UnknownKind(f"The `kind` part must be one of {', '.join(_KINDS)}.", part="kind", kinds=_KINDS)
        if raw is None or not raw.strip():
            raw = "{}"
    if raw is None or not raw.strip():
        raise MetaMissing("Send `meta`, a JSON object with at least `kind`.", kinds=_KINDS)
    if "\x00" in raw or "\\u0000" in raw.lower():
        raise MetaMalformed("`meta` holds a NUL character.")  # PostgreSQL cannot store it; no seller means it
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise MetaMalformed("`meta` is not valid JSON.") from None
    if not isinstance(value, dict):
        raise MetaMalformed("`meta` must be a JSON object.")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MetaMalformed("`meta` holds an unpaired surrogate escape (not valid Unicode).") from None
    if kind_part is not None:
        value = _with_kind_part(value, kind_part)
    kind = value.get("kind")
    if kind not in _KINDS:
        raise UnknownKind(f"`kind` must be one of {', '.join(_KINDS)}.", kinds=_KINDS)
    messages = value.get("messages")
    if isinstance(messages, list) and len(messages) > max_messages:
        raise TooManyMessages(
            f"A message log holds at most {max_messages} messages; split it by date.", limit=max_messages
        )
    try:
        model = _ADAPTER.validate_python(value)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"][1:]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)[:20]
        ]
        raise MetaInvalid(f"`meta` of kind {kind} is not valid.", errors=errors) from None
    if not has_file and kind not in STRUCTURED_KINDS:
        raise FileRequired(f"An item of kind {kind} is a file: send it as the `file` part.", kind=kind)
    if not has_file and kind in ("statement", "translation") and not value.get("text"):
        raise FileRequired(f"An item of kind {kind} needs its `text` in meta, or a file.", kind=kind)
    return dict(model.model_dump(mode="json", exclude_none=True))


def _with_kind_part(value: dict[str, Any], kind_part: str) -> dict[str, Any]:
    """meta with the `kind` part's kind: supplied when meta has none (or null), else it must be the same."""
    meta_kind = value.get("kind")
    if meta_kind is None:
        return {**value, "kind": kind_part}
    if meta_kind != kind_part:
        shown = meta_kind if isinstance(meta_kind, str) else json.dumps(meta_kind, ensure_ascii=False)
        raise KindMismatch(
            f"The `kind` part ({kind_part}) and meta's `kind` ({shown[:64]}) differ; send one, or the same in both.",
            part_kind=kind_part,
            meta_kind=shown[:64],
        )
    return value
