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

TOLERANCE_S = 5 * 60  # SPEC section 3; the service reads DD_INGEST_WEBHOOK_TOLERANCE_S (this by default)
MAX_ID = 256  # the receipts table's key
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def window(tolerance_s: int) -> str:
    """The tolerance as a person reads it: `±5 min`, `±90 s`."""
    return f"±{tolerance_s // 60} min" if tolerance_s % 60 == 0 else f"±{tolerance_s} s"


def mismatch_detail(tolerance_s: int = TOLERANCE_S) -> str:
    """What a refused signature says: how the signature is made, the usual mistake and the tool that avoids it.

    The same words for a wrong secret, a changed body, an unknown seller or a rotated-out secret,
    so the answer never says which secrets exist."""
    return (
        "No signature matches this seller's webhook secret. The signature covers the exact bytes of the body: "
        "webhook-signature is 'v1,' + base64(HMAC-SHA256(secret, 'webhook-id.webhook-timestamp.body')), where "
        "secret is the base64 after 'whsec_' decoded, and the three headers webhook-id, webhook-timestamp "
        f"(unix seconds, within {window(tolerance_s)} of our clock) and webhook-signature are all sent. "
        "Send the file unchanged with curl --data-binary @file (curl -d @file strips newlines, so the bytes "
        "sent are not the bytes signed), or sign and send with: dd webhook send --seller <seller_id> FILE. "
        "After a rotation only the new secret (and the previous one during its grace period) verifies."
    )


def webhook_id(headers: Mapping[str, str], *, now: datetime, tolerance_s: int = TOLERANCE_S) -> str:
    """The `webhook-id` of a delivery whose headers are all there and whose timestamp is within
    the tolerance; a signature error otherwise. Checks nothing secret: it runs before the database."""
    wanted = [headers.get(name) for name in HEADERS]
    if not all(wanted):
        missing = ", ".join(name for name, value in zip(HEADERS, wanted, strict=True) if not value)
        raise SignatureMissing(
            f"Missing {missing}: send all three of webhook-id, webhook-timestamp (unix seconds) and "
            "webhook-signature (v1,<base64 HMAC-SHA256 of 'webhook-id.webhook-timestamp.body'>)."
        )
    webhook_id, stamp = wanted[0], wanted[1]
    if len(webhook_id) > MAX_ID:  # type: ignore[arg-type]
        raise SignatureMissing(f"webhook-id is longer than {MAX_ID} characters.")
    try:
        timestamp = float(stamp)  # type: ignore[arg-type]
    except ValueError:
        raise SignatureTimestampOutOfRange(
            "webhook-timestamp is not unix seconds (an integer such as 1764720000)."
        ) from None
    off = timestamp - now.timestamp()
    if abs(off) > tolerance_s:
        ours = f"our clock reads {int(now.timestamp())} ({now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"
        if off < 0:
            raise SignatureTimestampOutOfRange(
                f"The webhook-timestamp has expired: it is {int(-off)} s behind {ours}, outside the "
                f"{window(tolerance_s)} window. Sign each delivery when you send it, with the current time "
                "(a saved request cannot be sent again later), and check this machine's clock.",
                tolerance_s=tolerance_s,
            )
        raise SignatureTimestampOutOfRange(
            f"The webhook-timestamp is {int(off)} s ahead of {ours}, outside the {window(tolerance_s)} window. "
            "Use unix seconds (not milliseconds) and check this machine's clock.",
            tolerance_s=tolerance_s,
        )
    return webhook_id  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def _verifier(secret: str) -> Webhook:
    # Kept per secret: the library decodes the secret in its constructor. A rotated-out secret
    # is no longer passed in (the database says which are live), so it simply ages out.
    return Webhook(secret)


def verify(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: datetime, tolerance_s: int = TOLERANCE_S
) -> str:
    """The verified `webhook-id`, or a signature error (none of which says which secret exists)."""
    verified_id = webhook_id(headers, now=now, tolerance_s=tolerance_s)  # the timestamp window, on our clock
    mismatch = SignatureMismatch(mismatch_detail(tolerance_s))
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
