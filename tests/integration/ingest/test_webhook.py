"""Sellers and the signed dispute webhook, over HTTP, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from services.ingest import models
from tests.integration.ingest.conftest import Ingest, dispute, notice

SAMPLES = Path(__file__).parent / "samples"  # copies of /work/shared/samples


async def test_onboarding_shows_a_webhook_secret_once_and_keeps_it_encrypted(ingest: Ingest):
    seller_id = f"V{uuid.uuid4().hex[:8].upper()}"
    body = {"seller_id": seller_id, "name": "Yiwu Goods", "contact": "+86 138 0000 0000"}
    created = await ingest.client.post("/v1/sellers", json=body, headers=ingest.operator())
    assert created.status_code == 201, created.text
    secret = created.json()["webhook_secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24

    shown = await ingest.client.get(
        f"/v1/sellers/{seller_id}", headers={"Authorization": f"Bearer {created.json()['token']}"}
    )
    assert shown.status_code == 200 and "webhook_secret" not in shown.json() and shown.json()["name"] == "Yiwu Goods"
    stored = await ingest.scalar(
        select(models.webhook_secrets.c.secret_encrypted).where(models.webhook_secrets.c.seller_id == seller_id)
    )
    assert secret.encode() not in bytes(stored) and secret.removeprefix("whsec_").encode() not in bytes(stored)

    again = await ingest.client.post("/v1/sellers", json=body, headers=ingest.operator())
    assert (again.status_code, again.json()["code"]) == (409, "seller_exists")


async def test_sellers_are_for_operators_and_a_seller_sees_only_itself(ingest: Ingest):
    mine, _ = await ingest.onboard()
    other, _ = await ingest.onboard()
    body = {"seller_id": "VNEW1", "name": "x", "contact": "y"}
    assert (await ingest.client.post("/v1/sellers", json=body, headers=ingest.seller(mine))).status_code == 403
    assert (await ingest.client.get("/v1/sellers", headers=ingest.seller(mine))).status_code == 403
    assert (await ingest.client.get(f"/v1/sellers/{other}", headers=ingest.seller(mine))).status_code == 404
    rotate = await ingest.client.post(f"/v1/sellers/{other}/webhook-secret/rotate", headers=ingest.seller(mine))
    assert rotate.status_code == 404
    listed = await ingest.client.get("/v1/sellers", params={"limit": 1}, headers=ingest.operator())
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1 and listed.json()["next_cursor"]


async def test_the_sample_notice_becomes_two_cases_and_two_received_events(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    body = (SAMPLES / "notice_two_orders.json").read_bytes()
    answer = await ingest.deliver(seller_id, secret, body)
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [(r["dispute_id"], r["result"]) for r in results] == [
        ("CD-2026-004411", "created"),
        ("CD-2026-004412", "created"),
    ]
    for dispute_id in ("CD-2026-004411", "CD-2026-004412"):
        assert await ingest.outbox_count(dispute_id, "dispute.received") == 1
    case = await ingest.client.get("/v1/cases/CD-2026-004412", headers=ingest.seller(seller_id))
    assert case.json()["reason_code"] == "NOT_AS_DESCRIBED"  # from Visa 13.3
    assert case.json()["respond_by"] == "2026-11-09" and case.json()["status"] == "received"


async def test_a_three_dispute_notice_makes_three_cases_and_three_events_with_their_data(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    disputes = [dispute(), dispute(raw_reason_code="4855", reason_code=None), dispute(kind="platform_dispute")]
    answer = await ingest.deliver(seller_id, secret, notice(*disputes))
    assert answer.status_code == 202
    assert [r["result"] for r in answer.json()["results"]] == ["created"] * 3
    payload = await ingest.scalar(
        select(models.outbox_table.c.payload).where(models.outbox_table.c.key == disputes[1]["dispute_id"])
    )
    event = json.loads(payload)
    assert (event["type"], event["subject"], event["sellerid"]) == (
        "dispute.received",
        disputes[1]["dispute_id"],
        seller_id,
    )
    assert event["data"]["reason_code"] == "NOT_RECEIVED" and event["data"]["raw_reason_code"] == "4855"
    assert event["data"]["amount"] == {"value": "45000", "currency": "KRW"}


async def test_an_unknown_network_code_is_that_disputes_own_error_and_the_others_are_kept(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    good, bad, bare = dispute(), dispute(raw_reason_code="99.9", reason_code=None), dispute(reason_code=None)
    answer = await ingest.deliver(seller_id, secret, notice(good, bad, bare))
    assert answer.status_code == 202
    assert [(r["result"], r["code"]) for r in answer.json()["results"]] == [
        ("created", None),
        ("error", "unknown_reason_code"),
        ("error", "reason_code_missing"),
    ]
    assert await ingest.case_count(bad["dispute_id"]) == 0 and await ingest.outbox_count(bad["dispute_id"]) == 0


async def test_a_repeated_webhook_id_is_acknowledged_with_200_and_changes_nothing(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    body = notice(dispute())
    first = await ingest.deliver(seller_id, secret, body, webhook_id="msg_replay_1")
    again = await ingest.deliver(seller_id, secret, body, webhook_id="msg_replay_1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["replayed"] is True and again.json()["results"] == first.json()["results"]
    assert await ingest.outbox_count(body["disputes"][0]["dispute_id"]) == 1


async def test_a_repeat_of_a_one_dispute_notice_gets_the_first_answer_whatever_that_answer_was(ingest: Ingest):
    """A one-dispute notice's answer is written with its case when the case is new, and rewritten
    when the dispute turned out otherwise: each kind of answer must come back on a repeat as sent."""
    seller_id, secret = await ingest.onboard()
    rules = {"auto_accept": {"below": {"value": "10000", "currency": "KRW"}, "mode": "accept"}}
    put = await ingest.client.put(f"/v1/sellers/{seller_id}/rules", json=rules, headers=ingest.seller(seller_id))
    assert put.status_code == 200
    known = dispute()
    await ingest.deliver(seller_id, secret, notice(known))
    other_seller, other_secret = await ingest.onboard()
    cases = {
        "created": (seller_id, secret, dispute(), ("created", "received")),
        "auto-accepted": (
            seller_id,
            secret,
            dispute(amount={"value": "9900", "currency": "KRW"}),
            ("created", "accepted"),
        ),
        "duplicate": (seller_id, secret, known, ("duplicate", "received")),
        "another seller's": (other_seller, other_secret, known, ("error", None)),
        "refused": (seller_id, secret, dispute(reason_code=None, raw_reason_code="99.9"), ("error", None)),
    }
    for name, (seller, key, item, (result, status)) in cases.items():
        webhook_id = f"msg_{uuid.uuid4().hex}"
        first = await ingest.deliver(seller, key, notice(item), webhook_id=webhook_id)
        assert first.status_code == 202, (name, first.text)
        assert (first.json()["results"][0]["result"], first.json()["results"][0].get("status")) == (result, status), (
            name
        )
        again = await ingest.deliver(seller, key, notice(item), webhook_id=webhook_id)
        assert again.status_code == 200 and again.json()["replayed"] is True, name
        assert again.json()["results"] == first.json()["results"], name
        assert again.json()["notice_id"] == first.json()["notice_id"], name


async def test_a_dispute_seen_before_is_a_duplicate_in_a_later_notice(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    known = dispute()
    await ingest.deliver(seller_id, secret, notice(known))
    fresh = dispute()
    later = await ingest.deliver(
        seller_id, secret, notice(dict(known, amount={"value": "1", "currency": "KRW"}), fresh)
    )
    assert [r["result"] for r in later.json()["results"]] == ["duplicate", "created"]
    assert await ingest.case_count(known["dispute_id"]) == 1 and await ingest.outbox_count(known["dispute_id"]) == 1
    other_seller, other_secret = await ingest.onboard()
    stolen = await ingest.deliver(other_seller, other_secret, notice(known))
    assert stolen.json()["results"][0]["code"] == "dispute_id_conflict"


def _wrong_secret() -> str:
    return "whsec_" + base64.b64encode(b"x" * 32).decode()


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong_secret", "invalid_signature"),
        ("stale", "signature_timestamp_out_of_range"),
        ("future", "signature_timestamp_out_of_range"),
        ("missing_header", "signature_missing"),
        ("tampered_body", "invalid_signature"),
        ("unknown_seller", "invalid_signature"),
    ],
)
async def test_an_unproven_webhook_answers_401_and_stores_nothing(ingest: Ingest, case: str, code: str):
    seller_id, secret = await ingest.onboard()
    body = notice(dispute())
    raw = json.dumps(body).encode()
    from tests.integration.ingest.conftest import signed_headers

    now = datetime.now(UTC)
    headers = {
        "wrong_secret": signed_headers(_wrong_secret(), raw),
        "stale": signed_headers(secret, raw, at=now - timedelta(minutes=5, seconds=10)),
        "future": signed_headers(secret, raw, at=now + timedelta(minutes=5, seconds=10)),
        "missing_header": {k: v for k, v in signed_headers(secret, raw).items() if k != "webhook-timestamp"},
        "tampered_body": signed_headers(secret, raw.replace(b"45000", b"45001")),
        "unknown_seller": signed_headers(secret, raw),
    }[case]
    target = "VNOBODY" if case == "unknown_seller" else seller_id
    answer = await ingest.client.post(f"/v1/webhooks/coupang/{target}", content=raw, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (401, code)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await ingest.case_count(body["disputes"][0]["dispute_id"]) == 0
    receipts = (
        select(func.count()).select_from(models.webhook_receipts).where(models.webhook_receipts.c.seller_id == target)
    )
    assert await ingest.scalar(receipts) == 0


async def test_the_previous_secret_verifies_during_the_grace_period_only(ingest: Ingest):
    seller_id, old = await ingest.onboard()
    rotated = await ingest.client.post(f"/v1/sellers/{seller_id}/webhook-secret/rotate", headers=ingest.operator())
    assert rotated.status_code == 200
    new = rotated.json()["webhook_secret"]
    assert new != old
    assert (await ingest.deliver(seller_id, old, notice(dispute()))).status_code == 202
    assert (await ingest.deliver(seller_id, new, notice(dispute()))).status_code == 202
    assert (await ingest.deliver(seller_id, [old, new], notice(dispute()))).status_code == 202  # both signatures
    # The grace period ends (moved into the past rather than waited out).
    t = models.webhook_secrets
    async with ingest.sessions() as session, session.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(t).where(t.c.seller_id == seller_id, t.c.expires_at.is_not(None)).values(expires_at=past)
        )
    late = await ingest.deliver(seller_id, old, notice(dispute()))
    assert (late.status_code, late.json()["code"]) == (401, "invalid_signature")
    assert (await ingest.deliver(seller_id, new, notice(dispute()))).status_code == 202


@pytest.mark.parametrize(
    ("mutate", "status", "code", "error_type"),
    [
        (lambda n: b'{"event": "dispute.opened", "disputes": [', 400, "malformed_json", None),
        (lambda n: {**n, "extra": 1}, 422, "validation_error", "extra_forbidden"),
        (lambda n: _first(n, amount={"value": "45,000", "currency": "KRW"}), 422, "validation_error", "invalid_amount"),
        (lambda n: _first(n, amount={"value": 45000, "currency": "KRW"}), 422, "validation_error", "invalid_amount"),
        (
            lambda n: _first(n, amount={"value": "45000", "currency": "KRX"}),
            422,
            "validation_error",
            "invalid_currency",
        ),
        (lambda n: {**n, "notified_at": "2026-11-02T09:40:00"}, 422, "validation_error", "timezone_aware"),
        (lambda n: _first(n, dispute_id=""), 422, "validation_error", "string_too_short"),
        (lambda n: _first(n, dispute_id="C" * 65), 422, "validation_error", "string_too_long"),
        (lambda n: _first(n, kind="refund"), 422, "validation_error", "enum"),
        (lambda n: {**n, "event": "dispute.deleted"}, 422, "validation_error", "union_tag_invalid"),
        (lambda n: {**n, "disputes": []}, 422, "validation_error", "too_short"),
        (lambda n: _first(n, reason_text="상품\u0000미수령"), 422, "validation_error", "control_character"),
        (lambda n: [n], 422, "validation_error", "dict_type"),
    ],
)
async def test_bad_input_is_a_problem_with_a_stable_code_and_nothing_is_stored(
    ingest, mutate, status, code, error_type
):
    seller_id, secret = await ingest.onboard()
    body = mutate(notice(dispute()))
    answer = await ingest.deliver(seller_id, secret, body)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    if error_type:
        assert error_type in {e["type"] for e in answer.json()["errors"]}
    outbox = (
        select(func.count())
        .select_from(models.outbox_table)
        .where(models.outbox_table.c.payload.contains(seller_id.encode()))
    )
    assert await ingest.scalar(outbox) == 0
    cases = select(func.count()).select_from(models.cases).where(models.cases.c.seller_id == seller_id)
    assert await ingest.scalar(cases) == 0


def _first(body: dict, **fields) -> dict:
    return {**body, "disputes": [{**body["disputes"][0], **fields}]}


async def test_a_body_over_one_megabyte_is_refused_before_anything_else(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    big = notice(dispute(reason_text="가" * 100), notice_id="N-big")
    raw = json.dumps(big).encode()
    raw = raw[:-1] + b"," + b'"pad": "' + b"x" * (1024 * 1024) + b'"}'
    answer = await ingest.deliver(seller_id, secret, raw)
    assert (answer.status_code, answer.json()["code"]) == (413, "payload_too_large")


async def test_fifty_concurrent_deliveries_of_one_notice_make_one_case_and_one_event(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    body = notice(dispute(), dispute())
    # Half are retries with the same webhook-id, half re-sent with new ids: both must collapse.
    ids = ["msg_same"] * 25 + [f"msg_{n}" for n in range(25)]
    answers = await asyncio.gather(*(ingest.deliver(seller_id, secret, body, webhook_id=i) for i in ids))
    assert {a.status_code for a in answers} <= {200, 202}, [a.text for a in answers if a.status_code >= 300][:2]
    fresh = [a.json() for a in answers if not a.json()["replayed"]]
    assert len(fresh) == 26  # one of the 25 retries, and the 25 re-sent
    assert sum(r["result"] == "created" for a in fresh for r in a["results"]) == 2
    for item in body["disputes"]:
        assert await ingest.case_count(item["dispute_id"]) == 1
        assert await ingest.outbox_count(item["dispute_id"], "dispute.received") == 1


async def test_update_and_close_notices_change_an_open_case_and_emit_dispute_updated(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    item = dispute()
    dispute_id = item["dispute_id"]
    await ingest.deliver(seller_id, secret, notice(item))
    changed = {"dispute_id": dispute_id, "respond_by": "2026-11-12", "reason_text": "상품 미수령"}
    updated = await ingest.deliver(seller_id, secret, notice(changed, event="dispute.updated"))
    assert updated.status_code == 202 and updated.json()["results"][0]["result"] == "updated"
    payload = await ingest.scalar(
        select(models.outbox_table.c.payload).where(
            models.outbox_table.c.key == dispute_id, models.outbox_table.c.topic == "dispute.updated"
        )
    )
    data = json.loads(payload)["data"]
    assert data["change"] == "updated" and data["respond_by"] == "2026-11-12" and data["reason_text"] is None
    same = await ingest.deliver(seller_id, secret, notice(changed, event="dispute.updated"))
    assert same.json()["results"][0]["result"] == "unchanged"

    closing = {"dispute_id": dispute_id, "outcome": "won", "amount": {"value": "45000", "currency": "KRW"}}
    closed = await ingest.deliver(seller_id, secret, notice(closing, event="dispute.closed"))
    assert closed.json()["results"][0] == {
        "dispute_id": dispute_id,
        "result": "closed",
        "status": "won",
        "code": None,
        "detail": None,
    }
    assert await ingest.outbox_count(dispute_id, "dispute.updated") == 2
    late = await ingest.deliver(
        seller_id, secret, notice(changed | {"respond_by": "2026-11-20"}, event="dispute.updated")
    )
    assert late.json()["results"][0]["code"] == "case_not_open"
    nobody = await ingest.deliver(
        seller_id, secret, notice({"dispute_id": "CD-NONE", "outcome": "lost"}, event="dispute.closed")
    )
    assert nobody.json()["results"][0]["code"] == "case_not_found"


async def test_ids_that_could_not_be_stored_are_refused_not_crashed_on(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    long_id = await ingest.deliver(seller_id, secret, notice(dispute()), webhook_id="m" * 300)
    assert (long_id.status_code, long_id.json()["code"]) == (401, "signature_missing")
    for path in ("/v1/cases/CD%00X", "/v1/cases/" + "C" * 65, "/v1/buyers/B%00/risk", "/v1/sellers/V%00/rules"):
        answer = await ingest.client.get(path, headers=ingest.operator())
        assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), path
    nul = await ingest.client.get("/v1/cases", params={"q": "a\x00b"}, headers=ingest.operator())
    assert nul.status_code == 422
    onboard = {"seller_id": "VNUL", "name": "a\x00", "contact": "x"}
    assert (await ingest.client.post("/v1/sellers", json=onboard, headers=ingest.operator())).status_code == 422


async def test_a_new_dispute_is_stored_in_four_round_trips(ingest: Ingest):
    """The webhook's cost is mostly its statements (bench/RESULTS.md): BEGIN, the secrets with the
    receipt claimed, the case statement, COMMIT, and nothing else.

    Counted where they run: asyncpg's query logger on the request's connection sees what goes
    through asyncpg's own API (BEGIN and COMMIT, the statements on `driver_connection`), and
    SQLAlchemy's `before_cursor_execute` sees what SQLAlchemy sends (as prepared statements, which
    the query logger does not report). Neither alone sees everything.
    """
    seller_id, secret = await ingest.onboard()
    statements: list[str] = []

    def head(statement: str) -> str:
        return " ".join(statement.split()[:3])

    def logged(query: Any) -> None:
        statements.append(head(query.query))

    def through_sqlalchemy(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(head(statement))

    watched: list[Any] = []

    def checked_out(dbapi_connection, record, proxy) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(logged)
        watched.append(driver)

    engine = ingest.app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    event.listen(engine.pool, "checkout", checked_out)
    try:
        answer = await ingest.deliver(seller_id, secret, notice(dispute()))
        await asyncio.sleep(0)  # asyncpg reports a query with call_soon: let the last one in
    finally:
        event.remove(engine.pool, "checkout", checked_out)
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)
        for driver in watched:
            driver.remove_query_logger(logged)
    assert answer.status_code == 202 and answer.json()["results"][0]["result"] == "created"
    assert watched, "the request checked out no connection"
    assert statements == ["BEGIN;", "WITH claim AS", "WITH new_case AS", "COMMIT;"], statements


async def test_a_known_webhook_id_with_a_bad_signature_is_refused_not_answered_as_a_replay(ingest: Ingest):
    """The receipt is claimed in the same statement as the secrets are read, before the signature
    is checked: a forger who knows a delivered webhook-id still gets 401, never the first answer."""
    seller_id, secret = await ingest.onboard()
    body = notice(dispute())
    first = await ingest.deliver(seller_id, secret, body, webhook_id="msg_known")
    assert first.status_code == 202
    forged = await ingest.deliver(seller_id, _wrong_secret(), body, webhook_id="msg_known")
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_signature")
    again = await ingest.deliver(seller_id, secret, body, webhook_id="msg_known")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["results"] == first.json()["results"]
