"""Standard Webhooks verification of a seller's notice, with the reference library.

Headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` (one or more
space-separated `v1,<base64>`). The timestamp must be within 5 minutes of `now`, either way;
the signature must match one of the seller's live secrets (the current one, and the previous
one during its grace period after a rotation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from standardwebhooks import Webhook

from services.ingest.errors import SignatureMismatch, SignatureMissing, SignatureTimestampOutOfRange

TOLERANCE_S = 5 * 60
MAX_ID = 256  # the receipts table's key
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: datetime) -> str:
    """The verified `webhook-id`, or a signature error (none of which says which secret exists)."""
    wanted = {name: headers.get(name) for name in HEADERS}
    if not all(wanted.values()):
        raise SignatureMissing("Send webhook-id, webhook-timestamp and webhook-signature.")
    if len(wanted["webhook-id"]) > MAX_ID:  # type: ignore[arg-type]
        raise SignatureMissing(f"webhook-id is longer than {MAX_ID} characters.")
    try:
        timestamp = float(wanted["webhook-timestamp"])  # type: ignore[arg-type]
    except ValueError:
        raise SignatureTimestampOutOfRange("webhook-timestamp is not unix seconds.") from None
    if abs(timestamp - now.timestamp()) > TOLERANCE_S:
        raise SignatureTimestampOutOfRange("webhook-timestamp is more than 5 minutes from our clock.")
    for secret in secrets:
        try:
            # The library checks the timestamp again (against the wall clock) and each v1 signature.
            Webhook(secret).verify(body, wanted, json_parse=False)  # type: ignore[arg-type]
        except Exception:  # a mismatch, or a header the library cannot parse, or a non-UTF-8 body
            continue
        return wanted["webhook-id"]  # type: ignore[return-value]
    raise SignatureMismatch("No signature matches this seller's webhook secret.")
