"""Standard Webhooks verification of a seller's notice, with the reference library.

Headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` (one or more
space-separated `v1,<base64>`). The timestamp must be within 5 minutes of `now`, either way;
the signature must match one of the seller's live secrets (the current one, and the previous
one during its grace period after a rotation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
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
    verified_id = webhook_id(headers, now=now)
    wanted = {name: headers[name] for name in HEADERS}
    for secret in secrets:
        try:
            # The library checks the timestamp again (against the wall clock) and each v1 signature.
            _verifier(secret).verify(body, wanted, json_parse=False)
        except Exception:  # a mismatch, or a header the library cannot parse, or a non-UTF-8 body
            continue
        return verified_id
    raise SignatureMismatch("No signature matches this seller's webhook secret.")
