"""HTTP API of the submit service (SPEC section 8): submit, the submission, its package, the manual
receipt, a seller's portal adapter, and the portal's verdict callback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.submit import portals, submissions, verdicts
from services.submit.context import Ctx
from services.submit.errors import VerdictInvalid
from services.submit.repository import SubmitRepository
from services.submit.schemas import (
    PortalSettingsIn,
    PortalSettingsOut,
    ReceiptRequest,
    SubmissionOut,
    SubmitRequest,
)
from shared.blobs import BlobNotFound, open_chunks
from shared.web.auth import OperatorDep, PrincipalDep
from shared.web.db import DbSession

router = APIRouter(prefix="/v1", tags=["submit"])

ID_PATTERN = r"^[^\s\x00-\x1f\x7f/]{1,64}$"  # as evidence and ingest: any id without spaces, controls or /
PathId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
MAX_VERDICT_BYTES = 64 * 1024


@router.post("/cases/{dispute_id}/submit", status_code=201, response_model=SubmissionOut)
async def submit_case(
    dispute_id: PathId,
    body: SubmitRequest,
    ctx: Ctx,
    session: DbSession,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> JSONResponse:
    """201 with the receipt; 202 while the portal's answer is pending (http) or the WING upload is (manual)."""
    answer = await submissions.submit(session, ctx, principal, dispute_id, body, idempotency_key)
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get("/cases/{dispute_id}/submission")
async def get_submission(dispute_id: PathId, session: DbSession, principal: PrincipalDep) -> SubmissionOut:
    return await submissions.get_submission(session, principal, dispute_id)


@router.get("/cases/{dispute_id}/package", response_model=None)
async def get_package(dispute_id: PathId, ctx: Ctx, session: DbSession, principal: PrincipalDep) -> StreamingResponse:
    """The ZIP exactly as built (and sent): its sha256 is the submission's `package_sha256`."""
    row = await submissions.package_of(session, principal, dispute_id)
    try:
        # First piece read here: an unreachable store answers 503 now, not a cut 200 (shared.blobs.open_chunks).
        body = await open_chunks(ctx.packages, row.package_sha256)
    except BlobNotFound:
        # Stored before the submission row (submissions.py): gone, or in another replica's local store.
        raise RuntimeError(f"package {row.package_sha256} of {dispute_id} is missing from the store") from None
    headers = {
        "ETag": f'"{row.package_sha256}"',
        "Content-Length": str(row.package_size),
        "Content-Disposition": f'attachment; filename="{dispute_id}_package.zip"',
    }
    return StreamingResponse(body, media_type="application/zip", headers=headers)


@router.post("/cases/{dispute_id}/submission/receipt")
async def record_receipt(
    dispute_id: PathId, body: ReceiptRequest, ctx: Ctx, session: DbSession, principal: PrincipalDep
) -> SubmissionOut:
    """The WING receipt number of a manual submission (format checked): the same receipt and event as http."""
    return await submissions.record_manual_receipt(session, ctx, principal, dispute_id, body.receipt_number)


@router.put("/sellers/{seller_id}/portal")
async def put_portal(
    seller_id: PathId, body: PortalSettingsIn, ctx: Ctx, session: DbSession, _: OperatorDep
) -> PortalSettingsOut:
    """Operators choose a seller's adapter (`http` with an optional endpoint and vendor id, or `manual`)."""
    await SubmitRepository(session).set_portal(seller_id, body.adapter, body.endpoint, body.vendor_id)
    choice = await portals.choice_of(session, ctx, seller_id)
    return PortalSettingsOut(seller_id=seller_id, **vars(choice))


@router.post("/portal/verdicts", status_code=204, response_model=None)
async def portal_verdict(request: Request, ctx: Ctx, session: DbSession) -> None:
    """The portal's signed verdict (Standard Webhooks); a duplicate is acknowledged and changes nothing."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_VERDICT_BYTES:
        raise VerdictInvalid("The body is too large for a verdict.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_VERDICT_BYTES:
            raise VerdictInvalid("The body is too large for a verdict.")
    await verdicts.on_callback(session, ctx, body, request.headers)
