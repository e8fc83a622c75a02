"""Chaos drill of the whole system: the five services under a steady load while processes and servers fail.

    make chaos      (or: python -m bench.chaos_system [--rate 4] [--duration 180] [--faults ...] [--seed 7])

Starts its own PostgreSQL and Kafka (the bench servers, DD_BENCH_* ports, `.local/bench`), migrates
every schema and runs the five services and the portal simulator as their own processes, each as its
own database role (tests/system.py, as `make run`). One seller; its notifications (every event kind)
go to a webhook sink in this process. The load, for `--duration` seconds at `--rate` notices/s:

  notices      signed one- or two-dispute notices (Standard Webhooks), each retried with the same
               `webhook-id` until ingest acknowledges it (a sender's retry: a restart is no refusal)
  evidence     for a share of the disputes, a clean package (tracking, proof of delivery, Coupang
               messages) once evidence knows the case, then the report is awaited (`ready`)
  submissions  each ready case submitted with an `Idempotency-Key` (retried with the same key); the
               portal simulator returns a verdict
  reminders    every notice names the same `respond_by`, and the deadline service's reminder offsets
               are set so that reminders come due during the run (all cases at once, mid-fault)

Meanwhile, one at a time at random moments (`--seed`): every service killed with SIGKILL and started
again; Kafka restarted; PostgreSQL restarted (`pg_ctl -m immediate`, no shutdown checkpoint); a
consumer paused with SIGSTOP for longer than DD_KAFKA_SESSION_TIMEOUT_MS, then SIGCONT.

After the load, the drill waits (bounded) until nothing is missing, then counts from each service's
own schema (as the superuser, read-only) and from the topics (`count`): every accepted notice has
exactly one case in every service, one deadline and one reminder schedule; no reminder fired twice;
one submission and one `verdict.returned` per submitted case; every notification reached the sink at
least once, and any duplicate carries the same `webhook-id`; no dead letter of this run. Prints the
counts as a table (and appends it to bench/RESULTS.md); exits 1 on any loss or duplicate.
tests/e2e/test_chaos_system.py is its short form (a smaller load, fewer faults, the same counting).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from deploy.local.infra import REPO, LocalInfra
from deploy.local.system import SystemPorts
from shared.contracts import EventParseError, parse_event, topics
from shared.contracts.topics import ALL_TOPICS, is_dlq_topic
from shared.kafka.dlq import DeadLetter, read_dead_letters
from shared.kafka.topics import ensure_topics
from shared.settings import DEVELOPMENT_AUTH_SECRET
from shared.web.auth import Role, mint_token
from shared.webhook_client import EXAMPLES, KST, signed_headers
from tests.integration.notify.sinks import HttpSink, Received
from tests.system import RunningSystem, start_system

SERVICES = ("ingest", "evidence", "deadline", "notify", "submit")
NOTIFIED = (
    topics.DISPUTE_RECEIVED,
    topics.EVIDENCE_VALIDATED,
    topics.DEADLINE_ALERTED,
    topics.CASE_SUBMITTED,
    topics.VERDICT_RETURNED,
)
# Every fault the full drill injects, in a random order: `kill:<service>`, `kafka`, `postgres`, `pause:<service>`.
FULL_FAULTS = (*(f"kill:{name}" for name in SERVICES), "kafka", "postgres", "pause:deadline", "pause:notify")
SINK_SECRET = "whsec_" + "Y2hhb3Mtc3lzdGVtLXNpbmstc2VjcmV0LTMyLWJ5dGVzIQ=="  # the sink's own, drill only
CLEAN_PACKAGE = (
    "evidence_tracking_cj_delivered.json",
    "evidence_pod_complete.json",
    "evidence_messages_coupang.json",
)


@dataclass
class Plan:
    rate: float = 4.0  # notices/s
    duration_s: float = 180.0  # at least; the load goes on until the last fault is over
    two_disputes: float = 0.5  # share of notices that carry two disputes
    evidence: float = 0.3  # share of disputes that get a clean package and are submitted
    faults: tuple[str, ...] = FULL_FAULTS
    seed: int = 1
    session_timeout_ms: int = 6_000  # the services' DD_KAFKA_SESSION_TIMEOUT_MS (the broker's minimum)
    pause_margin_s: float = 4.0  # a pause lasts the session timeout and this much more
    down_s: tuple[float, float] = (0.5, 4.0)  # how long a killed service or a server stays down
    reminder_every_s: float = 60.0  # reminders come due this often during the load (whole minutes)
    accept_within_s: float = 90.0  # how long a notice is retried before it counts as refused
    step_within_s: float = 150.0  # the same for each step of a case's evidence and submission
    cases_in_flight: int = 48  # cases whose evidence and submission are under way at once
    drain_timeout_s: float = 240.0
    startup_s: float = 25.0  # from starting the services to the load's first notice, about
    log_dir: Path = REPO / ".local" / "chaos-system"


# ---------------------------------------------------------------- what the load did


@dataclass
class Fault:
    name: str
    at_s: float  # since the load started
    took_s: float = 0.0
    note: str = ""


@dataclass
class Ledger:
    """What the load did and what it was told: the counting's expectations."""

    prefix: str
    seller_id: str
    notices: int = 0
    accepted: set[str] = field(default_factory=set)  # dispute ids of acknowledged notices
    refused: dict[str, str] = field(default_factory=dict)  # dispute id -> why (never acknowledged)
    packaged: set[str] = field(default_factory=set)  # disputes whose clean package was uploaded
    asked: set[str] = field(default_factory=set)  # submit was called (the answer may never have come)
    submitted: set[str] = field(default_factory=set)  # submit answered 201 (or replayed it)
    gave_up: dict[str, str] = field(default_factory=dict)  # dispute id -> the step that never worked
    faults: list[Fault] = field(default_factory=list)
    load_s: float = 0.0  # how long notices were sent (at least the plan's duration, and until the last fault)
    cases_after_s: float = 0.0  # how long the cases' evidence and submissions went on after the last notice


# ---------------------------------------------------------------- what arrived


@dataclass
class SinkHit:
    webhook_id: str
    type: str
    dispute_id: str | None
    fact: str  # which fact it tells: the same for every message about it


@dataclass
class Observed:
    """Everything the counting reads, as plain data (so a planted loss or duplicate can be counted too)."""

    cases: dict[str, Counter[str]] = field(default_factory=dict)  # service -> rows per dispute in its schema
    deadline_versions: dict[str, set[int]] = field(default_factory=dict)  # dispute -> deadline.version
    schedules: dict[str, set[int]] = field(default_factory=dict)  # dispute -> versions its reminders belong to
    fired: Counter[tuple[str, int]] = field(default_factory=Counter)  # (dispute, offset min) -> fired rows
    submissions: Counter[str] = field(default_factory=Counter)  # dispute -> submissions with a receipt
    verdicts: Counter[str] = field(default_factory=Counter)
    # notification id (the webhook-id) -> (event id, event type, dispute id, status)
    notifications: dict[str, tuple[str, str, str | None, str]] = field(default_factory=dict)
    # event type -> dispute -> event ids as read from the topic (a relay's resend repeats one)
    events: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    alerts: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))  # (dispute, which)
    sink: list[SinkHit] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # this run's


# ---------------------------------------------------------------- counting


@dataclass
class Count:
    check: str
    expected: int
    found: int
    lost: int = 0
    duplicated: int = 0
    examples: list[str] = field(default_factory=list)  # a few dispute ids (or ids) behind a loss or duplicate
    note: str = ""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated)


def _one_each(check: str, wanted: set[str], rows: Counter[str], note: str = "") -> Count:
    lost = sorted(d for d in wanted if rows.get(d, 0) == 0)
    doubled = sorted(d for d in wanted if rows.get(d, 0) > 1)
    return Count(
        check,
        len(wanted),
        sum(1 for d in wanted if rows.get(d, 0) >= 1),
        lost=len(lost),
        duplicated=sum(rows[d] - 1 for d in doubled),
        examples=(lost + doubled)[:3],
        note=note,
    )


def _distinct(ids_by_dispute: dict[str, list[str]]) -> Counter[str]:
    return Counter({d: len(set(ids)) for d, ids in ids_by_dispute.items()})


def count(ledger: Ledger, seen: Observed) -> list[Count]:
    """Every check of the drill, from what the load did (`ledger`) and what arrived (`seen`)."""
    accepted = ledger.accepted
    # Submitted: submit said so, or it was asked and the answer never came but the submission is there.
    submitted = ledger.submitted | (ledger.asked & set(seen.submissions))
    rows: list[Count] = []
    for service in SERVICES:
        rows.append(_one_each(f"case at {service}", accepted, seen.cases.get(service, Counter())))
    unacknowledged = set(seen.cases.get("ingest", Counter())) - accepted
    if unacknowledged:  # the answer was lost, the case is there: no loss, no duplicate
        rows[0].note = f"and {len(unacknowledged)} of notices whose answer never came"
    rows.append(_one_each("dispute.received (distinct ids)", accepted, _distinct(seen.events[topics.DISPUTE_RECEIVED])))
    rows.append(
        _one_each(
            "deadline (one row, version 1)",
            accepted,
            Counter({d: max(v) for d, v in seen.deadline_versions.items() if v}),
            note="a version above 1 is a second schedule",
        )
    )
    rows.append(_one_each("reminder schedule", accepted, Counter({d: len(v) for d, v in seen.schedules.items()})))
    rows.append(
        _one_each("deadline.scheduled (distinct ids)", accepted, _distinct(seen.events[topics.DEADLINE_SCHEDULED]))
    )
    # Reminders: each fired row has its one event; no (dispute, offset) fired twice, in rows or on the topic.
    fired = {f"{d}@{o}m" for (d, o), n in seen.fired.items() if n and d in accepted}
    alerted = {f"{d}@{w}": ids for (d, w), ids in seen.alerts.items() if w != "missed" and d in accepted}
    row_twice = sorted(k for (d, o), n in seen.fired.items() if n > 1 for k in [f"{d}@{o}m"])
    event_twice = sorted(k for k, ids in alerted.items() if len(set(ids)) > 1)
    lost_alerts = sorted(fired - alerted.keys())
    unfired = sorted(alerted.keys() - fired)  # an event whose row says it never fired: a doubled effect
    rows.append(
        Count(
            "reminders fired, each once",
            len(fired),
            len(fired & alerted.keys()),
            lost=len(lost_alerts),
            duplicated=len(row_twice) + len(event_twice) + len(unfired),
            examples=(lost_alerts + row_twice + event_twice + unfired)[:3],
        )
    )
    rows.append(_one_each("submission with a receipt", submitted, seen.submissions))
    rows.append(_one_each("case.submitted (distinct ids)", submitted, _distinct(seen.events[topics.CASE_SUBMITTED])))
    rows.append(_one_each("verdict stored", submitted, seen.verdicts))
    rows.append(
        _one_each("verdict.returned (distinct ids)", submitted, _distinct(seen.events[topics.VERDICT_RETURNED]))
    )
    unasked = sorted(set(seen.submissions) - submitted - ledger.asked)
    if unasked:
        rows.append(
            Count("submission nobody asked for", 0, len(unasked), duplicated=len(unasked), examples=unasked[:3])
        )
    rows += _notifications(accepted, seen)
    letters = [f"{x.topic}: {x.key}: {x.error[:120]}" for x in seen.dead_letters]
    rows.append(Count("dead letters (none explained)", 0, len(letters), lost=len(letters), examples=letters[:3]))
    return rows


def _notifications(accepted: set[str], seen: Observed) -> list[Count]:
    # Every event of a kind the seller subscribed to, about an accepted case, is one notification...
    wanted: dict[str, str] = {}  # event id -> dispute
    for kind in NOTIFIED:
        for dispute, ids in seen.events[kind].items():
            if dispute in accepted:
                wanted.update(dict.fromkeys(ids, dispute))
    by_event: dict[str, list[str]] = defaultdict(list)
    for nid, (event_id, _, _, _) in seen.notifications.items():
        by_event[event_id].append(nid)
    missing = sorted(e for e in wanted if e not in by_event)
    doubled = sorted(e for e in wanted if len(by_event.get(e, [])) > 1)
    out = [
        Count(
            "notification per event",
            len(wanted),
            sum(1 for e in wanted if e in by_event),
            lost=len(missing),
            duplicated=sum(len(by_event[e]) - 1 for e in doubled),
            examples=[f"{wanted[e]} {e}" for e in missing + doubled][:3],
        )
    ]
    # ... delivered, and at the sink at least once; a message told twice carries one webhook-id.
    ours = {nid: n for nid, n in seen.notifications.items() if n[2] in accepted}
    undelivered = sorted(f"{n[2]} {n[1]} {n[3]}" for n in ours.values() if n[3] != "delivered")
    out.append(
        Count(
            "notification delivered",
            len(ours),
            len(ours) - len(undelivered),
            lost=len(undelivered),
            examples=undelivered[:3],
        )
    )
    hits: Counter[str] = Counter(h.webhook_id for h in seen.sink)
    delivered = {nid for nid, n in ours.items() if n[3] == "delivered"}
    unseen = sorted(f"{ours[nid][2]} {ours[nid][1]}" for nid in delivered if nid not in hits)
    ids_per_fact: dict[str, set[str]] = defaultdict(set)
    for h in seen.sink:
        if h.dispute_id in accepted:
            ids_per_fact[h.fact].add(h.webhook_id)
    told_twice = sorted(fact for fact, ids in ids_per_fact.items() if len(ids) > 1)
    resent = sum(n - 1 for nid, n in hits.items() if nid in ours)
    out.append(
        Count(
            "at the sink (facts told twice: other webhook-id)",
            len(delivered),
            sum(1 for nid in delivered if nid in hits),
            lost=len(unseen),
            duplicated=sum(len(ids_per_fact[f]) - 1 for f in told_twice),
            examples=(unseen + told_twice)[:3],
            note=f"{resent} redelivered with the same webhook-id" if resent else "",
        )
    )
    return out


def failed(counts: Sequence[Count]) -> list[Count]:
    return [c for c in counts if not c.ok]


def missing(counts: Sequence[Count]) -> str:
    """What has not arrived (yet), one phrase per check: empty when nothing is missing."""
    return "; ".join(
        f"{c.check}: {c.lost} of {c.expected} missing (e.g. {', '.join(c.examples)})" for c in counts if c.lost
    )


HEADER = "| check | expected | found | lost | duplicated | verdict |\n|---|---:|---:|---:|---:|---|"


def format_counts(counts: Sequence[Count]) -> str:
    lines = [HEADER]
    for c in counts:
        verdict = "ok" if c.ok else "FAILED (" + ", ".join(c.examples) + ")"
        if c.note:
            verdict += f" — {c.note}"
        lines.append(f"| {c.check} | {c.expected} | {c.found} | {c.lost} | {c.duplicated} | {verdict} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- reading what arrived


def fact_of(body: bytes) -> SinkHit | None:
    """Which fact a sink message tells: its type and case, and the report or reminder it is about."""
    try:
        message = json.loads(body)
        kind, data = str(message["type"]), message.get("data") or {}
    except (ValueError, KeyError, TypeError):
        return None
    dispute = data.get("dispute_id")
    detail = ""
    if kind == topics.EVIDENCE_VALIDATED:
        detail = str(data.get("report_id"))
    elif kind == topics.DEADLINE_ALERTED:
        detail = f"{data.get('alert')}@{data.get('offset_minutes')}"
    return SinkHit("", kind, dispute, f"{kind} {dispute} {detail}".strip())


def sink_hits(received: Sequence[Received]) -> list[SinkHit]:
    hits = []
    for request in list(received):
        hit = fact_of(request.body)
        if hit is not None:
            hit.webhook_id = request.headers.get("webhook-id", "")
            hits.append(hit)
    return hits


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def read_schemas(database_url: str, ledger: Ledger, seen: Observed) -> None:
    """Each service's rows of this run, read as the superuser in a read-only transaction."""
    like = f"{ledger.prefix}%"
    conn = await asyncpg.connect(
        _dsn(database_url), server_settings={"default_transaction_read_only": "on", "application_name": "chaos-count"}
    )
    try:
        for service in SERVICES:
            table = "deadlines" if service == "deadline" else "cases"
            found = await conn.fetch(f"SELECT dispute_id FROM {service}.{table} WHERE dispute_id LIKE $1", like)
            seen.cases[service] = Counter(r["dispute_id"] for r in found)
        for r in await conn.fetch("SELECT dispute_id, version FROM deadline.deadlines WHERE dispute_id LIKE $1", like):
            seen.deadline_versions.setdefault(r["dispute_id"], set()).add(r["version"])
        for r in await conn.fetch(
            "SELECT dispute_id, version, offset_minutes, state FROM deadline.reminders WHERE dispute_id LIKE $1", like
        ):
            seen.schedules.setdefault(r["dispute_id"], set()).add(r["version"])
            if r["state"] == "fired":
                seen.fired[(r["dispute_id"], r["offset_minutes"])] += 1
        for r in await conn.fetch(
            "SELECT dispute_id FROM submit.submissions WHERE dispute_id LIKE $1 AND receipt_id IS NOT NULL", like
        ):
            seen.submissions[r["dispute_id"]] += 1
        for r in await conn.fetch("SELECT dispute_id FROM submit.verdicts WHERE dispute_id LIKE $1", like):
            seen.verdicts[r["dispute_id"]] += 1
        for r in await conn.fetch(
            "SELECT id, event_id, event_type, dispute_id, status FROM notify.notifications WHERE seller_id = $1",
            ledger.seller_id,
        ):
            seen.notifications[str(r["id"])] = (str(r["event_id"]), r["event_type"], r["dispute_id"], r["status"])
    finally:
        await conn.close()


async def read_topics(bootstrap: str, ledger: Ledger, seen: Observed) -> None:
    """Every event of this run on every topic (keyed by dispute id), and every dead letter of this run."""
    for record in await read_dead_letters(bootstrap, list(ALL_TOPICS)):  # reads any topics, not only DLQs
        if not (record.key or "").startswith(ledger.prefix):
            continue
        if is_dlq_topic(record.topic):
            seen.dead_letters.append(record)
            continue
        try:
            event = parse_event(record.value)
        except EventParseError:
            continue
        seen.events[event.type][event.subject].append(str(event.id))
        if event.type == topics.DEADLINE_ALERTED:
            data = event.data
            which = "missed" if data.alert == "missed" else f"{data.offset_minutes}m"
            seen.alerts[(event.subject, which)].append(str(event.id))


async def observe(infra: LocalInfra | Any, ledger: Ledger, sink: HttpSink) -> Observed:
    seen = Observed()
    await read_schemas(infra.database_url, ledger, seen)
    await read_topics(infra.kafka_bootstrap_servers, ledger, seen)
    seen.sink = sink_hits(sink.received)
    return seen


# ---------------------------------------------------------------- the load


def respond_by() -> datetime:
    """The one deadline of every notice: 23:59:59 KST tomorrow (an explicit date)."""
    tomorrow = (datetime.now(UTC).astimezone(KST) + timedelta(days=1)).date()
    return datetime.combine(tomorrow, datetime.max.time().replace(microsecond=0), tzinfo=KST)


def reminder_offsets(due_at: datetime, start: datetime, plan: Plan) -> list[str]:
    """Offsets (whole minutes before due_at) that come due every `reminder_every_s` from about the load's
    start to its planned end: whenever the system really came up, some fall inside the load
    (each case fires those after its notice; the earlier ones are stored `skipped`)."""
    every = max(60, int(plan.reminder_every_s) // 60 * 60)
    count = -int(-plan.duration_s // every) + 1  # the last one about the planned end
    first = int((due_at - start).total_seconds() // 60)
    return [f"{first - k * every // 60}m" for k in range(count)]


def last_reminder(due_at: datetime, offsets: Sequence[str]) -> datetime:
    return max(due_at - timedelta(minutes=int(o.removesuffix("m"))) for o in offsets)


def dispute_body(dispute_id: str, n: int, due: datetime) -> dict[str, Any]:
    return {
        "dispute_id": dispute_id,
        "kind": "platform_dispute" if n % 2 else "chargeback",
        "order_id": order_id(n),
        "amount": {"value": str(30000 + n % 500 * 100), "currency": "KRW"},
        "reason_code": "NOT_RECEIVED",
        "raw_reason_code": "13.1",
        "reason_text": "배송완료로 표시되었으나 상품을 받지 못했습니다",
        "buyer_id": f"B-{n % 997}",
        "respond_by": due.date().isoformat(),
    }


def order_id(n: int) -> str:
    return f"31{n:011d}"


def clean_package(n: int, notified_at: datetime) -> list[dict[str, Any]]:
    """The examples' clean NOT_RECEIVED package, made about order n: its own tracking number, times before now."""
    delivered = (notified_at - timedelta(days=2)).astimezone(KST)
    items = []
    for name in CLEAN_PACKAGE:
        meta: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
        meta["order_id"] = order_id(n)
        if "tracking_number" in meta:
            meta["tracking_number"] = f"65{n:010d}"
        if "delivered_at" in meta:
            meta["delivered_at"] = delivered.isoformat()
        for i, e in enumerate(meta.get("events", [])):
            e["time"] = (delivered - timedelta(hours=6 * (len(meta["events"]) - 1 - i))).isoformat()
        if "exported_at" in meta:
            meta["exported_at"] = (notified_at - timedelta(minutes=5)).astimezone(KST).isoformat()
        for i, m in enumerate(meta.get("messages", [])):
            m["sent_at"] = (delivered + timedelta(hours=2 + i)).isoformat()
        items.append(meta)
    return items


class Load:
    """The steady load: notices, evidence and submissions, every call retried through faults."""

    def __init__(self, system: RunningSystem, plan: Plan, ledger: Ledger, secret: str, due: datetime) -> None:
        self.system, self.plan, self.ledger, self.secret, self.due = system, plan, ledger, secret, due
        self.rng = random.Random(plan.seed)
        # Notices have their own connections: the cases' polling never keeps a notice waiting for one.
        self.notices = httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=32))
        self.client = httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=32))
        self.in_flight = asyncio.Semaphore(plan.cases_in_flight)
        seller_token = mint_token(DEVELOPMENT_AUTH_SECRET, Role.seller, ledger.seller_id, ttl=timedelta(hours=6))
        self.seller = {"Authorization": f"Bearer {seller_token}"}
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, faults: asyncio.Task[None]) -> float:
        """Notices on a fixed schedule for the plan's duration, and on until the last fault is over
        (every fault happens under load); how long it ran."""
        start = time.perf_counter()
        n = seq = 0
        while seq < self.plan.rate * self.plan.duration_s or not faults.done():
            delay = start + seq / self.plan.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            size = 2 if self.rng.random() < self.plan.two_disputes else 1
            numbers = list(range(n, n + size))
            n += size
            packaged = [k for k in numbers if self.rng.random() < self.plan.evidence]
            self.spawn(self.notice(seq, numbers, packaged))
            seq += 1
        return time.perf_counter() - start

    async def finish(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        await self.client.aclose()
        await self.notices.aclose()

    async def _call(self, what: str, within_s: float, attempt: Any, *, settle: Any = None) -> httpx.Response | None:
        """`attempt()` until it answers what `settle(answer)` accepts (default: below 500); None after `within_s`."""
        settle = settle or (lambda answer: answer.status_code < 500)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                answer: httpx.Response = await attempt()
                if settle(answer):
                    return answer
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5 + self.rng.random() * 0.5)
        return None

    async def notice(self, seq: int, numbers: list[int], packaged: list[int]) -> None:
        ids = [f"{self.ledger.prefix}{k:06d}" for k in numbers]
        notified_at = datetime.now(UTC)
        body = json.dumps(
            {
                "event": "dispute.opened",
                "notice_id": f"N-{self.ledger.prefix}{seq:06d}",
                "notified_at": notified_at.astimezone(KST).isoformat(),
                "disputes": [dispute_body(d, k, self.due) for d, k in zip(ids, numbers, strict=True)],
            },
            ensure_ascii=False,
        ).encode()
        webhook_id = f"msg_{uuid.uuid4().hex}"
        url = f"{self.system.url('ingest')}/v1/webhooks/coupang/{self.ledger.seller_id}"
        self.ledger.notices += 1

        def post() -> Any:  # signed again each time: the same id, a fresh timestamp
            return self.notices.post(
                url, content=body, headers=signed_headers(self.secret, body, webhook_id=webhook_id)
            )

        answer = await self._call("notice", self.plan.accept_within_s, post)
        if answer is None or answer.status_code not in (200, 202):
            why = "never acknowledged" if answer is None else f"{answer.status_code} {answer.text[:120]}"
            self.ledger.refused.update(dict.fromkeys(ids, why))
            return
        results = {r["dispute_id"]: r["result"] for r in answer.json().get("results", [])}
        for d in ids:
            if results.get(d, "created") == "error":
                self.ledger.refused[d] = "error in the notice's answer"
            else:
                self.ledger.accepted.add(d)
        for k in packaged:
            d = f"{self.ledger.prefix}{k:06d}"
            if d in self.ledger.accepted:
                self.spawn(self.case(d, k, notified_at))

    async def case(self, dispute_id: str, n: int, notified_at: datetime) -> None:
        async with self.in_flight:  # as a seller's back office works: a few cases at a time
            await self._case(dispute_id, n, notified_at)

    async def _case(self, dispute_id: str, n: int, notified_at: datetime) -> None:
        evidence = f"{self.system.url('evidence')}/v1/cases/{dispute_id}"
        within = self.plan.step_within_s
        uploaded = []
        for meta in clean_package(n, notified_at):

            def upload(meta: dict[str, Any] = meta) -> Any:
                return self.client.post(f"{evidence}/evidence", json=meta, headers=self.seller)

            # 404: evidence has not read the case's dispute.received yet
            answer = await self._call(
                "upload", within, upload, settle=lambda a: a.status_code not in (404,) and a.status_code < 500
            )
            if answer is None or answer.status_code != 201:
                self.ledger.gave_up[dispute_id] = f"upload {meta['kind']}: {_said(answer)}"
                return
            item = answer.json()
            uploaded.append(str(item.get("evidence_id") or item.get("id")))
        self.ledger.packaged.add(dispute_id)

        def checked(answer: httpx.Response) -> bool:
            if answer.status_code != 200:
                return answer.status_code not in (404,) and answer.status_code < 500
            body = answer.json()
            done = {str(e.get("evidence_id")) for e in body.get("evidence_set", [])}
            return not body.get("stale") and set(uploaded) <= done

        report = await self._call(
            "report", within, lambda: self.client.get(f"{evidence}/report", headers=self.seller), settle=checked
        )
        if report is None or report.status_code != 200 or report.json().get("status") != "ready":
            findings = [f.get("rule") for f in report.json().get("findings", [])] if report is not None else []
            self.ledger.gave_up[dispute_id] = f"report not ready: {_said(report)} {findings}"
            return
        case = {"dispute_id": dispute_id, "order_id": order_id(n)}
        amount = dispute_body(dispute_id, n, self.due)["amount"]
        headers = {**self.seller, "Idempotency-Key": f"chaos-submit-{dispute_id}"}
        url = f"{self.system.url('submit')}/v1/cases/{dispute_id}/submit"

        def ready(answer: httpx.Response) -> bool:  # submit learns the ready report from evidence.validated
            if answer.status_code == 404 or answer.status_code >= 500:
                return False
            return not (answer.status_code == 409 and answer.json().get("code") == "evidence_not_ready")

        self.ledger.asked.add(dispute_id)
        answer = await self._call(
            "submit",
            within,
            lambda: self.client.post(url, json={**case, "amount": amount}, headers=headers),
            settle=ready,
        )
        if answer is None or answer.status_code not in (200, 201, 202):
            self.ledger.gave_up[dispute_id] = f"submit: {_said(answer)}"
            return
        self.ledger.submitted.add(dispute_id)


def _said(answer: httpx.Response | None) -> str:
    return "no answer in time" if answer is None else f"{answer.status_code} {answer.text[:160]}"


# ---------------------------------------------------------------- the faults


class Faults:
    def __init__(self, system: RunningSystem, infra: LocalInfra, plan: Plan, ledger: Ledger) -> None:
        self.system, self.infra, self.plan, self.ledger = system, infra, plan, ledger
        self.rng = random.Random(plan.seed + 1)

    def schedule(self) -> list[tuple[float, str]]:
        """Each fault at a random moment of the load's first 85 %, in a random order."""
        names = list(self.plan.faults)
        self.rng.shuffle(names)
        moments = sorted(self.rng.uniform(0.05, 0.85) * self.plan.duration_s for _ in names)
        return list(zip(moments, names, strict=True))

    async def run(self, started: float) -> None:
        for at, name in self.schedule():
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))  # one at a time: a late one waits
            fault = Fault(name, round(time.monotonic() - started, 1))
            t0 = time.monotonic()
            try:
                fault.note = await self.inject(name)
            except Exception as exc:  # noqa: BLE001 - recorded and the drill fails on it
                fault.note = f"FAILED: {exc!r}"
            fault.took_s = round(time.monotonic() - t0, 1)
            self.ledger.faults.append(fault)
            print(f"  fault at {fault.at_s:6.1f} s: {name} ({fault.took_s} s) {fault.note}", flush=True)

    async def inject(self, name: str) -> str:
        kind, _, target = name.partition(":")
        down = self.rng.uniform(*self.plan.down_s)
        if kind == "kill":
            pid = self.system.procs[target].pid
            await asyncio.to_thread(self.system.stop, target, sig=signal.SIGKILL)
            await asyncio.sleep(down)
            await asyncio.to_thread(self.system.start, target)
            return f"SIGKILL pid {pid}, down {down:.1f} s"
        if kind == "kafka":
            await asyncio.to_thread(self.infra.stop_kafka)
            await asyncio.sleep(down)
            await asyncio.to_thread(self.infra.start_kafka)
            return f"stopped, down {down:.1f} s"
        if kind == "postgres":
            await asyncio.to_thread(self.infra.stop_postgres, immediate=True)
            await asyncio.sleep(down)
            await asyncio.to_thread(self.infra.start_postgres)
            return f"pg_ctl -m immediate, down {down:.1f} s"
        if kind == "pause":
            pid = self.system.procs[target].pid
            paused = self.plan.session_timeout_ms / 1000 + self.plan.pause_margin_s
            os.kill(pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(paused)
            finally:
                os.kill(pid, signal.SIGCONT)
            return f"SIGSTOP pid {pid} for {paused:.0f} s (session timeout {self.plan.session_timeout_ms} ms)"
        raise ValueError(f"unknown fault {name!r}")

    async def restore(self) -> None:
        """Whatever happened, leave every server and service up for the counting."""
        for proc in list(self.system.procs.values()):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
        if not self.infra.kafka_running():
            await asyncio.to_thread(self.infra.start_kafka)
        if not self.infra.postgres_running():
            await asyncio.to_thread(self.infra.start_postgres)
        down = [name for name, _ in self.system.ports.items() if name not in self.system.procs]
        if down:
            await asyncio.to_thread(self.system.start, *down)


# ---------------------------------------------------------------- the drill


@dataclass
class Outcome:
    ledger: Ledger
    counts: list[Count]
    drained_s: float | None  # from the load's end until nothing was missing; None: never
    why: str = ""  # what did not arrive, when it never drained

    @property
    def ok(self) -> bool:
        faults_ok = all(not f.note.startswith("FAILED") for f in self.ledger.faults)
        return not failed(self.counts) and self.drained_s is not None and faults_ok and bool(self.ledger.accepted)


async def onboard(system: RunningSystem, sink: HttpSink, prefix: str) -> tuple[str, str]:
    """A new seller (id, webhook secret) whose notifications of every kind go to the sink."""
    seller_id = f"VCH{prefix[3:9]}"
    operator = {"Authorization": f"Bearer {mint_token(DEVELOPMENT_AUTH_SECRET, Role.operator)}"}
    async with httpx.AsyncClient(timeout=30, headers=operator) as client:
        created = await client.post(
            f"{system.url('ingest')}/v1/sellers", json={"seller_id": seller_id, "name": "chaos", "contact": "c"}
        )
        created.raise_for_status()
        channel = {"type": "webhook", "url": f"{sink.url}/hook", "secret": SINK_SECRET}
        saved = await client.put(
            f"{system.url('notify')}/v1/preferences",
            params={"seller_id": seller_id},
            json={"language": "zh", "events": list(NOTIFIED), "channels": [channel]},
        )
        saved.raise_for_status()
    return seller_id, created.json()["webhook_secret"]


def system_settings(plan: Plan, offsets: list[str]) -> dict[str, str]:
    """The services' environment for the drill (beside `make run`'s)."""
    return {
        "DD_DEADLINE_REMINDER_OFFSETS": json.dumps(offsets),
        "DD_KAFKA_SESSION_TIMEOUT_MS": str(plan.session_timeout_ms),
        "DD_LOG_LEVEL": "WARNING",
        "DD_ENV": "local",
    }


async def drill(infra: LocalInfra, plan: Plan, ports: SystemPorts, *, root: Path, sink: HttpSink) -> Outcome:
    """The load and the faults on a running system of its own; then the drain and the counting."""
    await ensure_topics(infra.kafka_bootstrap_servers)
    due = respond_by()
    # The load starts once the services are up and the seller onboarded: about this much later.
    start = datetime.now(UTC) + timedelta(seconds=plan.startup_s)
    offsets = reminder_offsets(due, start, plan)
    system = await asyncio.to_thread(
        start_system, infra, ports=ports, name="chaos", root=root, **system_settings(plan, offsets)
    )
    try:
        prefix = f"CH-{uuid.uuid4().hex[:6].upper()}-"
        seller_id, secret = await onboard(system, sink, prefix)
        ledger = Ledger(prefix, seller_id)
        load = Load(system, plan, ledger, secret, due)
        faults = Faults(system, infra, plan, ledger)
        print(
            f"chaos: {plan.rate:g} notices/s for {plan.duration_s:g} s, reminders at {', '.join(offsets)} "
            f"before {due.isoformat()}, faults {', '.join(plan.faults)}",
            flush=True,
        )
        started = time.monotonic()
        chaos = asyncio.create_task(faults.run(started))
        try:
            ledger.load_s = await load.run(chaos)
            await chaos
        finally:
            if not chaos.done():
                chaos.cancel()
            await asyncio.gather(chaos, return_exceptions=True)
            await faults.restore()
        last_notice = time.monotonic()
        await load.finish()
        ended = time.monotonic()
        ledger.cases_after_s = ended - last_notice
        reminded = (last_reminder(due, offsets) + timedelta(seconds=5)).astimezone(UTC)  # fired by then
        drained_s: float | None = None
        counts: list[Count] = []
        why = ""
        said = ended
        while True:
            try:
                counts = count(ledger, await observe(infra, ledger, sink))
                why = missing(counts)
            except (OSError, asyncpg.PostgresError) as exc:
                why = f"could not count: {exc!r}"
            if not why and datetime.now(UTC) < reminded:
                why = f"the last reminder is due at {reminded:%H:%M:%S} UTC"
            if not why:
                drained_s = time.monotonic() - ended
                break
            if time.monotonic() - ended > plan.drain_timeout_s:
                break
            if time.monotonic() - said > 15:
                print(f"  draining, {time.monotonic() - ended:.0f} s: {why[:300]}", flush=True)
                said = time.monotonic()
            await asyncio.sleep(3)
        await asyncio.sleep(3)  # room for a late duplicate to show up
        counts = count(ledger, await observe(infra, ledger, sink))
        return Outcome(ledger, counts, drained_s, why)
    finally:
        await asyncio.to_thread(system.stop)


def report(outcome: Outcome, plan: Plan) -> str:
    ledger = outcome.ledger
    drained = (
        f"drained {outcome.drained_s:.0f} s after the load"
        if outcome.drained_s is not None
        else f"NOT drained within {plan.drain_timeout_s:.0f} s: {outcome.why}"
    )
    faults = "\n".join(f"- {f.at_s:.0f} s: `{f.name}` ({f.took_s:.0f} s) {f.note}" for f in ledger.faults)
    gave_up = Counter(why.split(":")[0] for why in ledger.gave_up.values())
    steps = ", ".join(f"{n} at {step}" for step, n in gave_up.items()) or "none"
    if ledger.gave_up:
        steps += " — e.g. " + "; ".join(f"{d}: {why}" for d, why in list(ledger.gave_up.items())[:3])
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — chaos (whole system), {plan.rate:g} notices/s for "
        f"{plan.duration_s:g} s, seed {plan.seed}, {os.cpu_count()} cores",
        "",
        f"{ledger.notices} notices in {ledger.load_s:.0f} s, {len(ledger.accepted)} disputes accepted "
        f"({len(ledger.refused)} never acknowledged), {len(ledger.packaged)} clean packages, "
        f"{len(ledger.submitted)} submitted (cases that gave up a step: {steps}), the last "
        f"{ledger.cases_after_s:.0f} s after the last notice; {drained}.",
        "",
        "Faults:",
        faults or "- none",
        "",
        format_counts(outcome.counts),
        "",
        f"Verdict: {'ok' if outcome.ok else 'FAILED'}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    from bench.backbone import append_results, bench_infra

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=Plan.rate, help="notices per second")
    parser.add_argument("--duration", type=float, default=Plan.duration_s)
    parser.add_argument("--evidence", type=float, default=Plan.evidence, help="share of disputes submitted")
    parser.add_argument(
        "--faults", nargs="+", default=list(FULL_FAULTS), help="kill:<service> kafka postgres pause:<service>"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()) % 10_000)
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("DD_BENCH_SERVICE_PORT_BASE", "17100")))
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    plan = Plan(
        rate=args.rate, duration_s=args.duration, evidence=args.evidence, faults=tuple(args.faults), seed=args.seed
    )
    infra = bench_infra()
    if os.environ.get("DD_BENCH_DIR"):  # servers of their own beside another bench's
        infra = dataclasses.replace(infra, root=REPO / os.environ["DD_BENCH_DIR"])
    infra.destroy()
    infra.up()

    async def with_sink() -> Outcome:
        async with HttpSink() as sink:
            return await drill(infra, plan, SystemPorts.offset(args.port_base), root=plan.log_dir, sink=sink)

    try:
        outcome = asyncio.run(with_sink())
    finally:
        infra.destroy()
    text_ = report(outcome, plan)
    print("\n" + text_)
    if not args.no_record:
        append_results(text_)
    sys.exit(0 if outcome.ok else 1)


if __name__ == "__main__":
    main()
