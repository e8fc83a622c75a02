"""Submit benchmark: package build time and submissions/s under the per-seller portal rate limit.

    make bench            (or: python -m bench.submit [--builds 30] [--sellers 20] [--per-seller 30])

1. Package build: a 10-item case (images, PDFs, a text file; 200 KB to 1 MB each, 4 MB in all) packed
   as the submit route does (cover letter rendered with the embedded CJK subset, files streamed and
   hashed, manifest), `--builds` times: p50 and p99. Goal (issue 18): p99 <= 1 s.
2. Submissions/s: the portal simulator in this process (uvicorn on a loopback port), `--sellers`
   sellers each sending `--per-seller` packages through the http adapter (CEA-signed, idempotency
   key per package) with four callers per seller, every request first taking a token of the
   seller's bucket in PostgreSQL (services/submit/ratelimit.py, 10/s). Reported: submissions/s in
   all, and per seller the most calls seen in any one-second window (goal: never over 10) and the
   rate achieved over its run (goal: not under 9/s, i.e. not under-used by more than 10 %).

Only PostgreSQL is started (the bench's own, `.local/bench`, DD_BENCH_* ports); it is destroyed after.
Appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.backbone import bench_infra, record_report
from services.portal_sim.main import create_app as create_portal
from services.portal_sim.settings import Settings as PortalSettings
from services.portal_sim.settings import VerdictRule
from services.submit import letters, package
from services.submit.main import DEFINITION
from services.submit.portal.base import PackageUpload
from services.submit.portal.http import HttpPortal
from services.submit.ratelimit import PortalRateLimit, RateLimitedTransport
from services.submit.settings import DEV_PORTAL_ACCESS_KEY, DEV_PORTAL_SECRET_KEY, Settings
from shared.db.engine import create_engine
from shared.db.migrations import upgrade

GOAL_P99_S = 1.0
RATE = 10.0


def _items(root: Path) -> list[package.PackageFile]:
    kinds = ["proof_of_delivery", "tracking_record", "product_photo", "invoice", "message_log"]
    types = ["image/jpeg", "application/pdf", "image/png", "application/pdf", "text/plain"]
    files = []
    for n in range(10):
        size = 200_000 + (n * 90_000)  # 200 KB .. 1 MB
        data = os.urandom(size) if types[n % 5] != "text/plain" else ("배송 완료 메시지 " * (size // 24)).encode()
        path = root / f"item-{n}"
        path.write_bytes(data)
        provenance = package.Provenance(evidence_id=uuid.uuid4(), uploader="seller:V1", source="upload")
        files.append(
            package.PackageFile(kinds[n % 5], types[n % 5], hashlib.sha256(data).hexdigest(), path, provenance)
        )
    return files


async def build_times(builds: int) -> list[float]:
    font = letters.LetterFont(Settings().letter_font_path, Settings().letter_font_index)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = _items(root)
        now = datetime.now(UTC)
        for i in range(builds):
            started = time.perf_counter()
            named = package.evidence_names("CD-BENCH-0001", files, letters=1)
            letter = letters.CoverLetter(
                dispute_id="CD-BENCH-0001",
                order_id="3000987650001",
                seller_name="V1",
                amount="45,000 KRW",
                reason_code="NOT_RECEIVED",
                timeline=[letters.TimelineEntry(now - timedelta(days=1), "분쟁 접수", "收到争议")],
                evidence=[letters.EvidenceLine(name, item.kind, item.sha256) for name, item in named],
                legal_basis=[letters.LegalBasis("전자상거래법", "제17조", "청약철회", "요약", "撤回要约")],
            )
            pdf = await asyncio.to_thread(letters.cover_letter, letter, font)
            await package.build(
                "CD-BENCH-0001",
                files,
                root / f"p-{i}.zip",
                letters=[package.generated("cover_letter", "application/pdf", pdf)],
            )
            times.append(time.perf_counter() - started)
            (root / f"p-{i}.zip").unlink()
    return times


def _small_zip(root: Path, seller: str, n: int) -> PackageUpload:
    data = f"{seller}-{n}".encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("D_01_cover_letter.pdf", data)
        zf.writestr(
            "manifest.json",
            json.dumps({"files": [{"name": "D_01_cover_letter.pdf", "sha256": hashlib.sha256(data).hexdigest()}]}),
        )
    path = root / f"{seller}-{n}.zip"
    path.write_bytes(buffer.getvalue())
    return PackageUpload(
        f"CD-{seller}-{n:04d}", seller, path, hashlib.sha256(buffer.getvalue()).hexdigest(), path.stat().st_size
    )


class Granted(RateLimitedTransport):
    def __init__(self, limit: PortalRateLimit, seller: str, log: list[float]) -> None:
        super().__init__(limit, seller)
        self.log = log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._limit.take(self._seller_id)
        self.log.append(time.monotonic())
        return await self._inner.handle_async_request(request)


async def throughput(database_url: str, sellers: int, per_seller: int) -> dict[str, float]:
    portal = create_portal(PortalSettings(callback_url=None, default_verdict=VerdictRule(delay_s=3600)))
    server = uvicorn.Server(uvicorn.Config(portal, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # up to 5 s for the socket to listen
        if server.started:
            break
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    limit = PortalRateLimit(create_engine(database_url, pool_size=20), rate_per_s=RATE)
    grants: dict[str, list[float]] = {f"VB{s:03d}": [] for s in range(sellers)}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            uploads = {seller: [_small_zip(Path(tmp), seller, n) for n in range(per_seller)] for seller in grants}

            async def seller_run(seller: str) -> None:
                client = HttpPortal(
                    url,
                    vendor_id=seller,
                    access_key=DEV_PORTAL_ACCESS_KEY,
                    secret_key=DEV_PORTAL_SECRET_KEY,
                    transport=Granted(limit, seller, grants[seller]),
                )
                queue = list(uploads[seller])

                async def caller() -> None:
                    while queue:
                        upload = queue.pop()
                        await client.submit(upload, idempotency_key=f"bench-{upload.dispute_id}")

                try:
                    await asyncio.gather(*(caller() for _ in range(4)))
                finally:
                    await client.aclose()

            started = time.monotonic()
            await asyncio.gather(*(seller_run(seller) for seller in grants))
            elapsed = time.monotonic() - started
    finally:
        await limit.aclose()
        server.should_exit = True
        await task
    worst = max(max(sum(1 for t in times if at <= t < at + 1.0) for at in times) for times in grants.values() if times)
    rates = [(len(t) - 1) / (t[-1] - t[0]) for t in grants.values() if len(t) > 1]
    return {
        "submissions": float(sellers * per_seller),
        "elapsed_s": elapsed,
        "per_s": sellers * per_seller / elapsed,
        "worst_window": float(worst),
        "min_rate": min(rates),
        "median_rate": statistics.median(rates),
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(times: list[float], figures: dict[str, float], sellers: int, per_seller: int) -> str:
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    p50, p99 = _pct(times, 0.5), _pct(times, 0.99)
    return "\n".join(
        [
            f"### {at} — submit: package build, and submissions under the per-seller limit, "
            f"{platform.machine()}, {os.cpu_count()} cores",
            "",
            "| measure | value | goal |",
            "|---|---:|---:|",
            f"| package build, 10 items (4 MB) + cover letter, p50 | {p50 * 1000:.0f} ms | |",
            f"| package build, p99 ({len(times)} builds) | {p99 * 1000:.0f} ms | ≤ 1000 ms "
            f"{'met' if p99 <= GOAL_P99_S else 'NOT met'} |",
            f"| submissions/s, {sellers} sellers × {per_seller} packages | {figures['per_s']:.0f} | "
            f"≤ {sellers * RATE:.0f} (the limit) |",
            f"| most calls of one seller in any 1 s window | {figures['worst_window']:.0f} | ≤ {RATE + 1:.0f} "
            f"{'met' if figures['worst_window'] <= RATE + 1 else 'NOT met'} |",
            f"| slowest seller's rate (median) | {figures['min_rate']:.2f}/s ({figures['median_rate']:.2f}/s) | "
            f"≥ {RATE * 0.9:.1f}/s {'met' if figures['min_rate'] >= RATE * 0.9 else 'NOT met'} |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--builds", type=int, default=30)
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument("--per-seller", type=int, default=30)
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to bench/RESULTS.md")
    args = parser.parse_args()
    infra = bench_infra()
    infra.start_postgres()
    try:

        async def work() -> tuple[list[float], dict[str, float]]:
            admin = create_async_engine(infra.database_url, isolation_level="AUTOCOMMIT")
            database = f"bench_submit_{uuid.uuid4().hex[:8]}"
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{database}"'))
            url = infra.database_url.rsplit("/", 1)[0] + f"/{database}"
            await asyncio.to_thread(upgrade, DEFINITION.migrations, url)
            try:
                return await build_times(args.builds), await throughput(url, args.sellers, args.per_seller)
            finally:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                await admin.dispose()

        times, figures = asyncio.run(work())
    finally:
        infra.stop_postgres()
    record_report(report(times, figures, args.sellers, args.per_seller), append=not args.no_record)


if __name__ == "__main__":
    main()
