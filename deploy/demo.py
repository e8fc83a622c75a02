"""`make demo`: the whole story of two disputes against a running system (`make run`), step by step.

Onboards a seller (or rotates its secret when it exists: safe to run twice), starts a local webhook
sink and points the seller's notifications at it, posts the sample two-dispute notice signed
(fresh times and ids), uploads a clean evidence package for one case and a defective one (a Taobao
waybill and a WeChat chat log) for the other, prints both diagnostic reports in Chinese, submits the
clean case, waits for the verdict, prints the notifications the sink received (verified with
`standardwebhooks`), both timelines and the consumer lag, and the dashboard's sign-in link.
Every wait is bounded and says what did not arrive. docs/demo.md shows a run.

    python -m deploy.demo [--seller V900] [--wait 60]

Ports are `make run`'s, moved by the same DD_<SERVICE>_PORT variables (deploy/local/system.py).
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, ClassVar, TypeVar

import httpx
import typer
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table
from standardwebhooks import Webhook, WebhookVerificationError

from deploy.local.system import SystemPorts
from shared.settings import ServiceSettings
from shared.web.auth import Role, mint_token
from shared.webhook_client import EXAMPLES, KST, freshen_notice, send_notice, shift_times

SERVICES = ("ingest", "evidence", "deadline", "notify", "submit")
CLEAN = "CD-2026-004411"  # the sample's NOT_RECEIVED platform dispute: the clean package
DEFECTIVE = "CD-2026-004412"  # the sample's chargeback (Visa 13.3, not as described): the defective one
DECIDED = ("won", "lost", "partial")
T = TypeVar("T")

console = Console(highlight=False)


class DemoSettings(ServiceSettings):
    service: ClassVar[str] = "demo"


class DemoFailed(Exception):
    """A step that did not happen: the message says what did not arrive."""


# ---------------------------------------------------------------- the local sink


@dataclass
class Received:
    webhook_id: str
    type: str
    dispute_id: str | None
    title: str
    verified: bool


@dataclass
class Sink:
    """A loopback HTTP server that keeps every notification, verified with the channel's secret."""

    secret: str
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/disputes"

    def start(self) -> None:
        sink = self
        verifier = Webhook(self.secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verifier.verify(body.decode(), headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                data = payload.get("data") or {}
                item = Received(
                    headers.get("webhook-id", "?"),
                    str(payload.get("type", "?")),
                    data.get("dispute_id"),
                    str(data.get("title", "")),
                    verified,
                )
                with sink.lock:
                    if all(r.webhook_id != item.webhook_id for r in sink.received):  # a redelivery: once
                        sink.received.append(item)
                self.send_response(204 if verified else 401)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True, name="demo-sink").start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)


# ---------------------------------------------------------------- helpers


def wait_for(what: str, probe: Callable[[], T | None], *, timeout_s: float, every_s: float = 0.5) -> T:
    """`probe()` until it gives a value; after `timeout_s` a DemoFailed that names `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what} did not arrive within {timeout_s:.0f}s")
        time.sleep(every_s)


def new_secret() -> str:
    return "whsec_" + b64encode(secrets.token_bytes(32)).decode()


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def picture(lines: list[str], *, size: tuple[int, int] = (420, 180)) -> bytes:
    """A small PNG with a few lines of text (the demo's waybill photo and chat screenshot)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((12, 12 + 22 * n), line, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def problem(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        return f"{answer.status_code} {body.get('code')}: {body.get('detail')}"
    except ValueError:
        return f"{answer.status_code} {answer.text[:200]}"


def step(n: int, text: str) -> None:
    console.print(f"\n[bold cyan]step {n}[/] {text}")


# ---------------------------------------------------------------- the demo


@dataclass
class Demo:
    ports: SystemPorts
    seller_id: str
    wait_s: float
    client: httpx.Client
    auth_secret: str

    def url(self, service: str, path: str) -> str:
        return f"{self.ports.url(service)}{path}"

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.auth_secret, Role.operator)}"}

    def seller(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def check_up(self) -> None:
        down = []
        for name, _ in self.ports.items():
            try:
                if self.client.get(f"{self.ports.url(name)}/readyz", timeout=3).status_code != 200:
                    down.append(f"{name} ({self.ports.url(name)}, not ready)")
            except httpx.HTTPError:
                down.append(f"{name} ({self.ports.url(name)})")
        if down:
            raise DemoFailed(
                f"Dispute Desk is not up: no answer from {', '.join(down)}; start it with `make run` in another "
                "terminal (its ports move with DD_<SERVICE>_PORT, here too) and run `make demo` again"
            )

    def onboard(self) -> tuple[str, str]:
        """(webhook secret, seller token): a new seller, or the existing one with a rotated secret."""
        body = {"seller_id": self.seller_id, "name": "深圳演示贸易有限公司", "contact": "ops@demo.example.cn"}
        answer = self.client.post(self.url("ingest", "/v1/sellers"), json=body, headers=self.operator())
        if answer.status_code == 201:
            console.print(f"  onboarded seller {self.seller_id}: a seller token and a webhook secret (shown once)")
            return answer.json()["webhook_secret"], answer.json()["token"]
        if answer.status_code == 409 and answer.json().get("code") == "seller_exists":
            rotated = self.client.post(
                self.url("ingest", f"/v1/sellers/{self.seller_id}/webhook-secret/rotate"), headers=self.operator()
            )
            if rotated.status_code != 200:
                raise DemoFailed(f"rotating {self.seller_id}'s webhook secret failed: {problem(rotated)}")
            token = mint_token(self.auth_secret, Role.seller, self.seller_id, ttl=timedelta(hours=12))
            console.print(
                f"  seller {self.seller_id} exists (seller_exists): rotated its webhook secret, minted a seller token"
            )
            return rotated.json()["webhook_secret"], token
        raise DemoFailed(f"onboarding {self.seller_id} failed: {problem(answer)}")

    def set_preferences(self, token: str, sink: Sink) -> None:
        document = {
            "language": "zh",
            "events": [
                "dispute.received",
                "evidence.validated",
                "deadline.alerted",
                "case.submitted",
                "verdict.returned",
            ],
            "channels": [{"type": "webhook", "url": sink.url, "secret": sink.secret}],
        }
        answer = self.client.put(self.url("notify", "/v1/preferences"), json=document, headers=self.seller(token))
        if answer.status_code != 200:
            raise DemoFailed(f"setting the notification preferences failed: {problem(answer)}")
        console.print(f"  notifications (zh) go to the local sink {sink.url}")

    def post_notice(self, secret: str) -> tuple[dict[str, str], timedelta]:
        fresh = freshen_notice((EXAMPLES / "notice_two_orders.json").read_bytes())
        answer = send_notice(self.client, self.ports.url("ingest"), self.seller_id, secret, fresh.body)
        if answer.status_code != 202:
            raise DemoFailed(f"the signed notice was refused: {problem(answer)}")
        notice = json.loads(fresh.body)
        console.print(f"  examples/notice_two_orders.json, notified_at {notice['notified_at']} (now), signed, 202:")
        for result in answer.json()["results"]:
            console.print(f"    {result['dispute_id']}: {result['result']}")
        if any(r["result"] != "created" for r in answer.json()["results"]):
            raise DemoFailed(f"the notice did not create both cases: {answer.json()['results']}")
        return fresh.dispute_ids, fresh.shift

    def upload(self, token: str, dispute_id: str, meta: dict[str, Any], file: tuple[str, bytes] | None = None) -> str:
        path = self.url("evidence", f"/v1/cases/{dispute_id}/evidence")

        def attempt() -> httpx.Response | None:
            if file is None:
                answer = self.client.post(path, json=meta, headers=self.seller(token))
            else:
                parts: dict[str, tuple[str | None, bytes | str, str | None]] = {
                    "meta": (None, json.dumps(meta, ensure_ascii=False), None),
                    "file": (file[0], file[1], "image/png"),
                }
                answer = self.client.post(path, files=parts, headers=self.seller(token))
            if answer.status_code == 404:  # evidence has not read the case's dispute.received yet
                return None
            return answer

        answer = wait_for(f"case {dispute_id} at the evidence service", attempt, timeout_s=self.wait_s)
        if answer.status_code != 201:
            raise DemoFailed(f"uploading {meta['kind']} to {dispute_id} failed: {problem(answer)}")
        item = answer.json()
        name = f" ({file[0]})" if file else ""
        console.print(f"    {dispute_id}: {meta['kind']}{name} -> {item.get('evidence_id') or item.get('id')}")
        return str(item.get("evidence_id") or item.get("id"))

    def report(self, token: str, dispute_id: str, uploaded: list[str]) -> dict[str, Any]:
        path = self.url("evidence", f"/v1/cases/{dispute_id}/report")

        def latest() -> dict[str, Any] | None:
            answer = self.client.get(path, params={"lang": "zh"}, headers=self.seller(token))
            if answer.status_code != 200:
                return None
            body: dict[str, Any] = answer.json()
            checked = {str(e.get("evidence_id")) for e in body.get("evidence_set", [])}
            return body if not body.get("stale") and set(uploaded) <= checked else None

        return wait_for(f"the diagnostic report of {dispute_id} (all evidence checked)", latest, timeout_s=self.wait_s)

    def print_report(self, dispute_id: str, report: dict[str, Any]) -> None:
        colour = "green" if report["status"] == "ready" else "red"
        console.print(
            f"  [bold]{dispute_id}[/]: report [{colour}]{report['status']}[/] "
            f"(ruleset {report.get('ruleset_version')}, {len(report.get('findings', []))} finding(s))"
        )
        if not report.get("findings"):
            return
        table = Table(show_lines=True)
        table.add_column("规则 rule", no_wrap=True)
        table.add_column("级别", no_wrap=True)
        for column in ("问题", "如何修正"):
            table.add_column(column, overflow="fold", ratio=1)
        for f in report["findings"]:
            table.add_row(f["rule"], f["severity"], f.get("message") or "", f.get("fix") or "")
        console.print(table)

    def submit(self, token: str, case: dict[str, Any]) -> dict[str, Any]:
        dispute_id = case["dispute_id"]
        body = {"dispute_id": dispute_id, "order_id": case["order_id"], "amount": case["amount"]}
        headers = {**self.seller(token), "Idempotency-Key": f"demo-submit-{dispute_id}"}
        last: list[str] = []

        def attempt() -> dict[str, Any] | None:
            answer = self.client.post(self.url("submit", f"/v1/cases/{dispute_id}/submit"), json=body, headers=headers)
            if answer.status_code in (200, 201, 202):
                result: dict[str, Any] = answer.json()
                return result
            last[:] = [problem(answer)]
            # submit learns the ready report from evidence.validated: until it has, not ready (or no case)
            if answer.status_code == 404 or (
                answer.status_code == 409 and answer.json().get("code") == "evidence_not_ready"
            ):
                return None
            raise DemoFailed(f"submitting {dispute_id} was refused: {last[0]}")

        try:
            return wait_for(f"submit's view of {dispute_id}'s ready report", attempt, timeout_s=self.wait_s)
        except DemoFailed as exc:
            raise DemoFailed(f"{exc} (last answer: {last[0] if last else 'none'})") from None

    def case(self, token: str, dispute_id: str) -> dict[str, Any]:
        answer = self.client.get(self.url("ingest", f"/v1/cases/{dispute_id}"), headers=self.seller(token))
        if answer.status_code != 200:
            raise DemoFailed(f"reading case {dispute_id} failed: {problem(answer)}")
        case: dict[str, Any] = answer.json()
        return case

    def print_timeline(self, case: dict[str, Any]) -> None:
        table = Table(title=f"{case['dispute_id']} — {case['status']}", title_justify="left")
        for column in ("occurred (KST)", "event", "status", "applied"):
            table.add_column(column)
        for entry in case["timeline"]:
            at = datetime.fromisoformat(entry["occurred_at"]).astimezone(KST)
            moved = f"{entry['status_before'] or '-'} -> {entry['status_after'] or '-'}"
            table.add_row(f"{at:%m-%d %H:%M:%S}", entry["type"], moved, "yes" if entry["applied"] else "no")
        console.print(table)

    def print_lag(self) -> int:
        table = Table(title="consumer lag (/v1/ops/lag)", title_justify="left")
        table.add_column("service")
        table.add_column("partitions", justify="right")
        table.add_column("total lag", justify="right")
        total = 0
        for name in SERVICES:
            answer = self.client.get(self.url(name, "/v1/ops/lag"), headers=self.operator())
            if answer.status_code != 200:
                table.add_row(name, "-", problem(answer))
                continue
            body = answer.json()
            total += int(body["total_lag"])
            table.add_row(name, str(len(body["partitions"])), str(body["total_lag"]))
        console.print(table)
        return total


def upload_clean_package(demo: Demo, token: str, dispute_id: str, shift: timedelta) -> list[str]:
    """A delivered CJ tracking record, a complete proof of delivery, Coupang messages: the evidence ids."""
    names = ("evidence_tracking_cj_delivered.json", "evidence_pod_complete.json", "evidence_messages_coupang.json")
    return [demo.upload(token, dispute_id, shift_times(example(name), shift)) for name in names]


def upload_defective_package(demo: Demo, token: str, dispute_id: str, shift: timedelta) -> list[str]:
    """A Taobao waybill and a WeChat chat log, each with a drawn screenshot: the evidence ids."""
    waybill = shift_times(example("evidence_waybill_taobao.json"), shift)
    waybill_png = picture(["TAOBAO waybill", f"No. {waybill['tracking_number']}", "Yiwu -> Weihai"])
    chat_png = picture(["WeChat", "buyer: size is wrong", "seller: please withdraw the dispute"])
    return [
        demo.upload(token, dispute_id, waybill, ("taobao_waybill.png", waybill_png)),
        demo.upload(token, dispute_id, example("evidence_messages_wechat.json"), ("wechat_chat.png", chat_png)),
    ]


def run(demo: Demo) -> None:
    step(0, "is the system up?")
    demo.check_up()
    console.print("  every service answers /readyz")

    step(1, f"onboard seller {demo.seller_id}")
    secret, token = demo.onboard()

    step(2, "start a local webhook sink and send the seller's notifications to it")
    sink = Sink(new_secret())
    sink.start()
    try:
        demo.set_preferences(token, sink)
        _story(demo, secret, token, sink)
    finally:
        sink.stop()


def _story(demo: Demo, secret: str, token: str, sink: Sink) -> None:
    step(3, "post the sample two-dispute notice, signed (Standard Webhooks), with fresh times and ids")
    ids, shift = demo.post_notice(secret)
    clean, defective = ids[CLEAN], ids[DEFECTIVE]

    step(4, "upload evidence: a clean package for one case, a defective one for the other")
    console.print(f"  {clean} (NOT_RECEIVED): CJ tracking, complete proof of delivery, Coupang messages")
    clean_ids = upload_clean_package(demo, token, clean, shift)
    console.print(f"  {defective} (chargeback 13.3, not as described): a Taobao waybill, a WeChat chat log")
    defective_ids = upload_defective_package(demo, token, defective, shift)

    step(5, "the diagnostic reports, in Chinese (?lang=zh)")
    reports = {clean: demo.report(token, clean, clean_ids), defective: demo.report(token, defective, defective_ids)}
    for dispute_id, report in reports.items():
        demo.print_report(dispute_id, report)
    if reports[clean]["status"] != "ready":
        raise DemoFailed(f"{clean}'s report is {reports[clean]['status']}, not ready: the clean package has a blocker")

    step(6, f"submit {clean}")
    case = demo.case(token, clean)
    receipt = demo.submit(token, case)
    console.print(
        f"  {receipt.get('state')}: receipt {receipt.get('receipt_id')}, package sha256 {receipt.get('package_sha256')}"
    )

    step(7, f"wait for the portal's verdict on {clean}")

    def decided() -> dict[str, Any] | None:
        now = demo.case(token, clean)
        return now if now["status"] in DECIDED and now.get("verdict") else None

    case = wait_for(f"the verdict of {clean} (verdict.returned at ingest)", decided, timeout_s=demo.wait_s)
    verdict = case["verdict"]
    console.print(f"  verdict: [bold]{verdict.get('outcome')}[/]  {verdict.get('summary_zh') or ''}")
    for suggestion in verdict.get("suggestions_zh") or verdict.get("suggestions") or []:
        console.print(
            f"    - {suggestion if isinstance(suggestion, str) else json.dumps(suggestion, ensure_ascii=False)}"
        )

    step(8, "the notifications the sink received (Standard Webhooks, verified)")

    def verdict_notified() -> list[Received] | None:
        got = sink.snapshot()
        return got if any(r.type == "verdict.returned" and r.dispute_id == clean for r in got) else None

    received = wait_for(
        f"the verdict.returned notification of {clean} at the sink", verdict_notified, timeout_s=demo.wait_s
    )
    table = Table()
    for column in ("event", "dispute", "title (zh)", "signature"):
        table.add_column(column)
    for r in received:
        table.add_row(r.type, r.dispute_id or "-", r.title, "verified" if r.verified else "[red]REFUSED[/]")
    console.print(table)
    if not all(r.verified for r in received):
        raise DemoFailed("a notification's signature did not verify with the channel's secret")

    step(9, "the two cases' timelines")
    for dispute_id in (clean, defective):
        demo.print_timeline(demo.case(token, dispute_id))

    step(10, "consumer lag")
    demo.print_lag()

    step(11, "the dashboard")
    ingest = demo.ports.url("ingest")
    console.print(f"  {ingest}/dashboard")
    console.print(f"  sign in as {demo.seller_id} (a ready link, the seller token in the fragment):")
    console.print(f"  {ingest}/dashboard/sign-in#token={token}", soft_wrap=True)
    console.print(
        f"\n[bold green]demo done[/]: {clean} {case['status']}, {defective} {reports[defective]['status']}, "
        f"{len(received)} notification(s) received"
    )


def main(
    seller: Annotated[str, typer.Option(help="the seller to onboard (or rotate, when it exists)")] = "V900",
    wait: Annotated[float, typer.Option(help="longest wait of each step, seconds")] = 60.0,
) -> None:
    """The whole story of two disputes against `make run`: see docs/demo.md."""
    ports = SystemPorts.from_env()
    settings = DemoSettings()
    started = time.monotonic()
    with httpx.Client(timeout=15) as client:
        try:
            run(Demo(ports, seller, wait, client, settings.auth_secret))
        except DemoFailed as exc:
            console.print(f"[bold red]demo stopped:[/] {exc}", soft_wrap=True)
            raise typer.Exit(1) from None
    console.print(f"({time.monotonic() - started:.1f}s)")


if __name__ == "__main__":
    typer.run(main)
