"""The CEA HMAC-SHA256 signature of Coupang's Open API (SPEC section 8), pure: the client signs, the simulator checks.

    Authorization: CEA algorithm=HmacSHA256, access-key=<ak>, signed-date=<yyMMddTHHmmssZ>, signature=<hex>

where the signature is the hex HMAC-SHA256, keyed with the secret key, of
`signed-date + method + path + query` (the query without its `?`, as sent).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["CeaAuthorization", "SignatureInvalid", "authorization", "parse", "sign", "signed_date", "verify"]

_DATE = "%y%m%dT%H%M%SZ"
_HEADER = re.compile(
    r"^CEA algorithm=HmacSHA256, access-key=(?P<ak>[^,\s]+), signed-date=(?P<date>\d{6}T\d{6}Z), "
    r"signature=(?P<sig>[0-9a-f]{64})$"
)


class SignatureInvalid(Exception):
    """Why a request's signature was refused (`reason`: safe to answer, names no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CeaAuthorization:
    access_key: str
    signed_date: str
    signature: str


def signed_date(now: datetime) -> str:
    """`yyMMddTHHmmssZ` in UTC."""
    return now.astimezone(UTC).strftime(_DATE)


def sign(secret_key: str, date: str, method: str, path: str, query: str = "") -> str:
    message = f"{date}{method.upper()}{path}{query.removeprefix('?')}"
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def authorization(access_key: str, secret_key: str, method: str, path: str, query: str, now: datetime) -> str:
    date = signed_date(now)
    signature = sign(secret_key, date, method, path, query)
    return f"CEA algorithm=HmacSHA256, access-key={access_key}, signed-date={date}, signature={signature}"


def parse(header: str | None) -> CeaAuthorization:
    if not header:
        raise SignatureInvalid("missing Authorization header")
    match = _HEADER.match(header.strip())
    if match is None:
        raise SignatureInvalid(
            "Authorization is not 'CEA algorithm=HmacSHA256, access-key=…, signed-date=…, signature=…'"
        )
    return CeaAuthorization(match["ak"], match["date"], match["sig"])


def verify(
    header: str | None,
    secret_for: dict[str, str],
    method: str,
    path: str,
    query: str,
    *,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=5),
) -> str:
    """The access key of a correctly signed, fresh request; else `SignatureInvalid` with the reason."""
    auth = parse(header)
    secret = secret_for.get(auth.access_key)
    if secret is None:
        raise SignatureInvalid("unknown access-key")
    try:
        at = datetime.strptime(auth.signed_date, _DATE).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureInvalid("signed-date is not a date") from None
    if abs(now - at) > max_skew:
        raise SignatureInvalid(f"signed-date is more than {int(max_skew.total_seconds())} s from the portal's clock")
    expected = sign(secret, auth.signed_date, method, path, query)
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureInvalid("signature does not match the signed-date, method, path and query")
    return auth.access_key
