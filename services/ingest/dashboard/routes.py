"""The dashboard's routes: pages rendered on the server from the services' HTTP APIs.

Every page verifies the session cookie (session.py), calls the services with the signed-in token
(clients.py) and renders a template (views.py); a panel whose service is down says so and the rest
of the page renders. Every POST is checked for origin and CSRF token, then redirects (303) back to a
page, so a reload never posts twice. Query strings are read by hand: a bad value is ignored or a
readable page, never FastAPI's JSON 422.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from python_multipart.multipart import parse_options_header

from services.ingest.context import Ctx, IngestContext
from services.ingest.dashboard import i18n, remote, session, views
from services.ingest.dashboard.clients import Refused, Services, Unavailable
from services.ingest.dashboard.session import LANG_COOKIE, Session, SignedOut
from shared.web.multipart import MalformedMultipart, MultipartReader, PartHeadersTooLarge

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/dashboard", include_in_schema=False)

T = TypeVar("T")

STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# No inline script or style anywhere, so the policy can forbid both; nothing from another origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SIGN_IN_REASONS = {"signin.required", "signin.expired", "signin.invalid", "signin.signed_out", "signin.forbidden"}
CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
SELLER_ID = re.compile(r"^[^\s\x00-\x1f\x7f/]{1,64}$")
CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,512}$")
PAGE_SIZE = 25
MAX_FORM_BYTES = 16 * 1024


# ------------------------------------------------------------------ rendering


def _lang(request: Request) -> str:
    return i18n.language_of(request.cookies.get(LANG_COOKIE))


def _render(
    request: Request, ctx: IngestContext, template: str, *, status: int = 200, who: Session | None = None, **values: Any
) -> HTMLResponse:
    lang = _lang(request)
    now = ctx.clock.now()
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = views.ENV.get_template(template).render(
        t=views.translator(lang),
        lang=lang,
        html_lang=i18n.HTML_LANG[lang],
        languages=i18n.LANGUAGES,
        who=who,
        csrf=who.csrf if who is not None else "",
        now_iso=views.iso_utc(now),
        now_kst=views.wall(now, views.KST),
        now_beijing=views.wall(now, views.BEIJING),
        here=urlencode({"next": here}),
        v=views,
        **values,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _to_sign_in(request: Request, ctx: IngestContext, reason: str) -> RedirectResponse:
    response = _redirect("/dashboard/sign-in?" + urlencode({"reason": reason}))
    session.clear_session_cookie(response, request, is_local=ctx.settings.is_local)
    return response


def _query(request: Request, name: str, pattern: re.Pattern[str] | None = None) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "" or (pattern is not None and not pattern.match(value)):
        return None
    return value


async def _form(request: Request) -> dict[str, str]:
    """A form's text fields, urlencoded (a browser) or multipart (`curl -F`, `requests` with `files=`), at most
    16 KiB and 20 fields; anything else (a file part, a malformed body) reads as an empty form."""
    media, options = parse_options_header(request.headers.get("content-type", ""))
    if media == b"multipart/form-data":
        return await _multipart_form(request, options.get(b"boundary", b""))
    if media != b"application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items()}


async def _multipart_form(request: Request, boundary: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    size = 0
    try:
        async for part in MultipartReader(request.stream(), boundary):
            if part.filename is not None or len(fields) >= 20:
                return {}
            value = b""
            async for data in part:
                value += data
                size += len(data)
                if size > MAX_FORM_BYTES:
                    return {}
            fields.setdefault(part.name, value.decode("utf-8"))
    except (MalformedMultipart, PartHeadersTooLarge, UnicodeDecodeError):
        return {}
    return fields


def _services(request: Request, ctx: IngestContext, who: Session) -> Services:
    return Services(ctx.settings, request.app, who.token)


async def _panel(service: str, call: Awaitable[T]) -> views.Panel[T]:
    """One panel's call: its value, `absent` on a 404 (nothing there yet), `unavailable` otherwise."""
    try:
        return views.Panel(service, value=await call)
    except Refused as refused:
        if refused.status == 404:
            return views.Panel(service, absent=True)
        log.warning("dashboard_panel_refused", service=service, code=refused.code)
        return views.Panel(service, unavailable=True, refused=refused.code if CODE.match(refused.code) else "error")
    except Unavailable:
        return views.Panel(service, unavailable=True)


def _guarded(
    page: Callable[..., Awaitable[Response]],
) -> Callable[..., Awaitable[Response]]:
    """A page that never answers a stack trace: the session's end is a sign-in, a service's refusal of
    the token too, and anything unexpected a readable error page (logged)."""

    async def run(request: Request, ctx: IngestContext, *args: Any, **kwargs: Any) -> Response:
        try:
            return await page(request, ctx, *args, **kwargs)
        except SignedOut as out:
            return _to_sign_in(request, ctx, out.reason)
        except _ForbiddenError:
            return _forbidden(request, ctx)
        except Refused as refused:
            if refused.status == 401:
                return _to_sign_in(
                    request, ctx, "signin.expired" if refused.code == "token_expired" else "signin.invalid"
                )
            if refused.not_found:
                return _render(request, ctx, "not_found.html", status=404, who=_maybe(request, ctx))
            log.warning("dashboard_refused", service=refused.service, code=refused.code)
            return _render(request, ctx, "error.html", status=400, who=_maybe(request, ctx), service=None)
        except Unavailable as down:
            return _render(request, ctx, "error.html", status=503, who=_maybe(request, ctx), service=down.service)
        except Exception:
            log.exception("dashboard_page_failed", path=request.url.path)
            return _render(request, ctx, "error.html", status=503, who=_maybe(request, ctx), service="ingest")

    return run


def _maybe(request: Request, ctx: IngestContext) -> Session | None:
    try:
        return session.session_of(request, ctx.settings.auth_secret)
    except SignedOut:
        return None


def _who(request: Request, ctx: IngestContext) -> Session:
    return session.session_of(request, ctx.settings.auth_secret)


def _checked_post(request: Request, ctx: IngestContext, form_csrf: str | None) -> Session:
    """The session of a signed-in POST whose origin and CSRF token are ours; else `SignedOut`, or
    `_ForbiddenError` (answered 403 by `_guarded`)."""
    who = _who(request, ctx)
    if not session.same_origin(request) or not session.csrf_ok(who, form_csrf):
        raise _ForbiddenError
    return who


class _ForbiddenError(Exception):
    """A POST from another origin or without this session's CSRF token."""


def _forbidden(request: Request, ctx: IngestContext) -> HTMLResponse:
    return _render(request, ctx, "error.html", status=403, who=_maybe(request, ctx), service=None, forbidden=True)


# ------------------------------------------------------------------ assets and language


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = _STATIC_FILES.get(name)
    if media_type is None:
        return Response(status_code=404)
    return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "public, max-age=300"})


@router.get("/lang/{lang}")
async def switch_language(lang: str, request: Request, ctx: Ctx) -> Response:
    """Remember the language (`dd_lang`) and go back where the switch was pressed."""
    target = request.query_params.get("next", "/dashboard")
    if not target.startswith("/dashboard") or target.startswith("//") or "\\" in target:
        target = "/dashboard"
    response = _redirect(target)
    session.set_lang_cookie(response, request, i18n.language_of(lang), is_local=ctx.settings.is_local)
    return response


# ------------------------------------------------------------------ sign in and out


@router.get("/sign-in")
async def sign_in_page(request: Request, ctx: Ctx) -> Response:
    reason = request.query_params.get("reason")
    return _render(request, ctx, "sign_in.html", message=reason if reason in SIGN_IN_REASONS else None, error=None)


@router.post("/sign-in")
async def sign_in(request: Request, ctx: Ctx) -> Response:
    if not session.same_origin(request):
        return _render(request, ctx, "sign_in.html", status=403, message=None, error="signin.forbidden")
    token = (await _form(request)).get("token", "").strip()
    try:
        who = session.verify(ctx.settings.auth_secret, token)
    except SignedOut as bad:
        return _render(request, ctx, "sign_in.html", status=401, message=None, error=bad.reason)
    response = _redirect("/dashboard")
    session.set_session_cookie(response, request, who.token, is_local=ctx.settings.is_local)
    log.info("dashboard_signed_in", role=who.principal.role.value, seller_id=who.seller_id)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, ctx: Ctx) -> Response:
    form = await _form(request)
    who = _maybe(request, ctx)
    if who is not None and (not session.same_origin(request) or not session.csrf_ok(who, form.get("csrf"))):
        return _forbidden(request, ctx)
    return _to_sign_in(request, ctx, "signin.signed_out")


# ------------------------------------------------------------------ the case list


@router.get("")
async def cases_page(request: Request, ctx: Ctx) -> Response:
    return await _cases_page(request, ctx)


@_guarded
async def _cases_page(request: Request, ctx: IngestContext) -> Response:
    who = _who(request, ctx)
    status = _query(request, "status")
    reason = _query(request, "reason")
    status = status if status in views.CASE_STATUSES else None
    reason = reason if reason in views.REASON_CODES else None
    cursor = _query(request, "cursor", CURSOR)
    async with _services(request, ctx, who) as services:
        listing = await _panel(
            "ingest",
            services.cases(
                statuses=[status] if status else [], reasons=[reason] if reason else [], cursor=cursor, limit=PAGE_SIZE
            ),
        )
    if listing.absent:  # a cursor the API no longer reads: start again
        return _redirect("/dashboard")
    next_url = None
    if listing.value is not None and listing.value.next_cursor:
        params = {k: v for k, v in {"status": status, "reason": reason}.items() if v}
        next_url = "/dashboard?" + urlencode({**params, "cursor": listing.value.next_cursor})
    return _render(
        request,
        ctx,
        "cases.html",
        who=who,
        listing=listing,
        status_filter=status,
        reason_filter=reason,
        cursor=cursor,
        next_url=next_url,
        statuses=views.CASE_STATUSES,
        reasons=views.REASON_CODES,
    )


# ------------------------------------------------------------------ the case page


@router.get("/cases/{dispute_id}")
async def case_page(dispute_id: str, request: Request, ctx: Ctx) -> Response:
    return await _case_page(request, ctx, dispute_id)


@_guarded
async def _case_page(request: Request, ctx: IngestContext, dispute_id: str) -> Response:
    who = _who(request, ctx)
    lang = _lang(request)
    async with _services(request, ctx, who) as services:
        case = await services.case(dispute_id)  # 404 (unknown, another seller's): the not-found page
        owner = None if not who.is_operator else case.seller_id
        risk_call: Awaitable[remote.BuyerRisk | None] = (
            services.buyer_risk(case.buyer_id, owner) if case.buyer_id else _none()
        )
        deadline, evidence, report, templates, submission, risk = await asyncio.gather(
            _panel("deadline", services.deadline(dispute_id)),
            _panel("evidence", services.evidence(dispute_id)),
            _panel("evidence", services.report(dispute_id, lang)),
            _panel("evidence", services.templates(case.reason_code, lang)),
            _panel("submit", services.submission(dispute_id)),
            _panel("ingest", risk_call),
        )
    findings = report.value.findings if report.value is not None else []
    items = views.evidence_views(evidence.value.items if evidence.value is not None else [], findings)
    verdict: remote.Verdict | None = submission.value.verdict if submission.value is not None else None
    if verdict is None and case.verdict and case.verdict.get("summary_zh"):
        verdict = remote.Verdict.model_validate(case.verdict)
    error = _query(request, "error", CODE)
    return _render(
        request,
        ctx,
        "case.html",
        who=who,
        case=case,
        deadline=deadline,
        evidence=evidence,
        items=items,
        report=report,
        templates=templates,
        submission=submission,
        verdict=verdict,
        risk=risk,
        error=error,
        error_known=error is not None and f"problem.{error}" in i18n.STRINGS[lang],
        done=_query(request, "done", CODE),
        unavailable=_query(request, "unavailable", CODE),
        idempotency_key=f"dash-{uuid.uuid4()}",  # one per rendered form: a double click is one submission
        kinds=views.EVIDENCE_KINDS,
        upload_limit_mb=ctx.settings.dashboard_max_upload_bytes // (1024 * 1024),
    )


async def _none() -> None:
    return None


def _back(dispute_id: str, **params: str) -> RedirectResponse:
    from urllib.parse import quote

    query = f"?{urlencode(params)}" if params else ""
    return _redirect(f"/dashboard/cases/{quote(dispute_id, safe='')}{query}")


async def _act(dispute_id: str, action: Awaitable[object]) -> RedirectResponse:
    """Run a POST's one service call and go back to the case page, with what happened in the query."""
    try:
        await action
    except Refused as refused:
        if refused.status == 401:
            raise SignedOut("signin.expired" if refused.code == "token_expired" else "signin.invalid") from None
        return _back(dispute_id, error=refused.code if CODE.match(refused.code) else "error")
    except Unavailable as down:
        return _back(dispute_id, unavailable=down.service)
    return _back(dispute_id)


@router.post("/cases/{dispute_id}/submit")
async def submit_case(dispute_id: str, request: Request, ctx: Ctx) -> Response:
    return await _submit_case(request, ctx, dispute_id)


@_guarded
async def _submit_case(request: Request, ctx: IngestContext, dispute_id: str) -> Response:
    form = await _form(request)
    who = _checked_post(request, ctx, form.get("csrf"))
    key = form.get("idempotency_key", "")
    if not 1 <= len(key) <= 255:
        key = f"dash-{uuid.uuid4()}"
    async with _services(request, ctx, who) as services:
        case = await services.case(dispute_id)
        body: dict[str, Any] = {
            "dispute_id": case.dispute_id,
            "order_id": case.order_id,
            "amount": case.amount.model_dump(),
        }
        report_id = form.get("report_id", "")
        if _is_uuid(report_id):
            body["report_id"] = report_id  # the report the seller saw: an older one than the latest is refused
        return await _act(dispute_id, services.submit(dispute_id, body, key))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.post("/cases/{dispute_id}/check")
async def check_case(dispute_id: str, request: Request, ctx: Ctx) -> Response:
    return await _check_case(request, ctx, dispute_id)


@_guarded
async def _check_case(request: Request, ctx: IngestContext, dispute_id: str) -> Response:
    form = await _form(request)
    who = _checked_post(request, ctx, form.get("csrf"))
    async with _services(request, ctx, who) as services:
        return await _act(dispute_id, services.check(dispute_id, _lang(request)))


class _TooLargeError(Exception):
    pass


@router.post("/cases/{dispute_id}/evidence")
async def upload_evidence(dispute_id: str, request: Request, ctx: Ctx) -> Response:
    return await _upload_evidence(request, ctx, dispute_id)


@_guarded
async def _upload_evidence(request: Request, ctx: IngestContext, dispute_id: str) -> Response:
    """The browser's multipart body streamed through to evidence as it arrives, never held whole.

    Its CSRF token is in the form's action URL (`?csrf=`): the body is not parsed here, and evidence
    would refuse a part it does not know.
    """
    who = _checked_post(request, ctx, request.query_params.get("csrf"))
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return _back(dispute_id, error="malformed_multipart")
    limit = ctx.settings.dashboard_max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _back(dispute_id, error="payload_too_large")
    headers = {"Content-Type": content_type}
    if declared.isdigit():
        headers["Content-Length"] = declared

    async def body() -> AsyncIterator[bytes]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLargeError
            yield chunk

    async with _services(request, ctx, who) as services:
        try:
            answer = await _act(dispute_id, services.upload(dispute_id, body(), headers))
        except _TooLargeError:
            return _back(dispute_id, error="payload_too_large")
    if "?" not in answer.headers["location"]:
        return _back(dispute_id, done="upload")
    return answer


# ------------------------------------------------------------------ preferences and statement


def _seller_of(request: Request, who: Session) -> str | None:
    """The seller a page is about: a seller's own; an operator's `?seller_id=`."""
    if not who.is_operator:
        return who.seller_id
    return _query(request, "seller_id", SELLER_ID)


@router.get("/preferences")
async def preferences_page(request: Request, ctx: Ctx) -> Response:
    return await _preferences_page(request, ctx)


@_guarded
async def _preferences_page(request: Request, ctx: IngestContext) -> Response:
    who = _who(request, ctx)
    seller_id = _seller_of(request, who)
    prefs: views.Panel[dict[str, Any]] = views.Panel("notify", absent=True)
    if seller_id is not None:
        async with _services(request, ctx, who) as services:
            prefs = await _panel("notify", services.preferences(seller_id if who.is_operator else None))
    return _render(request, ctx, "preferences.html", who=who, seller_id=seller_id, prefs=prefs)


@router.get("/statement")
async def statement_page(request: Request, ctx: Ctx) -> Response:
    return await _statement_page(request, ctx)


@_guarded
async def _statement_page(request: Request, ctx: IngestContext) -> Response:
    who = _who(request, ctx)
    seller_id = _seller_of(request, who)
    month = _query(request, "month", MONTH) or _this_month(ctx.clock.now())
    statement: views.Panel[remote.Statement] = views.Panel("ingest", absent=True)
    if seller_id is not None:
        async with _services(request, ctx, who) as services:
            statement = await _panel("ingest", services.statement(seller_id, month))
    return _render(request, ctx, "statement.html", who=who, seller_id=seller_id, month=month, statement=statement)


def _this_month(now: datetime) -> str:
    return now.astimezone(views.KST).strftime("%Y-%m")
