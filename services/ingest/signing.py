"""Standard Webhooks verification of a seller's notice, with the reference library.

Headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` (one or more
space-separated `v1,<base64>`). The timestamp must be within 5 minutes of `now`, either way;
the signature must match one of the seller's live secrets (the current one, and the previous
one during its grace period after a rotation).

`now` is the process context's clock (shared.clock), the only clock: the library's own
`Webhook.verify` checks the timestamp again against the wall clock, so we check the window
ourselves and let the library compute the expected `v1` signature (`Webhook.sign`), compared
in constant time as its `verify` does.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from standardwebhooks import Webhook

from services.ingest.errors import SignatureMismatch, SignatureMissing, SignatureTimestampOutOfRange

TOLERANCE_S = 5 * 60
MAX_ID = 256  # the receipts table's key
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def webhook_id(headers: Mapping[str, str], *, now: datetime) -> str:
    """The `webhook-id` of a delivery whose headers are all there and whose timestamp is within
    the tolerance; a signature error otherwise. Checks nothing secret: it runs before the database."""
    wanted = [headers.get(name) for name in HEADERS]
    if not all(wanted):
        raise SignatureMissing("Send webhook-id, webhook-timestamp and webhook-signature.")
    webhook_id, stamp = wanted[0], wanted[1]
    if len(webhook_id) > MAX_ID:  # type: ignore[arg-type]
        raise SignatureMissing(f"webhook-id is longer than {MAX_ID} characters.")
    try:
        timestamp = float(stamp)  # type: ignore[arg-type]
    except ValueError:
        raise SignatureTimestampOutOfRange("webhook-timestamp is not unix seconds.") from None
    if abs(timestamp - now.timestamp()) > TOLERANCE_S:
        raise SignatureTimestampOutOfRange("webhook-timestamp is more than 5 minutes from our clock.")
    return webhook_id  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def _verifier(secret: str) -> Webhook:
    # Kept per secret: the library decodes the secret in its constructor. A rotated-out secret
    # is no longer passed in (the database says which are live), so it simply ages out.
    return Webhook(secret)


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: datetime) -> str:
    """The verified `webhook-id`, or a signature error (none of which says which secret exists)."""
    verified_id = webhook_id(headers, now=now)  # the timestamp window, on our clock
    mismatch = SignatureMismatch("No signature matches this seller's webhook secret.")
    try:
        data = body.decode()
        timestamp = datetime.fromtimestamp(float(headers["webhook-timestamp"]), tz=UTC)
        offered = []
        for versioned in headers["webhook-signature"].split(" "):
            version, signature = versioned.split(",")  # as the library parses them: one comma each
            if version == "v1":
                offered.append(base64.b64decode(signature))
    except Exception:  # a non-UTF-8 body or a signature header the library could not parse either
        raise mismatch from None
    for secret in secrets:
        expected = base64.b64decode(_verifier(secret).sign(verified_id, timestamp, data).split(",")[1])
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return verified_id
    raise mismatch
