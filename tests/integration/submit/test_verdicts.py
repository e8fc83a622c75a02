"""Verdicts: the simulator's signed callback (once, even when duplicated), a bad signature, an unknown
case, and the poller for a case whose callback never came."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks import Webhook

from services.submit import verdicts
from services.submit.settings import DEV_PORTAL_WEBHOOK_SECRET
from tests.integration.submit.conftest import Submit


async def _wait_for(submit: Submit, dispute_id: str, type_: str, *, seconds: float = 5.0) -> list:
    for _ in range(int(seconds / 0.05)):
        found = await submit.events_of(dispute_id, type_)
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


def _signed(body: dict, secret: str = DEV_PORTAL_WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(body)
    at = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_test", at, payload)
    headers = {"webhook-id": "msg_test", "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}
    return payload.encode(), {**headers, "content-type": "application/json"}


async def test_a_duplicated_callback_emits_one_verdict_returned(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    await submit.fault(fault="duplicate_callback", times=1)
    sent = submit.portal_app.state.portal.callbacks_sent
    assert (await submit.submit(dispute, seller)).status_code == 201
    [verdict] = await _wait_for(submit, dispute, "verdict.returned")
    for _ in range(100):  # both copies delivered
        if submit.portal_app.state.portal.callbacks_sent >= sent + 2:
            break
        await asyncio.sleep(0.05)
    assert submit.portal_app.state.portal.callbacks_sent >= sent + 2
    assert len(await submit.events_of(dispute, "verdict.returned")) == 1
    assert verdict.data.outcome == "won" and verdict.data.summary_zh and verdict.data.suggestions
    assert verdict.data.policy_clause
    got = (await submit.client.get(f"/v1/cases/{dispute}/submission", headers=submit.seller_headers(seller))).json()
    assert got["verdict"]["outcome"] == "won" and got["verdict"]["source"] == "callback"


async def test_a_bad_signature_is_401_and_an_unknown_case_404(submit: Submit) -> None:
    _, dispute = await submit.new_case()
    body = {"type": "verdict.returned", "data": {"dispute_id": dispute, "outcome": "lost"}}
    payload, headers = _signed(body, secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwMTI=")
    bad = await submit.client.post("/v1/portal/verdicts", content=payload, headers=headers)
    assert bad.status_code == 401 and bad.json()["code"] == "signature_invalid"
    assert await submit.events_of(dispute, "verdict.returned") == []
    payload, headers = _signed({"type": "verdict.returned", "data": {"dispute_id": "CD-nobody", "outcome": "won"}})
    unknown = await submit.client.post("/v1/portal/verdicts", content=payload, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "case_not_found"
    payload, headers = _signed({"type": "verdict.returned", "data": {"dispute_id": dispute}})
    invalid = await submit.client.post("/v1/portal/verdicts", content=payload, headers=headers)
    assert invalid.status_code == 422 and invalid.json()["code"] == "verdict_invalid"


async def test_the_poller_brings_the_verdict_when_no_callback_comes(submit: Submit) -> None:
    seller, dispute = await submit.new_case()
    state = submit.portal_app.state.portal
    with_callback = state.settings
    state.settings = with_callback.model_copy(update={"callback_url": None})
    try:
        async with httpx.AsyncClient() as admin:
            rule = {"dispute_id": dispute, "outcome": "lost", "delay_s": 0}
            (await admin.post(f"{submit.portal_url}/admin/verdict-rules", json=rule)).raise_for_status()
        assert (await submit.submit(dispute, seller)).status_code == 201
        await asyncio.sleep(0.2)  # the simulator decides
        assert await verdicts.poll(submit.sessions, submit.context) == 0  # not due yet
        submit.clock.advance(timedelta(seconds=61))
        assert await verdicts.poll(submit.sessions, submit.context) >= 1
    finally:
        state.settings = with_callback
        submit.clock.set(datetime.now(UTC))
    [verdict] = await submit.events_of(dispute, "verdict.returned")
    assert verdict.data.outcome == "lost" and verdict.data.summary_zh and verdict.data.suggestions
    assert await verdicts.poll(submit.sessions, submit.context) == 0


async def test_a_body_that_is_not_utf8_is_a_bad_signature_not_a_crash(submit: Submit) -> None:
    headers = {"webhook-id": "", "webhook-signature": "", "webhook-timestamp": ""}
    answer = await submit.client.post("/v1/portal/verdicts", content=b"\x80", headers=headers)
    assert answer.status_code == 401 and answer.json()["code"] == "signature_invalid"
