"""What a newcomer reads when a signed webhook or an onboarding is refused (issue 19): the details say
what is signed, how to send it and how to recover, with the tolerance the service really uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import services.ingest.main
from tests.harness import service_harness
from tests.integration.ingest.conftest import Ingest, dispute, notice, signed_headers


def _pretty(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, indent=2).encode()


async def test_a_body_sent_with_its_newlines_stripped_is_refused_with_what_is_signed_and_how_to_send_it(
    ingest: Ingest,
):
    seller_id, secret = await ingest.onboard()
    raw = _pretty(notice(dispute()))
    headers = signed_headers(secret, raw)
    # What `curl -d @notice.json` sends: the same file without its newlines.
    stripped = raw.replace(b"\n", b"")
    answer = await ingest.client.post(f"/v1/webhooks/coupang/{seller_id}", content=stripped, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_signature")
    detail = answer.json()["detail"]
    for words in (
        "exact bytes",
        "webhook-id.webhook-timestamp.body",
        "--data-binary @file",
        "-d @file strips newlines",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "±5 min",
        "dd webhook send",
    ):
        assert words in detail, (words, detail)
    # The same bytes as signed, with --data-binary: accepted.
    sent = await ingest.client.post(f"/v1/webhooks/coupang/{seller_id}", content=raw, headers=headers)
    assert sent.status_code == 202, sent.text


async def test_an_unknown_seller_reads_the_same_words_as_a_wrong_secret(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    raw = _pretty(notice(dispute()))
    wrong = await ingest.client.post(
        f"/v1/webhooks/coupang/{seller_id}", content=raw, headers=signed_headers("whsec_" + "eHh4" * 11, raw)
    )
    nobody = await ingest.client.post("/v1/webhooks/coupang/VNOBODY", content=raw, headers=signed_headers(secret, raw))
    assert wrong.json()["code"] == nobody.json()["code"] == "invalid_signature"
    assert wrong.json()["detail"] == nobody.json()["detail"]  # nothing says which sellers or secrets exist


@pytest.mark.parametrize(
    ("shift", "words"),
    [
        (timedelta(minutes=-6), ("has expired", "behind our clock", "±5 min", "Sign each delivery when you send it")),
        (timedelta(minutes=6), ("ahead of our clock", "±5 min", "not milliseconds")),
    ],
)
async def test_a_timestamp_out_of_the_window_says_which_way_and_the_window(ingest: Ingest, shift, words):
    seller_id, secret = await ingest.onboard()
    raw = _pretty(notice(dispute()))
    answer = await ingest.client.post(
        f"/v1/webhooks/coupang/{seller_id}",
        content=raw,
        headers=signed_headers(secret, raw, at=datetime.now(UTC) + shift),
    )
    assert (answer.status_code, answer.json()["code"]) == (401, "signature_timestamp_out_of_range")
    assert answer.json()["tolerance_s"] == 300
    for each in words:
        assert each in answer.json()["detail"], (each, answer.json()["detail"])


async def test_a_missing_header_is_named(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    raw = _pretty(notice(dispute()))
    headers = {k: v for k, v in signed_headers(secret, raw).items() if k != "webhook-signature"}
    answer = await ingest.client.post(f"/v1/webhooks/coupang/{seller_id}", content=raw, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (401, "signature_missing")
    assert answer.json()["detail"].startswith("Missing webhook-signature:")


async def test_the_window_is_the_one_the_settings_give_and_the_details_say_it(infra):
    async with service_harness(infra, services.ingest.main, harness=Ingest, webhook_tolerance_s=90) as ingest:
        seller_id, secret = await ingest.onboard()
        raw = _pretty(notice(dispute()))
        now = datetime.now(UTC)
        late = await ingest.client.post(
            f"/v1/webhooks/coupang/{seller_id}",
            content=raw,
            headers=signed_headers(secret, raw, at=now - timedelta(seconds=120)),
        )
        assert (late.status_code, late.json()["code"]) == (401, "signature_timestamp_out_of_range")
        assert "±90 s" in late.json()["detail"] and late.json()["tolerance_s"] == 90
        wrong = await ingest.client.post(
            f"/v1/webhooks/coupang/{seller_id}", content=raw + b" ", headers=signed_headers(secret, raw)
        )
        assert wrong.json()["code"] == "invalid_signature" and "±90 s" in wrong.json()["detail"]
        inside = await ingest.client.post(
            f"/v1/webhooks/coupang/{seller_id}",
            content=raw,
            headers=signed_headers(secret, raw, at=now - timedelta(seconds=60)),
        )
        assert inside.status_code == 202, inside.text


async def test_onboarding_a_seller_twice_says_how_to_rotate_the_secret_and_mint_a_token(ingest: Ingest):
    seller_id, old = await ingest.onboard()
    body = {"seller_id": seller_id, "name": "again", "contact": "ops@example.cn"}
    again = await ingest.client.post("/v1/sellers", json=body, headers=ingest.operator())
    assert (again.status_code, again.json()["code"]) == (409, "seller_exists")
    detail = again.json()["detail"]
    assert f"POST /v1/sellers/{seller_id}/webhook-secret/rotate" in detail
    assert f"dd token --role seller --seller-id {seller_id}" in detail
    # What it says works: the rotation gives a new secret that signs.
    rotated = await ingest.client.post(again.json()["rotate"], headers=ingest.operator())
    assert rotated.status_code == 200 and rotated.json()["webhook_secret"] != old
    sent = await ingest.deliver(seller_id, rotated.json()["webhook_secret"], notice(dispute()))
    assert sent.status_code == 202, sent.text
