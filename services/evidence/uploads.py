"""Uploads and deletes of evidence items: each one a new evidence set, an `evidence.uploaded` event,
and a (debounced) check scheduled for the case.

Order inside one upload: the meta is validated, the staged file's facts are extracted in a worker
thread, the blob is put in the store, and only then is the case row locked (FOR UPDATE) and the item,
its tracking-index row and the event written in the request's transaction. A blob without a row (a
crash before commit) is harmless; a row without its blob cannot happen.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.evidence import runs
from services.evidence.cases import case_of, ensure_open, uploader_of
from services.evidence.checker import (
    ExtractedFacts,
    extract,
    load_ruleset,
    parse_instant,
    resolve_carrier,
    tracking_key,
    tracking_refs,
)
from services.evidence.checker.ocr import OcrOptions
from services.evidence.errors import CaseSubmitted, EvidenceNotFound
from services.evidence.facts import case_facts, evidence_item, facts_json
from services.evidence.intake import StagedFile
from services.evidence.meta import parse_meta
from services.evidence.repository import EvidenceRepository
from shared.blobs import BlobStore
from shared.contracts import Envelope, EvidenceUploadedV1, new_event
from shared.web.auth import Principal
from shared.worker import Wakeup

SOURCE = "evidence"


@dataclass(frozen=True)
class UploadRules:
    """What an upload is held to (from Settings) and the resources it shares with other uploads."""

    blobs: BlobStore
    debounce: runs.Debounce
    max_messages: int
    extract_slots: asyncio.Semaphore  # extractions at once (CPU-bound, in worker threads)
    ocr: OcrOptions | None = None  # OCR of images at upload; None: off


async def check_access(session: AsyncSession, principal: Principal, dispute_id: str) -> None:
    """404 for an unknown or another seller's case, 409 for an accepted or closed one, before the
    body is read (`add_evidence` asks again under the case lock).

    Only reads: the route runs it in `shared.web.db.read_and_release`, so the connection goes back
    to the pool while a large body streams in.
    """
    ensure_open(await case_of(session, principal, dispute_id))


async def add_evidence(
    session: AsyncSession,
    principal: Principal,
    dispute_id: str,
    *,
    meta_text: str | None,
    file: StagedFile | None,
    rules: UploadRules,
    now: datetime,
    wakeup: Wakeup,
    kind_text: str | None = None,
) -> Row[Any]:
    """Store one item (the staged file is moved into the blob store or deleted, whatever happens).

    `kind_text` is the upload's `kind` form part, if any (`meta.parse_meta` reconciles the two).
    """
    try:
        meta = parse_meta(meta_text, has_file=file is not None, max_messages=rules.max_messages, kind_part=kind_text)
        facts = await _extract(file, rules.extract_slots, rules.ocr) if file is not None else None
        if file is not None:
            await rules.blobs.put(file.path, file.sha256)  # before the row: a row always has its blob
    finally:
        if file is not None:
            # Moved by put; after any error, cleaned up. One unlink syscall: not worth a thread hop, and
            # it must also run when the request is being cancelled.
            Path(file.path).unlink(missing_ok=True)  # noqa: ASYNC240
    repo = EvidenceRepository(session)
    case = await case_of(session, principal, dispute_id, lock=True)  # events of one dispute stay in order
    ensure_open(case)  # closed while the body streamed in: the stored blob is harmless (no row names it)
    item = await repo.insert_item(_item_values(case, principal, meta, file, facts, now))
    tracking = _tracking_rows(case, item)
    await repo.index_tracking(tracking)
    await repo.evidence_changed(dispute_id, now=now, delay=rules.debounce.delay, max_wait=rules.debounce.max_wait)
    await repo.add_events(_uploaded_event(case, item, "added", now, carrier=_carrier_of(tracking)))
    wakeup.after_commit(session)  # the checker worker, once this transaction commits
    return item


async def delete_evidence(
    session: AsyncSession,
    principal: Principal,
    dispute_id: str,
    evidence_id: uuid.UUID,
    *,
    debounce: runs.Debounce,
    now: datetime,
    wakeup: Wakeup,
) -> None:
    """Take the item out of the case's evidence set (soft delete: its bytes and provenance stay)."""
    repo = EvidenceRepository(session)
    case = await case_of(session, principal, dispute_id, lock=True)
    item = await repo.item(dispute_id, evidence_id)
    if item is None:
        raise EvidenceNotFound("No evidence item with this id in this case.", evidence_id=str(evidence_id))
    if case.submitted_at is not None:
        raise CaseSubmitted("The case was submitted; its evidence set is what the portal received.")
    ensure_open(case)
    await repo.mark_deleted(evidence_id, at=now, by=uploader_of(principal))
    await repo.unindex_tracking(evidence_id)
    await repo.evidence_changed(dispute_id, now=now, delay=debounce.delay, max_wait=debounce.max_wait)
    await repo.add_events(_uploaded_event(case, item, "deleted", now))
    wakeup.after_commit(session)  # the checker worker, once this transaction commits


async def list_evidence(
    session: AsyncSession, principal: Principal, dispute_id: str, *, include_deleted: bool
) -> tuple[Row[Any], list[Row[Any]]]:
    case = await case_of(session, principal, dispute_id)
    return case, await EvidenceRepository(session).items(dispute_id, include_deleted=include_deleted)


async def evidence_file(
    session: AsyncSession, principal: Principal, dispute_id: str, evidence_id: uuid.UUID
) -> Row[Any]:
    """The item whose bytes are asked for; a deleted item's bytes stay readable (a set validated
    before the delete may have been submitted)."""
    await case_of(session, principal, dispute_id)
    item = await EvidenceRepository(session).item(dispute_id, evidence_id, include_deleted=True)
    if item is None:
        raise EvidenceNotFound("No evidence item with this id in this case.", evidence_id=str(evidence_id))
    return item


# --------------------------------------------------------------------------- helpers


async def _extract(file: StagedFile, slots: asyncio.Semaphore, ocr: OcrOptions | None) -> ExtractedFacts:
    """PDF text, image size, EXIF time and OCR: CPU-bound, so in a worker thread, a few at a time
    (an OCR run is one Tesseract process on one core, so `slots` also bounds the cores it takes)."""
    async with slots:
        return await anyio.to_thread.run_sync(_extract_path, Path(file.path), file.media_type, ocr)


def _extract_path(path: Path, media_type: str, ocr: OcrOptions | None) -> ExtractedFacts:
    return extract(path.read_bytes(), media_type, ocr=ocr)


def _captured_at(meta: dict[str, Any], facts: ExtractedFacts | None) -> datetime | None:
    """Capture time for provenance: meta's, else EXIF's; only with a zone (we never guess one)."""
    for at in (parse_instant(meta.get("captured_at")), facts.exif_time if facts else None):
        if at is not None and at.tzinfo is not None:
            return at
    return None


def _item_values(
    case: Row[Any],
    principal: Principal,
    meta: dict[str, Any],
    file: StagedFile | None,
    facts: ExtractedFacts | None,
    now: datetime,
) -> dict[str, Any]:
    source = meta.get("source")
    return {
        "id": uuid.uuid4(),
        "dispute_id": case.dispute_id,
        "seller_id": case.seller_id,
        "kind": meta["kind"],
        "source": source[:64] if isinstance(source, str) else None,
        "meta": meta,
        "sha256": file.sha256 if file else None,
        "size": file.size if file else None,
        "media_type": file.media_type if file else None,
        "filename": file.filename if file else None,
        "uploader": uploader_of(principal),
        "uploaded_at": now,
        "captured_at": _captured_at(meta, facts),
        "facts": facts_json(facts) if facts is not None else None,
    }


def _tracking_rows(case: Row[Any], item: Row[Any]) -> list[dict[str, Any]]:
    """The item's carrier + tracking number for the seller's reuse index (none without both)."""
    ruleset = load_ruleset()
    rows = []
    for ref in tracking_refs(case_facts(case), [evidence_item(item)]):
        carrier_key, number_key = tracking_key(ruleset, ref.carrier, ref.tracking_number)
        rows.append(
            {
                "evidence_id": item.id,
                "seller_id": case.seller_id,
                "carrier_key": carrier_key[:100],
                "number_key": number_key[:100],
                "carrier": ref.carrier,
                "tracking_number": ref.tracking_number,
                "dispute_id": case.dispute_id,
                "order_id": case.order_id,
            }
        )
    return rows[:1]


def _carrier_of(tracking: list[dict[str, Any]]) -> str | None:
    """The canonical carrier id of the item's tracking row, when the ruleset knows that carrier."""
    for row in tracking:
        found = resolve_carrier(load_ruleset(), row["carrier"])
        if found is not None:
            return found.id
    return None


def _uploaded_event(
    case: Row[Any], item: Row[Any], change: str, now: datetime, *, carrier: str | None = None
) -> Envelope[Any]:
    data = EvidenceUploadedV1(
        dispute_id=case.dispute_id,
        evidence_id=item.id,
        kind=item.kind,
        sha256=item.sha256,
        size=item.size,
        media_type=item.media_type,
        source=item.source,
        captured_at=item.captured_at,
        change=change,  # type: ignore[arg-type]
        carrier=carrier,
    )
    return new_event(data, source=SOURCE, seller_id=case.seller_id, time=now)
