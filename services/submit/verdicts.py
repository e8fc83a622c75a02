"""Verdicts (issue 18, point 4): the portal's signed callback and the poller, each verdict once.

`POST /v1/portal/verdicts` is signed with Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`, the reference library) with `portal_webhook_secret`, the secret the simulator
signs with. `record` keeps one verdict row per case (a duplicate callback, or a poll after the
callback, inserts nothing) and adds exactly one `verdict.returned`, with the Chinese summary and
the suggestions `suggestions.advise` derives from the case's latest findings and the outcome.

`poll` is the poller's pass (a `WorkerLoop` step, `workers.py`): receipted http submissions with no
verdict `verdict_poll_after_s` after their receipt ask the portal's status, then every
`verdict_poll_interval_s` until it says `decided`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.submit import portals, readiness, suggestions
from services.submit.context import SubmitContext
from services.submit.errors import CaseNotFound, VerdictInvalid, VerdictSignatureInvalid
from services.submit.portal.base import PortalRejected, PortalUnavailable
from services.submit.repository import SubmitRepository
from services.submit.schemas import VerdictCallback
from services.submit.submissions import SOURCE, event_id
from shared.contracts import Money, Outcome, VerdictReturnedV1, new_event
from shared.db.session import session_scope
from shared.metrics import count_after_commit

log = structlog.get_logger(__name__)


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> VerdictCallback:
    """The callback's body, once its signature is checked; `signature_invalid` (401) otherwise."""
    try:
        text = body.decode("utf-8")  # the library signs text: bytes that are not UTF-8 cannot verify
        Webhook(secret).verify(text, dict(headers))
    except UnicodeDecodeError:
        raise VerdictSignatureInvalid("The webhook signature does not verify: the body is not UTF-8.") from None
    except WebhookVerificationError as error:
        raise VerdictSignatureInvalid(f"The webhook signature does not verify: {error}.") from None
    try:
        return VerdictCallback.model_validate_json(body)
    except ValidationError:
        raise VerdictInvalid("The body is not a verdict.returned callback.") from None


async def record(
    session: AsyncSession,
    ctx: SubmitContext,
    *,
    dispute_id: str,
    outcome: Outcome,
    amount: Money | None,
    policy_clause: str | None,
    decided_at: datetime | None,
    receipt_id: str | None,
    source: str,
) -> bool:
    """The case's verdict and its one `verdict.returned`; False when it was recorded already."""
    repo = SubmitRepository(session)
    case = await repo.case(dispute_id, lock=True)
    if case is None:
        raise CaseNotFound("No such case.", dispute_id=dispute_id)
    findings = () if (report := readiness.report_of(case)) is None else report.findings
    advice = suggestions.advise(
        outcome,
        dispute_id=dispute_id,
        reason_code=case.reason_code,
        findings=findings,
        amount=amount,
        policy_clause=policy_clause,
    )
    now = ctx.clock.now()
    inserted = await repo.insert_verdict(
        {
            "dispute_id": dispute_id,
            "receipt_id": receipt_id,
            "outcome": outcome,
            "amount_value": None if amount is None else amount.value,
            "amount_currency": None if amount is None else amount.currency,
            "policy_clause": policy_clause,
            "summary_zh": advice.summary,
            "suggestions": list(advice.suggestions),
            "decided_at": decided_at,
            "source": source,
            "recorded_at": now,
        }
    )
    if not inserted:
        log.info("verdict_duplicate", dispute_id=dispute_id, source=source)
        return False
    submission = await repo.submission(dispute_id)
    # Nothing more to poll, once the receipt is ours. A `pending` submission (the portal has the package, our
    # receipt write was lost: a crash, a timeout) keeps its check: the reconciler still records the receipt
    # and its `case.submitted` (`complete` then clears the check, seeing this verdict).
    if submission is not None and submission.state != "pending":
        await repo.set_check(dispute_id, None)
    data = VerdictReturnedV1(
        dispute_id=dispute_id,
        outcome=outcome,
        amount=amount,
        policy_clause=policy_clause,
        summary_zh=advice.summary,
        suggestions=advice.suggestions,
    )
    await repo.add_events(
        new_event(data, source=SOURCE, seller_id=case.seller_id, event_id=event_id(dispute_id, "verdict"), time=now)
    )
    count_after_commit(session, ctx.metrics.verdicts.labels(outcome, source))
    log.info("verdict_recorded", dispute_id=dispute_id, outcome=outcome, source=source)
    return True


async def on_callback(session: AsyncSession, ctx: SubmitContext, body: bytes, headers: Mapping[str, str]) -> bool:
    callback = verify(ctx.settings.portal_webhook_secret, body, headers)
    data = callback.data
    return await record(
        session,
        ctx,
        dispute_id=data.dispute_id,
        outcome=data.outcome,
        amount=data.amount,
        policy_clause=data.policy_clause,
        decided_at=data.decided_at,
        receipt_id=data.receipt_id,
        source="callback",
    )


async def poll(sessions: async_sessionmaker[AsyncSession], ctx: SubmitContext) -> int:
    """One pass of the poller: ask the portal about receipted cases with no verdict yet."""
    now = ctx.clock.now()
    s = ctx.settings
    lease = now + timedelta(seconds=max(s.portal_timeout_s * s.portal_max_attempts, 30.0))
    async with session_scope(sessions) as session:
        rows = await SubmitRepository(session).claim_due("receipted", now, s.worker_batch, lease)
    decided = 0
    for row in rows:
        async with session_scope(sessions) as session:
            choice = await portals.choice_of(session, ctx, row.seller_id)
        portal = portals.http_portal(ctx, row.seller_id, choice)
        try:
            status = await portal.status(choice.vendor_id, row.dispute_id, idempotency_key=row.portal_key)
        except (PortalUnavailable, PortalRejected) as error:
            async with session_scope(sessions) as session:
                retry = now + timedelta(seconds=s.verdict_poll_interval_s)
                await SubmitRepository(session).set_check(row.dispute_id, retry, error.reason)
            continue
        finally:
            await portal.aclose()
        async with session_scope(sessions) as session:
            if status.state == "decided" and status.outcome is not None:
                if await record(
                    session,
                    ctx,
                    dispute_id=row.dispute_id,
                    outcome=status.outcome,
                    amount=None,
                    policy_clause=None,
                    decided_at=None,
                    receipt_id=row.receipt_id,
                    source="poll",
                ):
                    decided += 1
                else:
                    await SubmitRepository(session).set_check(row.dispute_id, None)
            else:
                await SubmitRepository(session).set_check(
                    row.dispute_id, now + timedelta(seconds=s.verdict_poll_interval_s)
                )
    return decided
