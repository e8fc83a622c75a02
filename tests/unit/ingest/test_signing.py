"""Webhook signatures, verified with the reference library; and secrets sealed at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from services.ingest.errors import SignatureMismatch, SignatureMissing, SignatureTimestampOutOfRange
from services.ingest.secretbox import new_webhook_secret
from services.ingest.signing import verify, webhook_id
from shared.secretbox import SecretBox

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
BODY = b'{"event": "dispute.opened", "notice_id": "N-1"}'


def headers(*secrets: str, at: datetime = NOW, webhook_id: str = "msg_1") -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(webhook_id, at, BODY.decode()) for secret in secrets)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signatures}


@pytest.fixture
def secret() -> str:
    return new_webhook_secret()


# The library checks the timestamp against the wall clock too, so accepted cases sign at the real now.
def test_a_signature_by_the_sellers_secret_verifies(secret):
    now = datetime.now(UTC)
    assert verify([secret], headers(secret, at=now), BODY, now=now) == "msg_1"


def test_during_rotation_either_secret_and_a_header_with_both_signatures_verify(secret):
    now, new = datetime.now(UTC), new_webhook_secret()
    for signed_by in ([secret], [new], [secret, new], [new_webhook_secret(), new]):
        assert verify([new, secret], headers(*signed_by, at=now), BODY, now=now)


@pytest.mark.parametrize("skew", [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)])
def test_a_timestamp_more_than_five_minutes_away_is_refused_either_way(secret, skew):
    with pytest.raises(SignatureTimestampOutOfRange):
        verify([secret], headers(secret, at=NOW + skew), BODY, now=NOW)


def test_a_wrong_secret_a_tampered_body_or_garbage_is_a_mismatch(secret):
    now = datetime.now(UTC)
    with pytest.raises(SignatureMismatch):
        verify([secret], headers(new_webhook_secret(), at=now), BODY, now=now)
    with pytest.raises(SignatureMismatch):
        verify([secret], headers(secret, at=now), BODY + b" ", now=now)
    with pytest.raises(SignatureMismatch):
        verify([secret], headers(secret, at=now) | {"webhook-signature": "v1,not base64!"}, BODY, now=now)
    with pytest.raises(SignatureMismatch):
        verify([], headers(secret, at=now), BODY, now=now)  # an unknown seller has no secret


def test_missing_headers_are_named(secret):
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        with pytest.raises(SignatureMissing):
            verify([secret], {k: v for k, v in headers(secret).items() if k != name}, BODY, now=NOW)


def test_a_sealed_secret_opens_with_its_key_only_and_keys_rotate():
    secret = new_webhook_secret()
    old, new = "o" * 32, "n" * 32
    sealed = SecretBox(old).seal(secret)
    assert secret.encode() not in sealed
    assert SecretBox(old).open(sealed) == secret
    assert SecretBox(new).open(sealed) is None
    assert SecretBox(f"{new},{old}").open(sealed) == secret  # the old key still opens during key rotation


def test_an_opened_secret_is_kept_but_only_by_the_box_whose_key_opened_it():
    secret, key = new_webhook_secret(), "k" * 40
    box, stranger = SecretBox(key), SecretBox("s" * 40)
    sealed = box.seal(secret)
    assert box.open(sealed) == box.open(bytearray(sealed)) == secret  # second time from memory, any bytes type
    assert stranger.open(sealed) is None  # memory is per box: another key still opens nothing
    assert box.open(box.seal(new_webhook_secret())) != secret  # a rotated secret is another sealed token


def test_header_checks_come_before_any_secret_and_name_the_same_errors(secret):
    now = datetime.now(UTC)
    assert webhook_id(headers(secret, at=now, webhook_id="msg_7"), now=now) == "msg_7"
    with pytest.raises(SignatureMissing):
        webhook_id({k: v for k, v in headers(secret).items() if k != "webhook-signature"}, now=NOW)
    with pytest.raises(SignatureMissing):
        webhook_id(headers(secret, webhook_id="m" * 257), now=NOW)
    with pytest.raises(SignatureTimestampOutOfRange):
        webhook_id(headers(secret, at=NOW - timedelta(minutes=6)), now=NOW)
    with pytest.raises(SignatureTimestampOutOfRange):
        webhook_id(headers(secret) | {"webhook-timestamp": "soon"}, now=NOW)
