"""Submit a case (SPEC section 8, issue 18 point 2), its receipt, and completing it after a crash.

`submit` in one request:

1. lock the case row (two concurrent calls for one case queue here; the second then finds the
   submission and is `already_submitted`, or, with the same `Idempotency-Key`, the same answer);
   the key: the same key and request again is answered as before, the same key with another
   request is `idempotency_key_reused`;
2. preflight (`preflight.check`), then fetch every checked file from the evidence service and check
   its sha256, and the checked message logs' messages (`evidence_files`), render each message log
   to its own PDF and the cover letter that lists them, build the ZIP (`package.build`) and store
   it in the package store (`shared/blobs.py`);
3. write the submission row, with the idempotency key the portal honours, and COMMIT it: this is the
   one use case that ends a transaction itself, because the row must exist before the portal call
   (a crash after the call leaves a row the reconciler completes, never a second submission);
4. `http`: call the portal outside any transaction, then record the receipt and add `case.submitted`
   (case row locked first); a refusal of the portal deletes the row again (`portal_rejected`, nothing
   submitted); no answer leaves the row `pending` (202) for the reconciler. `manual`: the row is
   `sent` (ready for upload in WING) and `record_manual_receipt` ends it in the same receipt and event.

`reconcile` is the reconciler's pass (a `WorkerLoop` step, `workers.py`): `pending` rows older than
`reconcile_after_s` ask the portal's status under their key; a receipt completes the row, nothing
there sends the stored package again under the same key (the portal answers one receipt per key).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.submit import evidence_files, letters, package, portals, preflight, readiness
from services.submit.context import SubmitContext
from services.submit.errors import (
    CaseNotFound,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    NotManual,
    PortalRefused,
    SubmissionNotFound,
)
from services.submit.portal import manual
from services.submit.portal.base import PackageUpload, PortalRejected, PortalUnavailable, Receipt
from services.submit.repository import SubmitRepository
from services.submit.schemas import SubmissionOut, SubmitRequest, VerdictOut
from shared.blobs import BlobStore
from shared.contracts import CaseSubmittedV1, EvidenceRef, Money, new_event
from shared.db.session import session_scope
from shared.metrics import count_after_commit
from shared.web.auth import Principal

log = structlog.get_logger(__name__)

SOURCE = "submit"
GENERATED = "generated"  # the provenance `source` of a file submit rendered from an evidence item (a message log)
_EVENTS = uuid.UUID("5d1b6a52-37a4-4c1e-9d0a-8f3e2b7c6a11")  # namespace of our deterministic event ids


def event_id(dispute_id: str, what: str) -> uuid.UUID:
    """One id per fact of a case: a replayed completion adds the same event, never a second one."""
    return uuid.uuid5(_EVENTS, f"{dispute_id}:{what}")


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def _scope(principal: Principal) -> str:
    return principal.seller_id if principal.seller_id is not None else "operator"


def _request_hash(dispute_id: str, body: SubmitRequest) -> str:
    canonical = json.dumps({"path": dispute_id, **body.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _status_of(row: Row[Any]) -> int:
    return 201 if row.state == "receipted" else 202


async def _case_for(repo: SubmitRepository, principal: Principal, dispute_id: str, *, lock: bool = False) -> Row[Any]:
    case = await repo.case(dispute_id, lock=lock)
    if case is None or not principal.can_see(case.seller_id):
        raise CaseNotFound("No such case.", dispute_id=dispute_id)
    return case


async def submit(
    session: AsyncSession,
    ctx: SubmitContext,
    principal: Principal,
    dispute_id: str,
    body: SubmitRequest,
    idempotency_key: str | None,
) -> Answer:
    """The whole submit (module docstring); the answer is also what the same key gets again."""
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise IdempotencyKeyInvalid("An Idempotency-Key is 1 to 255 characters.")
    repo = SubmitRepository(session)
    case = await _case_for(repo, principal, dispute_id, lock=True)
    request_hash = _request_hash(dispute_id, body)
    scope = _scope(principal)
    if idempotency_key is not None:
        held = await repo.idempotency_key(scope, idempotency_key)
        if held is not None:
            if held.request_hash != request_hash:
                raise IdempotencyKeyReused("This Idempotency-Key was used with another request.")
            if held.answer is not None:
                return Answer(held.status_code, held.answer)
            current = await repo.submission(dispute_id)
            if current is not None:
                return Answer(_status_of(current), (await view(repo, current)).model_dump(mode="json"))
    now = ctx.clock.now()
    existing = await repo.submission(dispute_id)
    cleared = preflight.check(
        readiness.facts_of(case),
        readiness.report_of(case),
        due_at=case.due_at,
        submitted=existing is not None,
        confirmation=preflight.Confirmation(body.dispute_id, body.order_id, body.amount, body.report_id),
        now=now,
    )
    choice = await portals.choice_of(session, ctx, case.seller_id)
    built = await _build(ctx, case, cleared, now)
    upload_copy = built.path.with_name(f"upload-{uuid.uuid4().hex}.zip")
    try:
        await anyio.to_thread.run_sync(os.link, built.path, upload_copy)
        await ctx.packages.put(built.path, built.sha256)  # the proof of what was sent, before it is sent
        row = {
            "dispute_id": dispute_id,
            "seller_id": case.seller_id,
            "adapter": choice.adapter,
            "state": "pending" if choice.adapter == "http" else "sent",
            "portal_key": f"dd-{uuid.uuid4()}",
            "report_id": cleared.report.report_id,
            "evidence_set": [ref.model_dump(mode="json") for ref in cleared.report.evidence_set],
            "package_sha256": built.sha256,
            "package_size": built.size,
            "manifest": [entry.as_json() for entry in built.entries],
            "created_at": now,
            "next_check_at": now + timedelta(seconds=ctx.settings.reconcile_after_s)
            if choice.adapter == "http"
            else None,
        }
        await repo.insert_submission(row)
        if idempotency_key is not None:
            await repo.insert_idempotency_key(
                {
                    "scope": scope,
                    "key": idempotency_key,
                    "request_hash": request_hash,
                    "dispute_id": dispute_id,
                    "created_at": now,
                }
            )
        if choice.adapter == "manual":
            count_after_commit(session, ctx.metrics.submissions.labels("manual", "sent"))
            return await _answer(repo, dispute_id, scope, idempotency_key)
        await session.commit()  # the write-ahead: the row (and its key) exist before the portal call
        ctx.wakeup.set()  # the reconciler plans its next look (the row is due in reconcile_after_s)
        portal = portals.http_portal(ctx, case.seller_id, choice)
        upload = PackageUpload(dispute_id, choice.vendor_id, upload_copy, built.sha256, built.size)
        try:
            receipt = await portal.submit(upload, idempotency_key=row["portal_key"])
        except PortalRejected as error:
            await repo.delete_submission(dispute_id)  # nothing was submitted: the seller fixes it and submits again
            if idempotency_key is not None:
                await repo.delete_idempotency_key(scope, idempotency_key)
            await session.commit()
            ctx.metrics.submissions.labels(choice.adapter, "refused").inc()
            log.warning("portal_rejected", dispute_id=dispute_id, status=error.status)
            raise PortalRefused(f"The portal refused the package: {error.reason}", status=error.status) from None
        except PortalUnavailable as error:
            log.warning("portal_unavailable", dispute_id=dispute_id, reason=error.reason)
            await repo.set_check(dispute_id, row["next_check_at"], error.reason)
            count_after_commit(session, ctx.metrics.submissions.labels(choice.adapter, "deferred"))
            return await _answer(repo, dispute_id, scope, None)  # pending: the reconciler completes it
        finally:
            await portal.aclose()
        await complete(session, ctx, dispute_id, receipt)
        return await _answer(repo, dispute_id, scope, idempotency_key)
    finally:
        await _remove(built.path, upload_copy)


async def _remove(*paths: Path) -> None:
    def remove() -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    await anyio.to_thread.run_sync(remove)


async def _answer(repo: SubmitRepository, dispute_id: str, scope: str, idempotency_key: str | None) -> Answer:
    row = await repo.submission(dispute_id)
    assert row is not None
    answer = Answer(_status_of(row), (await view(repo, row)).model_dump(mode="json"))
    if idempotency_key is not None:
        await repo.answer_idempotency_key(scope, idempotency_key, answer.status_code, answer.body)
    return answer


def _amount_text(amount: Money) -> str:
    value = amount.value
    whole, _, frac = value.partition(".")
    sign = "-" if whole.startswith("-") else ""
    grouped = f"{int(whole.lstrip('-') or 0):,}"
    return f"{sign}{grouped}{'.' + frac if frac else ''} {amount.currency}"


async def _build(ctx: SubmitContext, case: Row[Any], cleared: preflight.Cleared, now: datetime) -> package.BuiltPackage:
    """Fetch and check the files, render the message logs and the cover letter, write the ZIP to a staged file."""
    staging = ctx.packages.staging_dir / "build"
    await anyio.to_thread.run_sync(
        functools.partial(staging.mkdir, parents=True, exist_ok=True)
    )  # no download may have made it
    logs = tuple(ref for ref in cleared.report.evidence_set if ref.kind.value == "message_log")
    # Structured items without a file go in as their meta; a message log's is its PDF already.
    records = tuple(ref for ref in cleared.records if ref.kind.value != "message_log")
    fetched = await evidence_files.fetch(
        ctx.evidence,
        case.dispute_id,
        cleared.files,
        staging,
        secret=ctx.settings.auth_secret,
        now=now,
        message_logs=logs,
        records=records,
    )
    evidence = [*fetched.files, *fetched.records]
    try:
        rendered = [await _message_log_pdf(ctx, case.dispute_id, log) for log in fetched.message_logs]
        generated = 1 + len(rendered)  # the cover letter, then one message-log PDF per log
        width = package.name_width(generated + len(evidence))
        lines = [
            letters.EvidenceLine(
                package.file_name(case.dispute_id, nn, pdf.kind, pdf.media_type, width=width), pdf.kind, pdf.sha256
            )
            for nn, pdf in enumerate(rendered, start=2)
        ]
        named = package.evidence_names(case.dispute_id, evidence, letters=generated)
        lines += [letters.EvidenceLine(name, item.kind, item.sha256) for name, item in named]
        timeline = [letters.TimelineEntry(case.notified_at, "분쟁 접수", "收到争议")]
        if case.due_at is not None:
            timeline.append(letters.TimelineEntry(case.due_at, "답변 기한", "答复期限"))
        timeline.append(letters.TimelineEntry(now, "답변서 제출", "提交答复"))
        letter = letters.CoverLetter(
            dispute_id=case.dispute_id,
            order_id=case.order_id,
            seller_name=case.seller_id,
            amount=_amount_text(Money(value=case.amount_value, currency=case.amount_currency)),
            reason_code=case.reason_code,
            timeline=timeline,
            evidence=lines,
            legal_basis=fetched.legal_basis,
        )
        pdf = await anyio.to_thread.run_sync(letters.cover_letter, letter, ctx.font)
        out = staging / f"package-{uuid.uuid4().hex}.zip"
        return await package.build(
            case.dispute_id,
            evidence,
            out,
            letters=[package.generated("cover_letter", "application/pdf", pdf), *rendered],
            report_id=cleared.report.report_id,
        )
    finally:
        await _remove(*fetched.staged)


async def _message_log_pdf(ctx: SubmitContext, dispute_id: str, log: evidence_files.MessageLog) -> package.PackageFile:
    """One message log rendered to its own PDF: kind `message_log`, provenance `generated` from its item."""
    pdf = await anyio.to_thread.run_sync(
        functools.partial(
            letters.message_log,
            dispute_id,
            log.messages,
            ctx.font,
            evidence_id=str(log.evidence_id),
            source=log.source,
        )
    )
    provenance = package.Provenance(evidence_id=log.evidence_id, source=GENERATED)
    return package.generated("message_log", "application/pdf", pdf, provenance)


async def complete(session: AsyncSession, ctx: SubmitContext, dispute_id: str, receipt: Receipt) -> bool:
    """Record the receipt and add `case.submitted`, once: False when another path (the route, the
    reconciler, a second manual receipt) already did."""
    repo = SubmitRepository(session)
    await repo.case(dispute_id, lock=True)  # the case row first, then its event (the order every writer keeps)
    now = ctx.clock.now()
    poll_at = now + timedelta(seconds=ctx.settings.verdict_poll_after_s)
    row = await repo.complete_submission(
        dispute_id,
        {
            "receipt_id": receipt.receipt_id,
            "portal_received_at": receipt.received_at,
            "submitted_at": now,
            "next_check_at": poll_at,
            "last_error": None,
        },
    )
    if row is None:
        return False
    if await repo.verdict(dispute_id) is not None:
        await repo.set_check(dispute_id, None)  # the verdict came first (a callback before our receipt write)
    data = CaseSubmittedV1(
        dispute_id=dispute_id,
        receipt_id=receipt.receipt_id,
        adapter=row.adapter,
        submitted_at=now,
        package_sha256=row.package_sha256,
        evidence_set=tuple(EvidenceRef.model_validate(ref) for ref in row.evidence_set),
    )
    event = new_event(
        data, source=SOURCE, seller_id=row.seller_id, event_id=event_id(dispute_id, "submitted"), time=now
    )
    await repo.add_events(event)
    count_after_commit(session, ctx.metrics.submissions.labels(row.adapter, "receipted"))
    ctx.wakeup.after_commit(session, at=poll_at)
    log.info("case_submitted", dispute_id=dispute_id, adapter=row.adapter)
    return True


async def view(repo: SubmitRepository, row: Row[Any]) -> SubmissionOut:
    verdict = await repo.verdict(row.dispute_id)
    return SubmissionOut(
        dispute_id=row.dispute_id,
        adapter=row.adapter,
        state=row.state,
        receipt_id=row.receipt_id,
        portal_received_at=row.portal_received_at,
        submitted_at=row.submitted_at,
        package_sha256=row.package_sha256,
        package_size=row.package_size,
        report_id=row.report_id,
        evidence_set=row.evidence_set,
        files=row.manifest,
        verdict=None
        if verdict is None
        else VerdictOut(
            outcome=verdict.outcome,
            amount=None
            if verdict.amount_value is None
            else Money(value=verdict.amount_value, currency=verdict.amount_currency),
            policy_clause=verdict.policy_clause,
            summary_zh=verdict.summary_zh,
            suggestions=verdict.suggestions,
            decided_at=verdict.decided_at,
            source=verdict.source,
        ),
    )


async def get_submission(session: AsyncSession, principal: Principal, dispute_id: str) -> SubmissionOut:
    repo = SubmitRepository(session)
    await _case_for(repo, principal, dispute_id)
    row = await repo.submission(dispute_id)
    if row is None:
        raise SubmissionNotFound("The case has no submission.", dispute_id=dispute_id)
    return await view(repo, row)


async def package_of(session: AsyncSession, principal: Principal, dispute_id: str) -> Row[Any]:
    """The submission whose package to stream (its sha256 names the blob)."""
    repo = SubmitRepository(session)
    await _case_for(repo, principal, dispute_id)
    row = await repo.submission(dispute_id)
    if row is None:
        raise SubmissionNotFound("The case has no submission.", dispute_id=dispute_id)
    return row


async def record_manual_receipt(
    session: AsyncSession, ctx: SubmitContext, principal: Principal, dispute_id: str, raw_number: str
) -> SubmissionOut:
    """The WING receipt number of a manual submission: the same receipt and event as the http path."""
    number = manual.receipt_number(raw_number)  # invalid_receipt_number before anything is read
    repo = SubmitRepository(session)
    await _case_for(repo, principal, dispute_id, lock=True)
    row = await repo.submission(dispute_id)
    if row is None:
        raise SubmissionNotFound("The case has no submission.", dispute_id=dispute_id)
    if row.state == "receipted" and row.adapter == "manual" and row.receipt_id == number:
        return await view(repo, row)  # the same number again: already recorded
    if row.adapter != "manual" or row.state != "sent":
        raise NotManual("This submission is not waiting for a WING receipt number.", state=row.state)
    await complete(session, ctx, dispute_id, Receipt(number, ctx.clock.now(), row.package_sha256))
    done = await repo.submission(dispute_id)
    assert done is not None
    return await view(repo, done)


async def materialize(store: BlobStore, sha256: str, directory: Path) -> Path:
    """A stored package as a local file (the portal client streams from a path); the caller deletes it."""
    await anyio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
    path = directory / f"resend-{uuid.uuid4().hex}.zip"
    handle = await anyio.to_thread.run_sync(path.open, "wb")
    try:
        async for chunk in store.chunks(sha256, 1 << 20):
            await anyio.to_thread.run_sync(handle.write, chunk)
    finally:
        await anyio.to_thread.run_sync(handle.close)
    return path


async def reconcile(sessions: async_sessionmaker[AsyncSession], ctx: SubmitContext) -> int:
    """One pass of the reconciler: complete the `pending` http submissions whose call's answer was lost."""
    now = ctx.clock.now()
    s = ctx.settings
    lease = now + timedelta(seconds=max(s.portal_timeout_s * s.portal_max_attempts, 30.0))
    async with session_scope(sessions) as session:
        rows = await SubmitRepository(session).claim_due("pending", now, s.worker_batch, lease)
    done = 0
    for row in rows:
        async with session_scope(sessions) as session:
            choice = await portals.choice_of(session, ctx, row.seller_id)
        portal = portals.http_portal(ctx, row.seller_id, choice)
        resend: Path | None = None
        try:
            status = await portal.status(choice.vendor_id, row.dispute_id, idempotency_key=row.portal_key)
            receipt = status.receipt
            if receipt is None:  # the portal never stored it: send the stored package again, same key
                resend = await materialize(ctx.packages, row.package_sha256, ctx.packages.staging_dir / "build")
                upload = PackageUpload(row.dispute_id, choice.vendor_id, resend, row.package_sha256, row.package_size)
                receipt = await portal.submit(upload, idempotency_key=row.portal_key)
        except (PortalUnavailable, PortalRejected) as error:
            retry = None if isinstance(error, PortalRejected) else now + timedelta(seconds=s.reconcile_after_s)
            log.warning("reconcile_failed", dispute_id=row.dispute_id, reason=error.reason, retry=retry is not None)
            async with session_scope(sessions) as session:
                await SubmitRepository(session).set_check(row.dispute_id, retry, error.reason)
            continue
        finally:
            await portal.aclose()
            if resend is not None:
                await _remove(resend)
        async with session_scope(sessions) as session:
            if await complete(session, ctx, row.dispute_id, receipt):
                done += 1
                log.info("submission_reconciled", dispute_id=row.dispute_id)
    return done
