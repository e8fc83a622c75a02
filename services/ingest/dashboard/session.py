"""The dashboard's sign-in session: the bearer token in a cookie, and what makes its forms CSRF-safe.

- `dd_session` holds the token itself (HttpOnly, SameSite=Strict, Path=/dashboard; Secure unless the
  service runs locally over plain HTTP). The page keeps no session of its own: every request verifies
  the token exactly as the API does (`shared.web.auth.decode_token`), and every service it calls
  verifies it again. A forged or expired cookie is a sign-in page with a message, never an error.
- Every POST form of a signed-in page carries `csrf`, an HMAC of the session token under the auth
  secret: per session, nothing stored, useless without the cookie. Every POST (sign-in too, where
  there is no session yet) must also come from this origin: `Origin`, else `Referer`, must be ours;
  a POST with neither is refused, as a browser always sends one of them on a form POST.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import jwt
from fastapi import Request, Response

from shared.web.auth import Principal, decode_token
from shared.web.problems import ProblemError

SESSION_COOKIE = "dd_session"
LANG_COOKIE = "dd_lang"
COOKIE_PATH = "/dashboard"
_CSRF_CONTEXT = b"dd-dashboard-csrf/1:"


@dataclass(frozen=True)
class Session:
    token: str
    principal: Principal
    csrf: str

    @property
    def seller_id(self) -> str | None:
        return self.principal.seller_id

    @property
    def is_operator(self) -> bool:
        return self.principal.is_operator


class SignedOut(Exception):
    """No usable session: `reason` is the sign-in page's message key (`signin.required`, `signin.expired`, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def csrf_token(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), _CSRF_CONTEXT + token.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, token: str) -> Session:
    """The session of `token`, or `SignedOut` with why (the same rules as every API route)."""
    try:
        principal = decode_token(secret, token)
    except ProblemError as refused:
        raise SignedOut("signin.expired" if refused.code == "token_expired" else "signin.invalid") from None
    return Session(token=token, principal=principal, csrf=csrf_token(secret, token))


def session_of(request: Request, secret: str) -> Session:
    token = request.cookies.get(SESSION_COOKIE, "").strip()
    if not token:
        raise SignedOut("signin.required")
    return verify(secret, token)


def _secure(request: Request, is_local: bool) -> bool:
    return request.url.scheme == "https" or not is_local


def set_session_cookie(response: Response, request: Request, token: str, *, is_local: bool) -> None:
    """The cookie lives as long as the token (its `exp`), so the browser drops it when the API would."""
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")  # verified by the caller
    max_age = max(0, int(exp - datetime.now(UTC).timestamp())) if isinstance(exp, int | float) else None
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request, is_local),
    )


def clear_session_cookie(response: Response, request: Request, *, is_local: bool) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request, is_local)
    )


def set_lang_cookie(response: Response, request: Request, lang: str, *, is_local: bool) -> None:
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request, is_local),
    )


def _origin(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return parts.scheme.lower(), parts.netloc.lower()


def same_origin(request: Request) -> bool:
    """Whether the POST came from a page of this origin (`Origin`, else `Referer`; neither: no)."""
    ours = (request.url.scheme.lower(), request.headers.get("host", request.url.netloc).lower())
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and _origin(origin) == ours
    referer = request.headers.get("referer")
    return referer is not None and _origin(referer) == ours


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf, submitted)
