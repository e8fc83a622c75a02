"""JWT bearer auth (HS256) shared by every service, and seller scoping of disputes.

A token says who calls: a `seller` (one Coupang seller, sees only its own disputes) or an
`operator` (our staff, sees all). Services check it on their own from the shared secret in
``app.state.auth_secret``: no call to another service, no database look-up.

Claims (SPEC section 3): `role`, `seller_id` (sellers) and `exp` are required and enough, since
other systems mint their own tokens; `iat`, `sub` and the rest are optional, but an `iat` in
the future is refused (no clock-skew allowance, as the SPEC says).

The one access rule is `Principal.can_see(seller_id)`: the owner or an operator, nobody else.
Whoever is refused gets the same answer as for an unknown id, `shared.errors.NotFound` or a
service's subclass of it (404, not 403: a 403 would confirm that the id exists). Both are
plain Python, so a use case applies the rule the same way behind a route or a Kafka handler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from shared.errors import NotFound
from shared.web.problems import ProblemError

__all__ = [
    "ALGORITHM",
    "OperatorDep",
    "Principal",
    "PrincipalDep",
    "Role",
    "current_principal",
    "decode_token",
    "mint_token",
    "require_operator",
    "seller_filter",
]

# The only algorithm we sign with, hence the only one we accept: taking the algorithm from
# the token header is how "alg: none" and key-confusion attacks get in.
ALGORITHM = "HS256"


class Role(StrEnum):
    seller = "seller"
    operator = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    seller_id: str | None  # set for sellers, None for operators

    @property
    def is_operator(self) -> bool:
        return self.role is Role.operator

    def can_see(self, seller_id: str) -> bool:
        """Whether this caller may see `seller_id`'s data: its owner or an operator."""
        return self.is_operator or self.seller_id == seller_id


def mint_token(
    secret: str,
    role: Role | str,
    seller_id: str | None = None,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
) -> str:
    """Sign a token for `role`; a seller token needs `seller_id`, an operator token refuses one."""
    role = Role(role)
    if role is Role.seller and not seller_id:
        raise ValueError("a seller token needs a seller_id")
    if role is Role.operator and seller_id is not None:
        raise ValueError("an operator token is not scoped to a seller")
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": f"seller:{seller_id}" if role is Role.seller else "operator",
        "role": role.value,
        "iat": issued,
        "exp": issued + ttl,
    }
    if seller_id is not None:
        claims["seller_id"] = seller_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _unauthorized(code: str, title: str, detail: str, *, challenge: str) -> ProblemError:
    return ProblemError(401, code, title, detail, headers={"WWW-Authenticate": challenge})


# RFC 6750 section 3: a bad token names the error; a missing one gets the bare challenge.
_BAD_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'


def _invalid_token() -> ProblemError:
    # One answer for every kind of bad token: the reason helps only an attacker.
    return _unauthorized(
        "invalid_token", "Invalid token", "The bearer token is not valid.", challenge=_BAD_TOKEN_CHALLENGE
    )


def decode_token(secret: str, token: str) -> Principal:
    """Verify `token` and return who it speaks for; raise a 401 `ProblemError` otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "role"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized(
            "token_expired", "Token expired", "The bearer token has expired.", challenge=_BAD_TOKEN_CHALLENGE
        ) from None
    except jwt.InvalidTokenError:
        raise _invalid_token() from None

    # PyJWT 2.6+ refuses a future `iat` too, but its maintainers mean to drop that default;
    # the SPEC's rule should not hang on it.
    iat = claims.get("iat")
    if iat is not None and (isinstance(iat, bool) or not isinstance(iat, int | float) or iat > time.time()):
        raise _invalid_token()

    try:
        role = Role(claims["role"])
    except (ValueError, TypeError):
        role = None
    seller_id = claims.get("seller_id")
    if role is None or (role is Role.seller and not (isinstance(seller_id, str) and seller_id)):
        raise _invalid_token()
    return Principal(role=role, seller_id=seller_id if role is Role.seller else None)


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, from ``Authorization: Bearer <token>``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(
            "missing_token",
            "Missing bearer token",
            "Send 'Authorization: Bearer <token>'.",
            challenge="Bearer",
        )
    return decode_token(request.app.state.auth_secret, token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def require_operator(principal: PrincipalDep) -> Principal:
    """FastAPI dependency: the caller, who must be an operator (403 `forbidden` otherwise)."""
    if not principal.is_operator:
        raise ProblemError(403, "forbidden", "Forbidden", "This action is for operators only.")
    return principal


OperatorDep = Annotated[Principal, Depends(require_operator)]


def seller_filter(principal: Principal, requested_seller_id: str | None = None) -> str | None:
    """The seller id a list query must filter on; None means all sellers (operators only).

    A seller always gets its own id back, and asking for another seller's is a 404 like any
    other cross-seller read (`NotFound`).
    """
    if principal.is_operator:
        return requested_seller_id
    if requested_seller_id is not None and not principal.can_see(requested_seller_id):
        raise NotFound("No such resource.")
    return principal.seller_id
