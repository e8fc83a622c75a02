"""CSV import of a seller's past disputes, streamed: decoding, record assembly, row checks, batches.

Columns (any order): dispute_id, kind, order_id, amount, currency, reason_code, notified_at,
status; optional raw_reason_code, reason_text, buyer_id, respond_by. Encodings: UTF-8 with or
without BOM, and the GB18030 / CP949 exports of Chinese and Korean tools, told apart by
charset-normalizer on the first 64 KiB unless the upload declares its charset.

Rows are answered one by one (line number, dispute id, result); a bad row is reported and
skipped, the good ones are kept. A row whose status is still open (received, evidence_pending,
needs_fix, ready) emits `dispute.received` so the other services take the case up; a submitted,
expired or decided row is history (stats, buyer risk) and emits nothing.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from charset_normalizer import from_bytes
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.cases import SOURCE, apply_seller_rule, case_values
from services.ingest.domain.reason_codes import reason_from_network_code
from services.ingest.domain.rules import AutoAcceptRule
from services.ingest.domain.status import OPEN
from services.ingest.errors import CsvHeaderInvalid, CsvNotText, PayloadTooLarge, SellerNotFound
from services.ingest.repository import IngestRepository
from services.ingest.schemas import Currency, DecimalString, Id
from services.ingest.sellers import auto_accept_of, rules_of
from shared.contracts import (
    CaseStatus,
    DisputeKind,
    DisputeReceivedV1,
    Envelope,
    Language,
    Money,
    ReasonCode,
    new_event,
)

REQUIRED = ("dispute_id", "kind", "order_id", "amount", "currency", "reason_code", "notified_at", "status")
OPTIONAL = ("raw_reason_code", "reason_text", "buyer_id", "respond_by")
SNIFF_BYTES = 64 * 1024
BATCH = 500
LEGACY = ("gb18030", "cp949")


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


BlankIsNone = BeforeValidator(_blank_is_none)


class CsvRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    dispute_id: Id
    kind: DisputeKind
    order_id: Id
    amount: DecimalString
    currency: Currency
    reason_code: Annotated[ReasonCode | None, BlankIsNone] = None
    notified_at: AwareDatetime
    status: CaseStatus
    raw_reason_code: Annotated[str | None, BlankIsNone] = None
    reason_text: Annotated[str | None, BlankIsNone] = None
    buyer_id: Annotated[Id | None, BlankIsNone] = None
    respond_by: Annotated[AwareDatetime | date | None, BlankIsNone] = None


@dataclass
class ImportResult:
    rows: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"created": 0, "duplicate": 0, "error": 0})
    results: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, line: int, dispute_id: str | None, result: str, code: str | None = None, detail: str | None = None
    ) -> None:
        self.rows += 1
        self.counts[result] += 1
        self.results.append({"line": line, "dispute_id": dispute_id, "result": result, "code": code, "detail": detail})


# --------------------------------------------------------------------------- bytes to records (pure)


def choose_encoding(sample: bytes, declared: str | None = None) -> str:
    """The codec of an upload from its first bytes (and a declared charset, which wins)."""
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError:
            raise CsvNotText(f"Unknown charset {declared[:40]!r}.") from None
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if b"\x00" in sample:
        raise CsvNotText("This looks like a binary file, not a CSV text export.")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)  # a cut last character is fine
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(sample, cp_isolation=list(LEGACY)).best()
    if best is None:
        raise CsvNotText("The file is neither UTF-8, GB18030 nor CP949 text.")
    return codecs.lookup(best.encoding).name


async def decoded_lines(chunks: AsyncIterator[bytes], *, declared: str | None, limit: int) -> AsyncIterator[str]:
    """Text lines (with their endings) of the upload, decoded as it streams in."""
    head, size = b"", 0
    decoder = None
    pending = ""
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The upload is over {limit} bytes.", limit=limit)
        if decoder is None:
            head += chunk
            if len(head) < SNIFF_BYTES:
                continue
            chunk, decoder = head, codecs.getincrementaldecoder(choose_encoding(head, declared))("strict")
        pending += _decode(decoder, chunk, final=False)
        *complete, pending = pending.split("\n")  # only \n ends a line; a lone \r or U+2028 is data
        for line in complete:
            yield line + "\n"
    if decoder is None:
        if not head:
            raise CsvHeaderInvalid("The upload is empty.")
        decoder = codecs.getincrementaldecoder(choose_encoding(head, declared))("strict")
        pending += _decode(decoder, head, final=False)
    pending += _decode(decoder, b"", final=True)
    *complete, pending = pending.split("\n")
    for line in complete:
        yield line + "\n"
    if pending:
        yield pending


def _decode(decoder: codecs.IncrementalDecoder, data: bytes, *, final: bool) -> str:
    try:
        text = decoder.decode(data, final=final)
    except UnicodeDecodeError as exc:
        raise CsvNotText(f"Bytes that are not {exc.encoding} text.") from None
    if "\x00" in text:
        raise CsvNotText("This looks like a binary file, not a CSV text export.")
    return text


async def records(lines: AsyncIterator[str]) -> AsyncIterator[list[tuple[int, list[str] | None]]]:
    """Batches of (the record's first line number, its fields or None if malformed); a quoted field may span lines."""
    batch: list[tuple[int, list[str] | None]] = []
    record, quotes, line_no, first = "", 0, 0, 0
    async for line in lines:
        line_no += 1
        if not record:
            first = line_no
        record += line
        quotes += line.count('"')
        if quotes % 2:  # inside a quoted field: the record goes on
            continue
        if record.strip():
            batch.append((first, _fields(record)))
        record, quotes = "", 0
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if record.strip():
        batch.append((first, _fields(record)))
    if batch:
        yield batch


def _fields(record: str) -> list[str] | None:
    try:
        return next(csv.reader([record]))
    except csv.Error:  # e.g. a field over the csv module's size limit
        return None


def header_of(fields: list[str] | None) -> list[str]:
    names = [] if fields is None else [name.strip().lstrip("\ufeff").lower() for name in fields]
    missing = [name for name in REQUIRED if name not in names]
    unknown = [name for name in names if name not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(names)) != len(names):
        raise CsvHeaderInvalid(
            "The header must name the columns " + ",".join(REQUIRED) + " (optional: " + ",".join(OPTIONAL) + ").",
            missing=missing,
            unknown=unknown[:10],
        )
    return names


def check_row(names: list[str], fields: list[str] | None) -> CsvRow | str:
    """The row, or why it is refused (a short reason naming the fields, never their values)."""
    if fields is None:
        return "not a well-formed CSV record"
    if len(fields) != len(names):
        return f"expected {len(names)} columns, found {len(fields)}"
    try:
        return CsvRow.model_validate(dict(zip(names, fields, strict=True)))
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])


# --------------------------------------------------------------------------- the use case


async def import_disputes(
    session: AsyncSession,
    seller_id: str,
    chunks: AsyncIterator[bytes],
    *,
    declared_charset: str | None,
    limit: int,
    now: datetime,
) -> ImportResult:
    """Import a seller's dispute list, row by row, with the seller's rules; bad rows are reported, good ones kept."""
    repo = IngestRepository(session)
    seller = await repo.seller(seller_id)
    if seller is None:
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    rules = rules_of(seller)
    return await import_csv(
        repo,
        seller_id,
        chunks,
        declared_charset=declared_charset,
        limit=limit,
        auto=auto_accept_of(rules),
        language=rules.language,
        now=now,
    )


async def import_csv(
    repo: IngestRepository,
    seller_id: str,
    chunks: AsyncIterator[bytes],
    *,
    declared_charset: str | None,
    limit: int,
    auto: AutoAcceptRule | None = None,
    language: Language | None = None,
    now: datetime,
) -> ImportResult:
    result = ImportResult()
    names: list[str] | None = None
    seen: set[str] = set()
    async for batch in records(decoded_lines(chunks, declared=declared_charset, limit=limit)):
        if names is None:
            names = header_of(batch[0][1])
            batch = batch[1:]
        good: list[tuple[int, CsvRow, ReasonCode]] = []
        for line, fields in batch:
            row = check_row(names, fields)
            if isinstance(row, str):
                result.add(line, _id_of(names, fields), "error", "invalid_row", row)
            elif row.dispute_id in seen:
                result.add(line, row.dispute_id, "duplicate")
            elif (reason := row.reason_code or reason_from_network_code(row.raw_reason_code)) is None:
                result.add(line, row.dispute_id, "error", "unknown_reason_code", "no reason_code and no known raw code")
            else:
                seen.add(row.dispute_id)
                good.append((line, row, reason))
        await _store(repo, seller_id, good, result, auto=auto, language=language, now=now)
    if names is None:
        raise CsvHeaderInvalid("The upload has no header line.")
    result.results.sort(key=lambda item: item["line"])
    return result


def _id_of(names: list[str], fields: list[str] | None) -> str | None:
    if fields is None:
        return None
    index = names.index("dispute_id")
    return fields[index].strip()[:64] or None if index < len(fields) else None


async def _store(
    repo: IngestRepository,
    seller_id: str,
    good: list[tuple[int, CsvRow, ReasonCode]],
    result: ImportResult,
    *,
    auto: AutoAcceptRule | None,
    language: Language | None,
    now: datetime,
) -> None:
    if not good:
        return
    good.sort(key=lambda item: item[1].dispute_id)  # one lock order for concurrent imports
    data = {row.dispute_id: _received(seller_id, row, reason, language) for _, row, reason in good}
    values = []
    for _, row, _reason in good:
        value = case_values(data[row.dispute_id], source="import", status=row.status, now=now)
        decided = row.status in (CaseStatus.won, CaseStatus.lost, CaseStatus.partial)
        value["verdict"] = {"outcome": row.status.value, "decided_by": "import"} if decided else None
        values.append(value)
    created = await repo.insert_cases(values)
    events: list[Envelope[Any]] = []
    timeline: list[tuple[str, Envelope[Any] | None, str]] = []
    for line, row, _ in good:
        if row.dispute_id not in created:
            owner = await repo.case(row.dispute_id)
            if owner is not None and owner.seller_id != seller_id:
                result.add(
                    line, row.dispute_id, "error", "dispute_id_conflict", "this dispute id belongs to another case"
                )
            else:
                result.add(line, row.dispute_id, "duplicate")
            continue
        result.add(line, row.dispute_id, "created")
        if row.status in OPEN:
            event = new_event(data[row.dispute_id], source=SOURCE, seller_id=seller_id, time=now)
            events.append(event)
            timeline.append((row.dispute_id, event, row.status.value))
        else:
            timeline.append((row.dispute_id, None, row.status.value))
    await repo.add_import_timeline(timeline, now=now)
    await repo.add_events(*events)
    for event in events:  # open rows are new disputes: the seller's rule applies, as for a webhook
        await apply_seller_rule(repo, event.data.dispute_id, event.data.amount, auto, now=now)


def _received(seller_id: str, row: CsvRow, reason: ReasonCode, language: Language | None) -> DisputeReceivedV1:
    return DisputeReceivedV1(
        dispute_id=row.dispute_id,
        seller_id=seller_id,
        notice_id=f"import:{row.dispute_id}"[:64],
        kind=row.kind,
        order_id=row.order_id,
        amount=Money(value=row.amount, currency=row.currency),
        reason_code=reason,
        raw_reason_code=row.raw_reason_code,
        reason_text=row.reason_text,
        buyer_id=row.buyer_id,
        notified_at=row.notified_at,
        respond_by=row.respond_by,
        language=language,  # the seller's default language at the import
    )
