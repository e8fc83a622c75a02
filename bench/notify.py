"""Notify benchmark: `deadline.alerted` events to one webhook sink, from the topic to the sink's receipt.

    make bench            (or: python -m bench.notify --events 10000 [--rate 300 --paced 3000])

Starts its own PostgreSQL and Kafka (deploy/local, bench ports, `.local/bench`), migrates the
notify schema and starts the service as deployed, `python -m services.notify serve` (consumer,
dispatcher, relay), with `DD_ALLOW_PRIVATE_TARGETS=true` so it may deliver to the sink on
127.0.0.1. One seller saves a webhook preference over HTTP. Then:

- burst: `--events` reminders produced at once; deliveries/s from the first receipt to the last,
  and each event's latency from the moment the broker acknowledged it to the sink's receipt;
- paced: `--paced` reminders at `--rate` events/s; the same latency at that rate.

The sink is a small HTTP server in this process (tests/integration/notify/sinks.py) that answers
200 at once; a sample of the bodies is verified with the `standardwebhooks` library.
Goals (issue 17): >= 1,000 deliveries/s; p99 <= 100 ms from the topic to the sink at 300 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks import Webhook

from bench.backbone import add_http_port_argument, cpu_seconds, on_bench_servers, record_report
from deploy.local.infra import REPO, LocalInfra
from services.notify.main import DEFINITION
from shared.contracts import DeadlineAlertedV1, new_event, topics
from shared.db.migrations import upgrade
from shared.kafka.producer import create_producer
from shared.kafka.topics import ensure_topics
from shared.settings import DEVELOPMENT_AUTH_SECRET
from shared.web.auth import mint_token
from tests.integration.notify.sinks import Behaviour, HttpSink, Received

SELLER = "VBENCH0001"
WHSEC = "whsec_" + base64.b64encode(b"b" * 32).decode()
GOAL_RATE = 1_000
GOAL_P99_MS = 100.0
SAMPLE_VERIFY = 200


class Receipts:
    """What the sink received: the receipt time of each dispute's webhook (perf_counter)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.bodies: list[Received] = []
        self.changed = asyncio.Event()

    def __call__(self, request: Received) -> Behaviour:
        now = time.perf_counter()
        dispute_id = json.loads(request.body)["data"]["dispute_id"]
        self.at.setdefault(dispute_id, now)
        if len(self.bodies) < SAMPLE_VERIFY:
            self.bodies.append(request)
        self.changed.set()
        return Behaviour()


def events(n: int, run: str, prefix: str) -> list[tuple[str, bytes]]:
    due = datetime.now(UTC) + timedelta(days=2)
    out = []
    for i in range(n):
        dispute_id = f"CD-{run}-{prefix}{i:06d}"
        data = DeadlineAlertedV1(
            dispute_id=dispute_id, alert="reminder", due_at=due, hours_left=48.0, offset_minutes=2880
        )
        out.append((dispute_id, new_event(data, source="bench", seller_id=SELLER).to_bytes()))
    return out


async def produce(bootstrap: str, batch: list[tuple[str, bytes]], *, rate: float | None) -> dict[str, float]:
    """Produce `batch`; returns the time (perf_counter) the broker acknowledged each dispute's event."""
    producer = create_producer(bootstrap, client_id="bench-notify")
    await producer.start()
    acked: dict[str, float] = {}

    def on_ack(dispute_id: str):  # type: ignore[no-untyped-def]
        def done(_: object) -> None:
            acked[dispute_id] = time.perf_counter()

        return done

    try:
        started = time.perf_counter()
        futures = []
        for i, (dispute_id, value) in enumerate(batch):
            if rate is not None:
                wait = started + i / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            future = await producer.send(topics.DEADLINE_ALERTED, value, key=dispute_id.encode())
            future.add_done_callback(on_ack(dispute_id))
            futures.append(future)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return acked


async def wait_for(receipts: Receipts, wanted: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(d in receipts.at for d in wanted):
        if time.monotonic() > deadline:
            missing = sum(d not in receipts.at for d in wanted)
            raise RuntimeError(f"{missing} of {len(wanted)} notifications never reached the sink")
        receipts.changed.clear()
        try:
            await asyncio.wait_for(receipts.changed.wait(), 1.0)
        except TimeoutError:
            pass


def figures(acked: dict[str, float], receipts: Receipts, wanted: list[str]) -> dict[str, float]:
    latencies = sorted((receipts.at[d] - acked[d]) * 1000 for d in wanted)
    got = sorted(receipts.at[d] for d in wanted)
    span = got[-1] - got[0]
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "n": len(wanted),
        "rate": len(wanted) / span if span > 0 else float("inf"),
        "p50": statistics.median(latencies),
        "p99": cuts[98],
        "max": latencies[-1],
    }


def serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.notify", "serve"], env=env, cwd=REPO, stdout=subprocess.DEVNULL
    )


async def run(n: int, paced: int, rate: float, infra: LocalInfra, *, port: int) -> dict[str, dict[str, float]]:
    await ensure_topics(infra.kafka_bootstrap_servers)
    await asyncio.to_thread(upgrade, DEFINITION.migrations, infra.database_url)
    env = os.environ | {
        "DD_ENV": "local",
        "DD_ALLOW_PRIVATE_TARGETS": "true",
        "DD_NOTIFY_DATABASE_URL": infra.database_url,
        "DD_NOTIFY_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DD_NOTIFY_LOG_LEVEL": "WARNING",
        "DD_NOTIFY_PORT": str(port),
    }
    receipts = Receipts()
    run_id = uuid.uuid4().hex[:6]
    async with HttpSink(receipts) as sink:
        process = serve(env)
        try:
            token = mint_token(os.environ.get("DD_AUTH_SECRET", DEVELOPMENT_AUTH_SECRET), "seller", SELLER)
            prefs = {"language": "zh", "channels": [{"type": "webhook", "url": sink.url + "/hook", "secret": WHSEC}]}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
                answer = await client.put("/v1/preferences", json=prefs, headers={"Authorization": f"Bearer {token}"})
                answer.raise_for_status()
            results: dict[str, dict[str, float]] = {}
            # A short warm-up (connections, the consumer's first fetch), not counted.
            warm = events(50, run_id, "w")
            await produce(infra.kafka_bootstrap_servers, warm, rate=None)
            await wait_for(receipts, [d for d, _ in warm], 120)
            burst = events(n, run_id, "b")
            cpu_before = cpu_seconds(process.pid)
            acked = await produce(infra.kafka_bootstrap_servers, burst, rate=None)
            await wait_for(receipts, [d for d, _ in burst], 600)
            cpu_us = (cpu_seconds(process.pid) - cpu_before) / n * 1e6  # consume + dispatch, per event
            results["burst"] = figures(acked, receipts, [d for d, _ in burst]) | {"cpu_us": cpu_us}
            if paced:
                steady = events(paced, run_id, "p")
                acked = await produce(infra.kafka_bootstrap_servers, steady, rate=rate)
                await wait_for(receipts, [d for d, _ in steady], 120)
                results["paced"] = figures(acked, receipts, [d for d, _ in steady]) | {"offered": rate}
            for request in receipts.bodies:  # the signature, the reference library's way
                headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
                Webhook(WHSEC).verify(request.body, headers)
            return results
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def report(r: dict[str, dict[str, float]]) -> str:
    burst = r["burst"]
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — notify: deadline.alerted to one webhook sink, topic to the "
        f"sink's receipt (`services.notify serve`), {platform.machine()}, {os.cpu_count()} cores",
        "",
        "| run | events | deliveries/s | p50 | p99 | max | service CPU µs/event | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| burst (all produced at once) | {burst['n']:,.0f} | {burst['rate']:,.0f} | {burst['p50']:,.0f} ms "
        f"| {burst['p99']:,.0f} ms | {burst['max']:,.0f} ms | {burst['cpu_us']:,.0f} "
        f"| ≥ {GOAL_RATE:,}/s {'met' if burst['rate'] >= GOAL_RATE else 'NOT met'} |",
    ]
    if "paced" in r:
        p = r["paced"]
        lines.append(
            f"| paced at {p['offered']:,.0f} events/s | {p['n']:,.0f} | {p['rate']:,.0f} | {p['p50']:,.1f} ms "
            f"| {p['p99']:,.1f} ms | {p['max']:,.1f} ms | "
            f"| p99 ≤ {GOAL_P99_MS:.0f} ms {'met' if p['p99'] <= GOAL_P99_MS else 'NOT met'} |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--paced", type=int, default=3_000, help="events of the paced run (0: none)")
    parser.add_argument("--rate", type=float, default=300.0, help="events/s of the paced run")
    parser.add_argument("--no-record", action="store_true", help="print, do not append to bench/RESULTS.md")
    add_http_port_argument(parser)
    parser.add_argument("--keep", action="store_true", help="leave the servers running (and their data)")
    args = parser.parse_args()
    results = on_bench_servers(
        lambda infra: run(args.events, args.paced, args.rate, infra, port=args.port), keep=args.keep
    )
    record_report(report(results), append=not args.no_record)


if __name__ == "__main__":
    main()
