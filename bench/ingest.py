"""Ingest benchmark: signed one-dispute webhooks at concurrency 50 against one ingest worker, and in
the same run two baselines: a bare FastAPI endpoint parsing the same body with the same model
(bench/bare_ingest.py), and the limit, an endpoint doing only the work no correct webhook can skip:
verify the signature and commit one durable row with asyncpg (bench/limit_ingest.py).

    make bench            (or: python -m bench.ingest --requests 3000)

Starts its own PostgreSQL and Kafka (deploy/local, bench ports, `.local/bench`), migrates the
ingest schema, and runs each server as its own uvicorn process (one worker; the ingest one with
its relay and consumer running, as deployed). Requests are signed before the clock starts; each
carries a new dispute, so each makes a case, a timeline row, a receipt and an outbox event.
Both servers run uvicorn with the same settings (uvloop and httptools, no access log).
Besides rates and latencies it reports each server's CPU time per request (from /proc), which
other work on the machine moves far less than the rates.
Goals (issue 8): ingest >= 50 % of the bare rate, p99 <= 50 ms. Appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from bench.backbone import add_http_port_argument, cpu_seconds, on_bench_servers, record_report
from deploy.local.infra import REPO, LocalInfra
from services.ingest.main import DEFINITION
from shared.db.migrations import upgrade
from shared.kafka.topics import ensure_topics
from shared.settings import DEVELOPMENT_AUTH_SECRET
from shared.web.auth import mint_token

CONCURRENCY = 50
LIMIT_SECRET = "whsec_YmVuY2gtbGltaXQtc2VjcmV0LTMyLWJ5dGVzLWxvbmch"  # the limit endpoint's own, bench only


def _limit_env(infra: LocalInfra) -> dict[str, str]:
    return {
        "BENCH_LIMIT_DSN": infra.database_url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "BENCH_LIMIT_SECRET": LIMIT_SECRET,
    }


def notice_body(n: int, run: str) -> bytes:
    dispute = {
        "dispute_id": f"CD-{run}-{n:06d}",
        "kind": "chargeback",
        "order_id": f"30{n:011d}",
        "amount": {"value": "45000", "currency": "KRW"},
        "reason_code": "NOT_RECEIVED",
        "raw_reason_code": "13.1",
        "reason_text": "상품 미수령",
        "buyer_id": "B-77",
        "respond_by": None,
    }
    body = {"event": "dispute.opened", "notice_id": f"N-{run}-{n}", "notified_at": "2026-09-23T10:15:00+09:00"}
    return json.dumps(body | {"disputes": [dispute]}, ensure_ascii=False).encode()


def signed(secret: str, body: bytes) -> dict[str, str]:
    webhook_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body.decode()),
        "content-type": "application/json",
    }


def serve(module: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    if module == "ingest":
        command = [sys.executable, "-m", "services.ingest", "serve"]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            module,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_healthy(client: httpx.AsyncClient, url: str, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await client.get(url + path)).status_code in (200, 404, 405):
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


class Connection:
    """A bare keep-alive HTTP/1.1 client connection: httpx costs more CPU per request than the
    bare endpoint itself, and on 2 shared cores the load generator must not be what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, f"{host}:{port}")

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body
        )
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def load(url: str, path: str, requests: list[tuple[bytes, dict[str, str]]], pid: int | None = None) -> dict:
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []
    failures = 0
    connections = [await Connection.open(url) for _ in range(CONCURRENCY)]

    async def worker(connection: Connection) -> None:
        nonlocal failures
        while not queue.empty():
            body, headers = queue.get_nowait()
            started = time.perf_counter()
            status = await connection.post(path, body, headers)
            latencies.append(time.perf_counter() - started)
            failures += status != 202

    cpu_before = cpu_seconds(pid) if pid is not None else None
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(pid) if pid is not None else None
    # The server's CPU per request: unlike the rate, it hardly moves when other work shares the cores.
    cpu_ms = (cpu_after - cpu_before) * 1000 / len(requests) if cpu_before is not None and cpu_after else None
    latencies.sort()
    return {
        "rate": len(requests) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "failures": failures,
        "cpu_ms": cpu_ms,
    }


async def run(n: int, infra: LocalInfra, port: int) -> dict[str, dict]:
    await ensure_topics(infra.kafka_bootstrap_servers)
    await asyncio.to_thread(upgrade, DEFINITION.migrations, infra.database_url)
    env = os.environ | {
        "DD_ENV": "local",
        "DD_INGEST_DATABASE_URL": infra.database_url,
        "DD_INGEST_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DD_INGEST_PORT": str(port),
        "DD_INGEST_LOG_LEVEL": "WARNING",
    }
    ingest_url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    limit_url = f"http://127.0.0.1:{port + 2}"
    processes = [
        serve("ingest", port, env),
        serve("bench.bare_ingest:app", port + 1, env),
        serve("bench.limit_ingest:app", port + 2, env | _limit_env(infra)),
    ]
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    try:
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await wait_healthy(client, ingest_url, "/healthz")
            await wait_healthy(client, bare_url, "/docs")
            await wait_healthy(client, limit_url, "/docs")
            operator = {"Authorization": f"Bearer {mint_token(DEVELOPMENT_AUTH_SECRET, 'operator')}"}
            seller = {"seller_id": f"VBENCH{uuid.uuid4().hex[:6].upper()}", "name": "bench", "contact": "bench"}
            created = await client.post(ingest_url + "/v1/sellers", json=seller, headers=operator)
            created.raise_for_status()
            secret, seller_id = created.json()["webhook_secret"], seller["seller_id"]
            run_id = uuid.uuid4().hex[:6]
            path = f"/v1/webhooks/coupang/{seller_id}"
            plain = {"content-type": "application/json"}
            warm = [notice_body(i, run_id + "w") for i in range(200)]
            await load(bare_url, path, [(b, plain) for b in warm])
            await load(ingest_url, path, [(b, signed(secret, b)) for b in warm])
            bodies = [notice_body(i, run_id) for i in range(n)]
            await load(limit_url, path, [(b, signed(LIMIT_SECRET, b)) for b in warm])
            bare = await load(bare_url, path, [(b, plain) for b in bodies], processes[1].pid)
            limit = await load(limit_url, path, [(b, signed(LIMIT_SECRET, b)) for b in bodies], processes[2].pid)
            ingest = await load(ingest_url, path, [(b, signed(secret, b)) for b in bodies], processes[0].pid)
            return {"bare": bare, "limit": limit, "ingest": ingest}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _cpu_ratio(ours: dict, baseline: dict) -> str:
    if ours["cpu_ms"] is None or not baseline["cpu_ms"]:
        return "n/a ×"
    return f"{ours['cpu_ms'] / baseline['cpu_ms']:.1f}×"


def _ms(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def report(results: dict[str, dict], n: int) -> str:
    bare, limit, ingest = results["bare"], results["limit"], results["ingest"]
    ratio = ingest["rate"] / bare["rate"]
    of_limit = ingest["rate"] / limit["rate"]
    return "\n".join(
        [
            f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — ingest webhooks: {n} signed one-dispute notices, "
            f"concurrency {CONCURRENCY}, one worker each, {platform.machine()}, {os.cpu_count()} cores",
            "",
            "| endpoint | requests/s | p50 ms | p99 ms | server CPU ms/request | non-202 | goal |",
            "|---|---:|---:|---:|---:|---:|---|",
            f"| bare FastAPI (parse + 202) | {bare['rate']:,.0f} | {bare['p50_ms']:.1f} | {bare['p99_ms']:.1f} "
            f"| {_ms(bare['cpu_ms'])} | {bare['failures']} | |",
            f"| limit (verify + one durable asyncpg row) | {limit['rate']:,.0f} | {limit['p50_ms']:.1f} "
            f"| {limit['p99_ms']:.1f} | {_ms(limit['cpu_ms'])} | {limit['failures']} | |",
            f"| ingest webhook | {ingest['rate']:,.0f} | {ingest['p50_ms']:.1f} | {ingest['p99_ms']:.1f} "
            f"| {_ms(ingest['cpu_ms'])} | {ingest['failures']} "
            f"| {ratio:.0%} of bare (≥ 50 % {'met' if ratio >= 0.5 else 'NOT met'}), "
            f"p99 ≤ 50 ms {'met' if ingest['p99_ms'] <= 50 else 'NOT met'}; {of_limit:.0%} of the limit's rate, "
            f"{_cpu_ratio(ingest, limit)} its CPU per request |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    add_http_port_argument(parser)
    args = parser.parse_args()
    results = on_bench_servers(lambda infra: run(args.requests, infra, args.port))
    record_report(report(results, args.requests))


if __name__ == "__main__":
    main()
