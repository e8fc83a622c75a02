"""The CEA signature against a worked example, its header, and every refusal's reason; WING receipt numbers."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.submit.errors import InvalidReceiptNumber
from services.submit.portal import manual
from shared import portal_signing as cea

NOW = datetime(2026, 3, 2, 3, 4, 5, tzinfo=UTC)
KEYS = {"ak-1": "secret-key-1"}


def test_the_signature_is_hex_hmac_sha256_of_date_method_path_and_query():
    # By hand: message = "260302T030405Z" + "GET" + "/v2/providers/x/disputes" + "status=open&page=1"
    message = b"260302T030405ZGET/v2/providers/x/disputesstatus=open&page=1"
    by_hand = hmac.new(b"secret-key-1", message, hashlib.sha256).hexdigest()
    assert by_hand == "97d0b7c02aceded852e629ebe58bd8103459215cefde8a163b124ebfc1e7f914"
    assert cea.signed_date(NOW) == "260302T030405Z"
    assert (
        cea.sign("secret-key-1", "260302T030405Z", "get", "/v2/providers/x/disputes", "?status=open&page=1") == by_hand
    )


def test_the_header_has_the_coupang_shape_and_verifies():
    header = cea.authorization("ak-1", "secret-key-1", "GET", "/v2/providers/x/disputes", "status=open&page=1", NOW)
    assert header == (
        "CEA algorithm=HmacSHA256, access-key=ak-1, signed-date=260302T030405Z, "
        "signature=97d0b7c02aceded852e629ebe58bd8103459215cefde8a163b124ebfc1e7f914"
    )
    assert cea.verify(header, KEYS, "GET", "/v2/providers/x/disputes", "status=open&page=1", now=NOW) == "ak-1"


@pytest.mark.parametrize(
    ("header", "method", "path", "query", "now", "reason"),
    [
        (None, "GET", "/p", "", NOW, "missing Authorization"),
        ("Bearer x", "GET", "/p", "", NOW, "Authorization is not"),
        (cea.authorization("ak-2", "s", "GET", "/p", "", NOW), "GET", "/p", "", NOW, "unknown access-key"),
        (cea.authorization("ak-1", "secret-key-1", "GET", "/p", "", NOW), "POST", "/p", "", NOW, "does not match"),
        (cea.authorization("ak-1", "secret-key-1", "GET", "/p", "a=1", NOW), "GET", "/p", "a=2", NOW, "does not match"),
        (cea.authorization("ak-1", "wrong", "GET", "/p", "", NOW), "GET", "/p", "", NOW, "does not match"),
        (
            cea.authorization("ak-1", "secret-key-1", "GET", "/p", "", NOW - timedelta(minutes=6)),
            *("GET", "/p", "", NOW, "from the portal's clock"),
        ),
    ],
    ids=["missing", "not CEA", "unknown key", "other method", "other query", "other secret", "stale date"],
)
def test_a_bad_signature_is_refused_with_its_reason(header, method, path, query, now, reason):
    with pytest.raises(cea.SignatureInvalid, match=reason):
        cea.verify(header, KEYS, method, path, query, now=now)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("202603015566", "202603015566"), ("WING-2026-0301-5566", "202603015566"), (" 1234 5678 ", "12345678")],
)
def test_a_wing_receipt_number_is_stored_as_its_digits(raw, stored):
    assert manual.receipt_number(raw) == stored


@pytest.mark.parametrize("raw", ["", "1234567", "1" * 21, "12-34--5678", "ABC12345678", "1234_5678", "-12345678"])
def test_a_receipt_number_in_another_format_is_refused(raw):
    with pytest.raises(InvalidReceiptNumber):
        manual.receipt_number(raw)
