"""HTTP API of the evidence service: routes only (request in, one use case, response out)."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.evidence import reports, uploads
from services.evidence.context import Ctx
from services.evidence.errors import NoContent
from services.evidence.intake import read_evidence_upload
from services.evidence.schemas import ID_PATTERN, EvidenceList, EvidenceOut, ReportOut, TemplatesOut
from shared.blobs import BlobNotFound, open_chunks
from shared.web.auth import PrincipalDep
from shared.web.db import DbSession, read_and_release

router = APIRouter(prefix="/v1", tags=["evidence"])

PathId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
Lang = Annotated[
    str | None,
    Query(
        max_length=8,
        description="zh | ko | en; by default the seller's default language (from the case's dispute), else zh",
    ),
]


@router.post("/cases/{dispute_id}/evidence", status_code=201)
async def upload_evidence(
    dispute_id: PathId, request: Request, ctx: Ctx, session: DbSession, principal: PrincipalDep
) -> EvidenceOut:
    """multipart/form-data (`file`, `meta`, `kind`), or an application/json body that is the meta alone."""
    settings = ctx.settings
    async with read_and_release(session):  # the connection is not held while the body streams in
        await uploads.check_access(session, principal, dispute_id)  # 404 before a byte of the body is read
    upload = await read_evidence_upload(
        request,
        staging_dir=ctx.blobs.staging_dir,
        max_bytes=settings.max_upload_bytes,
        max_meta_bytes=settings.max_meta_bytes,
    )
    item = await uploads.add_evidence(
        session,
        principal,
        dispute_id,
        meta_text=upload.meta_text,
        kind_text=upload.kind_text,
        file=upload.file,
        rules=ctx.upload_rules,
        now=ctx.clock.now(),
        wakeup=ctx.wakeup,
    )
    return EvidenceOut.of(item)


@router.get("/cases/{dispute_id}/evidence")
async def list_evidence(
    dispute_id: PathId, session: DbSession, principal: PrincipalDep, include_deleted: bool = False
) -> EvidenceList:
    case, items = await uploads.list_evidence(session, principal, dispute_id, include_deleted=include_deleted)
    return EvidenceList(
        dispute_id=dispute_id,
        due_at=case.due_at,
        set_version=case.set_version,
        items=[EvidenceOut.of(row) for row in items],
    )


@router.get("/cases/{dispute_id}/evidence/{evidence_id}/content", response_model=None)
async def evidence_content(
    dispute_id: PathId, evidence_id: uuid.UUID, request: Request, ctx: Ctx, session: DbSession, principal: PrincipalDep
) -> Response:
    """The stored bytes with their sniffed type; ETag and Digest carry the sha256 (check it)."""
    item = await uploads.evidence_file(session, principal, dispute_id, evidence_id)
    if item.sha256 is None:
        raise NoContent("This item came without a file; its facts are in its meta.", evidence_id=str(evidence_id))
    digest = base64.b64encode(bytes.fromhex(item.sha256)).decode()
    headers = {
        "ETag": f'"{item.sha256}"',
        "Digest": f"sha-256={digest}",  # RFC 3230
        "Repr-Digest": f"sha-256=:{digest}:",  # RFC 9530
        "Cache-Control": "private, max-age=31536000, immutable",  # content-addressed: never changes
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(item.filename or 'evidence', safe='')}",
    }
    if request.headers.get("if-none-match", "").strip() in (f'"{item.sha256}"', "*"):
        return Response(status_code=304, headers=headers)  # content-addressed: the caller has these bytes
    try:
        # First piece read here: an unreachable store answers 503 now, not a cut 200 (shared.blobs.open_chunks).
        body = await open_chunks(ctx.blobs, item.sha256)
    except BlobNotFound:
        # A row always has its blob (uploads.py): gone, or in another replica's local store
        # (DD_BLOB_STORE=local on more than one machine, docs/blob-store.md).
        raise RuntimeError(f"blob {item.sha256} of evidence {evidence_id} is missing from the store") from None
    headers["Content-Length"] = str(item.size)
    return StreamingResponse(body, media_type=item.media_type, headers=headers)


@router.delete("/cases/{dispute_id}/evidence/{evidence_id}", status_code=204)
async def delete_evidence(
    dispute_id: PathId, evidence_id: uuid.UUID, ctx: Ctx, session: DbSession, principal: PrincipalDep
) -> Response:
    await uploads.delete_evidence(
        session,
        principal,
        dispute_id,
        evidence_id,
        debounce=ctx.upload_rules.debounce,
        now=ctx.clock.now(),
        wakeup=ctx.wakeup,
    )
    return Response(status_code=204)


@router.post("/cases/{dispute_id}/evidence/check")
async def check_evidence(
    dispute_id: PathId, ctx: Ctx, session: DbSession, principal: PrincipalDep, lang: Lang = None
) -> ReportOut:
    return ReportOut.model_validate(await reports.check_now(session, principal, dispute_id, lang, now=ctx.clock.now()))


@router.get("/cases/{dispute_id}/report")
async def get_report(dispute_id: PathId, session: DbSession, principal: PrincipalDep, lang: Lang = None) -> ReportOut:
    return ReportOut.model_validate(await reports.latest_report(session, principal, dispute_id, lang))


@router.get("/templates")
async def get_templates(
    principal: PrincipalDep,
    session: DbSession,
    reason_code: Annotated[str, Query(max_length=32)],
    lang: Lang = None,
) -> TemplatesOut:
    return TemplatesOut.model_validate(await reports.templates(session, principal, reason_code, lang))
