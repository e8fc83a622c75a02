"""Every channel against local sinks: signatures checked the vendor's way, failures recorded, never raised.

The HTTP sinks are tiny servers on 127.0.0.1 (tests/integration/notify/sinks.py); the SMTP sink
is aiosmtpd's. Private targets are allowed here (as under `make run`); the refusal of them is
unit-tested in tests/unit/notify/test_targets.py and checked again at send time below.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from datetime import UTC, datetime
from email import message_from_bytes
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notify.channels import ChannelDeps, channel_for
from services.notify.channels.base import Notification
from services.notify.channels.email import EmailChannel, SmtpConfig
from services.notify.channels.fake import FakeChannel
from services.notify.channels.http import HttpSender
from services.notify.channels.webhook import WebhookChannel
from services.notify.preferences import parse_preferences
from services.notify.render import CaseFacts, Money, Renderer
from services.notify.targets import TargetPolicy
from shared.clock import SystemClock
from tests.integration.notify.sinks import Behaviour, HttpSink

WHSEC = "whsec_" + base64.b64encode(b"s" * 32).decode()
DING_SECRET = "SEC" + "0f" * 32
FEISHU_SECRET = "fs3cr3tKeyForTests"
LOCAL = TargetPolicy(https_only=False, allow_private=True)
CLOCK = SystemClock()
NOW = datetime.now(UTC)


def notification(*, text_extra: str = "") -> Notification:
    case = CaseFacts(
        dispute_id="D-77",
        order_id="O-1234",
        amount=Money("125000", "KRW"),
        reason_code="NOT_RECEIVED",
        reason_text="상품 미수령" + text_extra,
        due_at=datetime(2026, 11, 9, 14, 59, tzinfo=UTC),
    )
    message = Renderer("https://desk.example.com").render(
        "dispute.received", {"order_id": "O-1234"}, case, language="zh", now=datetime(2026, 11, 8, 15, 59, tzinfo=UTC)
    )
    return Notification(
        id=uuid.uuid4(),
        event_type="dispute.received",
        occurred_at=NOW,
        seller_id="S-1",
        dispute_id="D-77",
        message=message,
        language="zh",
    )


@pytest.fixture
async def http():
    sender = HttpSender(LOCAL, total_timeout_s=2.0, connect_timeout_s=1.0, max_response_bytes=4096)
    yield sender
    await sender.aclose()


def deps(http: HttpSender, smtp: SmtpConfig | None = None) -> ChannelDeps:
    return ChannelDeps(http=http, clock=CLOCK, smtp=smtp)


def channel(config: dict, http: HttpSender, smtp: SmtpConfig | None = None):
    return channel_for(parse_preferences({"channels": [config]}).channels[0], deps(http, smtp))


async def test_a_webhook_verifies_with_the_standardwebhooks_library_and_keeps_its_id_across_attempts(http):
    answers = iter([Behaviour(status=500), Behaviour(status=503), Behaviour(status=204, body=b"")])
    async with HttpSink(lambda _: next(answers)) as sink:
        hook = channel({"type": "webhook", "url": sink.url + "/hooks", "secret": WHSEC}, http)
        note = notification()
        results = [await hook.send(note) for _ in range(3)]
    assert [r.delivered for r in results] == [False, False, True]
    assert [r.status_code for r in results] == [500, 503, 204] and results[0].error == "http_500"
    ids = {request.headers["webhook-id"] for request in sink.received}
    assert ids == {str(note.id)}
    for request in sink.received:
        payload = Webhook(WHSEC).verify(request.body, request.headers)  # raises on a bad signature
        assert payload["type"] == "dispute.received"
        assert payload["data"]["dispute_id"] == "D-77" and payload["data"]["order_id"] == "O-1234"
        assert "北京时间" in payload["data"]["text"] and payload["data"]["title"].startswith("【新争议】")
        assert request.headers["host"] == f"127.0.0.1:{sink.port}"


async def test_a_webhook_signed_with_another_secret_does_not_verify(http):
    async with HttpSink() as sink:
        other = "whsec_" + base64.b64encode(b"t" * 32).decode()
        await WebhookChannel(http, sink.url, other, clock=CLOCK).send(notification())
    with pytest.raises(WebhookVerificationError):
        Webhook(WHSEC).verify(sink.received[0].body, sink.received[0].headers)


def _dingtalk_check(request) -> Behaviour:
    query = parse_qs(urlsplit(request.target).query)
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    expected = base64.b64encode(
        hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    fresh = abs(int(timestamp) - time.time() * 1000) < 3_600_000
    ok = hmac.compare_digest(sign, expected) and fresh and query["access_token"] == ["tok"]
    body = json.loads(request.body)
    ok = ok and body["msgtype"] == "markdown" and "O-1234" in body["markdown"]["text"]
    return Behaviour(
        body=json.dumps({"errcode": 0 if ok else 310000, "errmsg": "ok" if ok else "sign not match"}).encode()
    )


async def test_dingtalk_signs_the_way_dingtalk_checks(http):
    async with HttpSink(_dingtalk_check) as sink:
        good = channel(
            {"type": "dingtalk", "url": sink.url + "/robot/send?access_token=tok", "secret": DING_SECRET}, http
        )
        bad = channel(
            {"type": "dingtalk", "url": sink.url + "/robot/send?access_token=tok", "secret": "SEC" + "1" * 64}, http
        )
        assert (await good.send(notification())).delivered
        refused = await bad.send(notification())
    assert not refused.delivered and refused.status_code == 200 and refused.error == "errcode 310000"


def _feishu_check(request) -> Behaviour:
    body = json.loads(request.body)
    if "timestamp" not in body:
        return Behaviour(
            body=json.dumps({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}).encode()
        )
    key = f"{body['timestamp']}\n{FEISHU_SECRET}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    ok = hmac.compare_digest(body.get("sign", ""), expected) and abs(int(body["timestamp"]) - time.time()) < 3600
    ok = (
        ok and body["msg_type"] == "interactive" and body["card"]["header"]["title"]["content"].startswith("【新争议】")
    )
    return Behaviour(
        body=json.dumps({"code": 0 if ok else 19021, "msg": "success" if ok else "sign match fail"}).encode()
    )


async def test_feishu_signs_the_way_feishu_checks(http):
    async with HttpSink(_feishu_check) as sink:
        good = channel({"type": "feishu", "url": sink.url + "/open-apis/bot/v2/hook/x", "secret": FEISHU_SECRET}, http)
        unsigned = channel({"type": "feishu", "url": sink.url + "/open-apis/bot/v2/hook/x"}, http)
        assert (await good.send(notification())).delivered
        assert (await unsigned.send(notification())).error == "code 19021"


async def test_wecom_and_slack_send_their_documented_shapes(http):
    def answer(request):
        body = json.loads(request.body)
        if request.target.startswith("/cgi-bin/webhook/send"):
            ok = body["msgtype"] == "markdown" and "O-1234" in body["markdown"]["content"]
            return Behaviour(body=json.dumps({"errcode": 0 if ok else 40008, "errmsg": "ok"}).encode())
        ok = body["blocks"][0]["type"] == "header" and "&lt;b&gt;" in body["blocks"][1]["text"]["text"]
        return Behaviour(status=200 if ok else 400, body=b"ok" if ok else b"invalid_payload")

    async with HttpSink(answer) as sink:
        wecom = channel({"type": "wecom", "url": sink.url + "/cgi-bin/webhook/send?key=k"}, http)
        slack = channel({"type": "slack", "url": sink.url + "/services/T/B/X"}, http)
        assert (await wecom.send(notification())).delivered
        assert (await slack.send(notification(text_extra="<b>"))).delivered


async def test_a_slow_sink_is_a_timeout_not_a_hang(http):
    async with HttpSink(lambda _: Behaviour(delay_s=5)) as sink:
        started = time.perf_counter()
        result = await channel({"type": "slack", "url": sink.url}, http).send(notification())
    assert result.error == "timeout" and not result.delivered and time.perf_counter() - started < 3.5


async def test_a_dripping_sink_is_cut_by_the_total_deadline(http):
    async with HttpSink(lambda _: Behaviour(body=b"x" * 100, drip_s=0.2)) as sink:
        started = time.perf_counter()
        result = await channel({"type": "slack", "url": sink.url}, http).send(notification())
    assert result.error == "timeout" and time.perf_counter() - started < 3.5


async def test_a_huge_answer_is_read_only_up_to_the_cap(http):
    async with HttpSink(lambda _: Behaviour(body=b"{", huge=50 * 1024 * 1024)) as sink:
        started = time.perf_counter()
        result = await channel({"type": "wecom", "url": sink.url}, http).send(notification())
    assert not result.delivered and result.error == "unreadable_answer" and time.perf_counter() - started < 3


async def test_a_redirect_is_not_followed(http):
    async with HttpSink(lambda r: Behaviour(status=302, headers={"Location": "http://169.254.169.254/"})) as sink:
        result = await channel({"type": "webhook", "url": sink.url, "secret": WHSEC}, http).send(notification())
    assert result.status_code == 302 and result.error == "redirect_not_followed" and not result.delivered
    assert len(sink.received) == 1


async def test_410_says_gone_and_429_carries_retry_after(http):
    async with HttpSink(
        lambda r: (
            Behaviour(status=410) if r.target == "/gone" else Behaviour(status=429, headers={"Retry-After": "120"})
        )
    ) as sink:
        gone = await channel({"type": "slack", "url": sink.url + "/gone"}, http).send(notification())
        limited = await channel({"type": "slack", "url": sink.url + "/busy"}, http).send(notification())
    assert gone.gone and gone.status_code == 410 and not gone.delivered
    assert not limited.gone and limited.status_code == 429 and limited.retry_after_s == 120


async def test_a_refused_connection_is_a_recorded_failure(http):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await channel({"type": "slack", "url": f"http://127.0.0.1:{port}/"}, http).send(notification())
    assert not result.delivered and result.status_code is None and result.error.startswith("transport_error")


async def test_the_target_is_checked_again_at_send_time():
    production = HttpSender(TargetPolicy(https_only=True, allow_private=False))
    try:
        async with HttpSink() as sink:
            result = await WebhookChannel(production, sink.url, WHSEC, clock=CLOCK).send(notification())
            loopback = await WebhookChannel(production, f"https://127.0.0.1:{sink.port}/", WHSEC, clock=CLOCK).send(
                notification()
            )
            metadata = await WebhookChannel(
                HttpSender(LOCAL), "http://169.254.169.254/latest/meta-data/", WHSEC, clock=CLOCK
            ).send(notification())
    finally:
        await production.aclose()
    assert result.error == "target_https_required" and loopback.error == "target_loopback"
    assert metadata.error == "target_metadata_address"
    assert sink.received == []


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp_sink():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


async def test_email_sends_a_plain_and_an_html_part(smtp_sink):
    mailbox, port = smtp_sink
    config = SmtpConfig(host="127.0.0.1", port=port, sender="desk@example.com", timeout_s=5)
    result = await EmailChannel(config, ["ops@example.com", "boss@example.com"], clock=CLOCK).send(
        notification(text_extra=" <script>x</script>")
    )
    assert result.delivered and result.status_code == 250
    ((sender, recipients, raw),) = mailbox.messages
    assert sender == "desk@example.com" and recipients == ["ops@example.com", "boss@example.com"]
    mail = message_from_bytes(raw)
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert mail.get_content_type() == "multipart/alternative"
    assert "22:59 北京时间" in parts["text/plain"] and "<script>" in parts["text/plain"]
    assert "&lt;script&gt;" in parts["text/html"] and "<script>" not in parts["text/html"]


async def test_an_unreachable_smtp_server_is_a_recorded_failure():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = SmtpConfig(host="127.0.0.1", port=port, sender="desk@example.com", timeout_s=2)
    result = await EmailChannel(config, ["ops@example.com"], clock=CLOCK).send(notification())
    assert not result.delivered and result.error is not None


async def test_the_fake_channel_records_and_answers_from_its_script():
    from services.notify.channels.base import DeliveryResult

    fake = FakeChannel([DeliveryResult(False, 500, 1.0, error="http_500")])
    note = notification()
    assert not (await fake.send(note)).delivered and (await fake.send(note)).delivered
    assert fake.sent == [note, note]


async def test_many_sends_at_once_do_not_block_each_other(http):
    async with HttpSink(lambda r: Behaviour(delay_s=5) if r.target == "/slow" else Behaviour()) as sink:
        slow = channel({"type": "slack", "url": sink.url + "/slow"}, http)
        fast = channel({"type": "slack", "url": sink.url + "/fast"}, http)
        started = time.perf_counter()
        results = await asyncio.gather(slow.send(notification()), *(fast.send(notification()) for _ in range(5)))
    assert results[0].error == "timeout" and all(r.delivered for r in results[1:])
    assert time.perf_counter() - started < 3.5
