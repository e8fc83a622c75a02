"""HTTP API of the ingest service: routes only (request schema in, one service call, response schema out)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, ValidationError
from sqlalchemy import Row

from services.ingest import billing, buyers, cases, figures, importing, notices, sellers
from services.ingest.context import Ctx, IngestContext
from services.ingest.csv_upload import read_csv_upload
from services.ingest.domain.risk import RiskRule
from services.ingest.errors import MissingSeller, PayloadTooLarge, SellerNotFound
from services.ingest.repository import CaseFilter
from services.ingest.schemas import (
    ID_PATTERN,
    BreakdownOut,
    BuyerDisputeOut,
    BuyerRiskOut,
    CaseDetail,
    CaseList,
    CaseOut,
    DisputeResult,
    ImportAnswer,
    ImportRow,
    Month,
    NoticeAnswer,
    PlanIn,
    RatesIn,
    RatesOut,
    SecretRotated,
    SellerCreate,
    SellerCreated,
    SellerList,
    SellerOut,
    SellerRules,
    StatementOut,
    StatsOut,
    TimelineEntry,
)
from shared.contracts import CaseStatus, ReasonCode
from shared.errors import DomainError
from shared.metrics import count_after_commit
from shared.web.auth import OperatorDep, Principal, PrincipalDep, seller_filter
from shared.web.db import DbSession

router = APIRouter(prefix="/v1", tags=["ingest"])
log = structlog.get_logger(__name__)

# Ids in paths: what we store (1..64 printable, no spaces), so a %00 or an over-long id is a 422, not a 500.
PathId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
QueryText = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


def _seller_out(row: Row[Any]) -> SellerOut:
    return SellerOut.model_validate(row, from_attributes=True)


def _own_seller(principal: Principal, seller_id: str) -> None:
    if not principal.can_see(seller_id):
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)  # not 403: that would confirm it exists


async def _read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is over {limit} bytes.", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over {limit} bytes.", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- the signed webhook
# First of the routes: they are matched in order, and this is the one called at volume.


@router.post("/webhooks/coupang/{seller_id}", status_code=202)
async def coupang_webhook(
    seller_id: PathId, request: Request, response: Response, ctx: Ctx, session: DbSession
) -> NoticeAnswer:
    try:
        body = await _read_limited(request, ctx.settings.webhook_max_body_bytes)
        outcome = await notices.receive_notice(session, seller_id, request.headers, body, ctx=ctx)
    except DomainError as refusal:
        _refused(ctx, seller_id, refusal.code)
        raise
    except ValidationError:  # a body that is JSON but not a notice: 422 validation_error
        _refused(ctx, seller_id, "validation_error")
        raise
    count_after_commit(session, ctx.metrics.webhooks.labels("replayed" if outcome.replayed else "accepted"))
    if outcome.replayed:
        response.status_code = 200  # a repeated webhook-id: acknowledged, nothing changed
    return NoticeAnswer(
        notice_id=outcome.notice_id,
        replayed=outcome.replayed,
        results=[DisputeResult(**vars(result)) for result in outcome.results],
    )


def _refused(ctx: IngestContext, seller_id: str, code: str) -> None:
    """Counted by code (the metric has no seller: too many), logged with the seller for the runbook."""
    ctx.metrics.refused(code)
    log.info("webhook_refused", seller_id=seller_id, code=code)


# --------------------------------------------------------------------------- sellers


@router.post("/sellers", status_code=201)
async def create_seller(body: SellerCreate, ctx: Ctx, session: DbSession, _: OperatorDep) -> SellerCreated:
    settings = ctx.settings
    onboarded = await sellers.onboard_seller(
        session,
        body.seller_id,
        body.name,
        body.contact,
        box=ctx.secret_box,
        auth_secret=settings.auth_secret,
        token_ttl=timedelta(days=settings.seller_token_ttl_days),
        now=ctx.clock.now(),
    )
    return SellerCreated(
        **_seller_out(onboarded.seller).model_dump(), token=onboarded.token, webhook_secret=onboarded.webhook_secret
    )


@router.get("/sellers")
async def list_sellers(
    session: DbSession,
    _: OperatorDep,
    cursor: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SellerList:
    rows, next_cursor = await sellers.list_sellers(session, after=cursor, limit=limit)
    return SellerList(items=[_seller_out(row) for row in rows], next_cursor=next_cursor)


@router.get("/sellers/{seller_id}")
async def get_seller(seller_id: PathId, session: DbSession, principal: PrincipalDep) -> SellerOut:
    _own_seller(principal, seller_id)
    return _seller_out(await sellers.get_seller(session, seller_id))


@router.post("/sellers/{seller_id}/webhook-secret/rotate")
async def rotate_webhook_secret(
    seller_id: PathId, ctx: Ctx, session: DbSession, principal: PrincipalDep
) -> SecretRotated:
    _own_seller(principal, seller_id)
    grace = timedelta(seconds=ctx.settings.webhook_secret_grace_s)
    rotated = await sellers.rotate_secret(session, seller_id, box=ctx.secret_box, grace=grace, now=ctx.clock.now())
    return SecretRotated(**vars(rotated))


@router.get("/sellers/{seller_id}/rules")
async def get_rules(seller_id: PathId, session: DbSession, principal: PrincipalDep) -> SellerRules:
    _own_seller(principal, seller_id)
    return await sellers.get_rules(session, seller_id)


@router.put("/sellers/{seller_id}/rules")
async def put_rules(seller_id: PathId, body: SellerRules, session: DbSession, principal: PrincipalDep) -> SellerRules:
    _own_seller(principal, seller_id)
    await sellers.put_rules(session, seller_id, body)
    return body


# --------------------------------------------------------------------------- fee plans, rates, statements


@router.put("/sellers/{seller_id}/plan")
async def put_plan(seller_id: PathId, body: PlanIn, session: DbSession, _: OperatorDep) -> PlanIn:
    return await billing.set_plan(session, seller_id, body)


@router.get("/sellers/{seller_id}/plan")
async def get_plan(seller_id: PathId, session: DbSession, principal: PrincipalDep) -> PlanIn:
    _own_seller(principal, seller_id)
    return await billing.get_plan(session, seller_id)


@router.put("/rates/{month}")
async def put_rates(month: Month, body: RatesIn, session: DbSession, _: OperatorDep) -> RatesOut:
    return await billing.set_rates(session, month, body)


@router.get("/rates/{month}")
async def get_rates(
    month: Month,
    session: DbSession,
    _: PrincipalDep,
    plan_currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")] = "CNY",
) -> RatesOut:
    return await billing.get_rates(session, month, plan_currency)


@router.get("/sellers/{seller_id}/statement")
async def get_statement(
    seller_id: PathId, month: Annotated[Month, Query()], session: DbSession, principal: PrincipalDep
) -> StatementOut:
    _own_seller(principal, seller_id)
    return await billing.statement(session, seller_id, month)


# --------------------------------------------------------------------------- buyer risk


@router.get("/buyers/{buyer_id}/risk")
async def buyer_risk(
    buyer_id: PathId,
    ctx: Ctx,
    session: DbSession,
    principal: PrincipalDep,
    seller_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
) -> BuyerRiskOut:
    owner = seller_filter(principal, seller_id)
    if owner is None:
        raise MissingSeller("An operator names the seller: ?seller_id=...")
    settings = ctx.settings
    rule = RiskRule(window_days=settings.risk_window_days, min_disputes=settings.risk_min_disputes)
    risk = await buyers.buyer_risk(session, owner, buyer_id, rule=rule, now=ctx.clock.now())
    return BuyerRiskOut(
        buyer_id=buyer_id,
        seller_id=owner,
        window_days=rule.window_days,
        window_start=risk.window_start,
        window_end=risk.window_end,
        min_disputes=rule.min_disputes,
        count=risk.count,
        disputes=[BuyerDisputeOut(**vars(dispute)) for dispute in risk.disputes],
        reasons=risk.reasons,
        outcomes=risk.outcomes,
        abnormal=risk.abnormal,
        note_ko=risk.note_ko,
        note_zh=risk.note_zh,
    )


# --------------------------------------------------------------------------- stats


@router.get("/stats")
async def stats(
    session: DbSession,
    principal: PrincipalDep,
    seller_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> StatsOut:
    """A seller's own figures; an operator's across sellers unless it names one."""
    owner = seller_filter(principal, seller_id)
    result = await figures.seller_figures(session, owner, since=since, until=until)
    return StatsOut(
        seller_id=owner,
        total=result.overall.total,
        win_rate=result.overall.win_rate,
        on_time_rate=result.on_time_rate,
        submitted_on_time=result.on_time,
        submitted_late=result.late,
        expired=result.expired,
        by_status=result.by_status,
        by_reason_code={k: BreakdownOut.of(v) for k, v in result.by_reason.items()},
        by_month={k: BreakdownOut.of(v) for k, v in result.by_month.items()},
        by_carrier={k: BreakdownOut.of(v) for k, v in result.by_carrier.items()},
    )


# --------------------------------------------------------------------------- CSV import


@router.post("/disputes/import")
async def import_disputes(
    request: Request,
    ctx: Ctx,
    session: DbSession,
    principal: PrincipalDep,
    seller_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
    charset: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9._-]+$")] = None,
) -> ImportAnswer:
    """The CSV as the body (`text/csv`) or as the `file` part of a multipart upload; answers per row."""
    owner = seller_filter(principal, seller_id)
    if owner is None:
        raise MissingSeller("An operator names the seller: ?seller_id=...")
    limit = ctx.settings.import_max_body_bytes
    upload = await read_csv_upload(request, charset=charset, limit=limit)
    result = await importing.import_disputes(
        session, owner, upload.chunks, declared_charset=upload.charset, limit=limit, now=ctx.clock.now()
    )
    return ImportAnswer(
        seller_id=owner,
        rows=result.rows,
        created=result.counts["created"],
        duplicate=result.counts["duplicate"],
        errors=result.counts["error"],
        results=[ImportRow.model_validate(row) for row in result.results],
    )


# --------------------------------------------------------------------------- cases


@router.get("/cases")
async def list_cases(
    ctx: Ctx,
    session: DbSession,
    principal: PrincipalDep,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    reason_code: Annotated[list[ReasonCode] | None, Query()] = None,
    due_before: AwareDatetime | None = None,
    q: QueryText = None,
    seller_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
    cursor: Annotated[str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CaseList:
    where = CaseFilter(
        seller_id=seller_filter(principal, seller_id),
        statuses=[s.value for s in status or ()],
        reason_codes=[r.value for r in reason_code or ()],
        due_before=due_before,
        q=q,
    )
    rows, next_cursor = await cases.list_cases(session, where, cursor=cursor, limit=limit)
    now = ctx.clock.now()
    return CaseList(items=[CaseOut.of(row, now) for row in rows], next_cursor=next_cursor)


@router.get("/cases/{dispute_id}")
async def get_case(dispute_id: PathId, ctx: Ctx, session: DbSession, principal: PrincipalDep) -> CaseDetail:
    case, timeline = await cases.get_case(session, principal, dispute_id)
    entries = [
        TimelineEntry(
            event_id=str(row.event_id),
            type=row.type,
            occurred_at=row.occurred_at,
            recorded_at=row.recorded_at,
            applied=row.applied,
            status_before=row.status_before,
            status_after=row.status_after,
            summary=row.summary,
        )
        for row in timeline
    ]
    return CaseDetail.of(case, ctx.clock.now(), timeline=entries)


@router.post("/cases/{dispute_id}/accept")
async def accept_case(dispute_id: PathId, ctx: Ctx, session: DbSession, principal: PrincipalDep) -> CaseOut:
    now = ctx.clock.now()
    return CaseOut.of(await cases.accept_case(session, principal, dispute_id, now=now), now)
