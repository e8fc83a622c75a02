"""Submit's packages through S3: built and stored by one submit replica, downloaded from another.

The submit service on its harness (tests/integration/submit/conftest.py's kit: the portal simulator and
the evidence stand-in on loopback ports) with `DD_BLOB_STORE=s3`; a second submit app on the same
database and bucket, with a local root of its own, serves the package it never built.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import services.submit.main
from services.portal_sim.main import create_app as create_portal
from services.portal_sim.settings import Settings as PortalSettings
from services.submit.package import mismatched_files
from shared.clock import ManualClock
from tests.harness import service_harness
from tests.integration.blobs.conftest import MotoS3, free_port
from tests.integration.submit.conftest import EvidenceStandIn, Submit, serve

if TYPE_CHECKING:
    from tests.infra import TestInfra


@asynccontextmanager
async def replica(a: Submit, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another submit app on `a`'s database (and evidence stand-in and portal), with `changes` to its settings."""
    app = services.submit.main.create_app(a.settings.model_copy(update=changes), clock=a.clock)
    runtime = app.state.runtime
    ctx = runtime.context
    await ctx.evidence.aclose()
    ctx.evidence = httpx.AsyncClient(base_url=str(a.context.evidence.base_url), timeout=5.0)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://replica") as client:
            yield client
    finally:
        await ctx.aclose()
        await runtime.engine.dispose()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
async def submit_on_s3(
    infra: TestInfra, moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Submit, str]]:
    bucket = moto_s3.new_bucket()
    portal_app = create_portal(PortalSettings(callback_url=None))  # no verdicts: only the package matters here
    evidence = EvidenceStandIn(secret="")
    clock = ManualClock(datetime.now(UTC))
    async for portal_url in serve(portal_app):
        async with service_harness(
            infra,
            services.submit.main,
            harness=Submit,
            clock=clock,
            portal_url=portal_url,
            package_root=tmp_path_factory.mktemp("packages-a"),
            **moto_s3.settings(bucket),
        ) as harness:
            evidence.secret = harness.settings.auth_secret
            async for evidence_url in serve(evidence.app()):
                ctx = harness.context
                await ctx.evidence.aclose()
                ctx.evidence = httpx.AsyncClient(base_url=evidence_url, timeout=5.0)
                harness.evidence, harness.portal_url, harness.portal_app, harness.clock = (
                    evidence,
                    portal_url,
                    portal_app,
                    clock,
                )
                try:
                    yield harness, bucket
                finally:
                    await ctx.aclose()


async def test_a_package_built_by_one_replica_is_downloaded_from_another(
    submit_on_s3: tuple[Submit, str], moto_s3: MotoS3, tmp_path: Path
) -> None:
    a, bucket = submit_on_s3
    seller, dispute = await a.new_case(files=2)
    answer = await a.submit(dispute, seller)
    assert answer.status_code == 201, answer.text
    sha = answer.json()["package_sha256"]
    assert f"packages/{sha[:2]}/{sha[2:4]}/{sha}" in moto_s3.keys(bucket)
    assert _files(Path(a.settings.package_root)) == []  # type: ignore[attr-defined]  # built there, stored, gone

    b_root = tmp_path / "packages-b"
    async with replica(a, package_root=b_root) as b:
        package = await b.get(f"/v1/cases/{dispute}/package", headers=a.seller_headers(seller))

    assert package.status_code == 200 and package.headers["content-type"] == "application/zip"
    assert hashlib.sha256(package.content).hexdigest() == sha
    assert mismatched_files(io.BytesIO(package.content)) == []
    assert _files(b_root) == []


async def test_a_package_that_cannot_be_stored_answers_503_and_nothing_is_sent(
    submit_on_s3: tuple[Submit, str], tmp_path: Path
) -> None:
    a, _ = submit_on_s3
    seller, dispute = await a.new_case(files=1)
    down = {"package_root": tmp_path / "down", "blob_s3_endpoint_url": f"http://127.0.0.1:{free_port()}"}

    async with replica(a, **down) as d:
        refused = await d.post(f"/v1/cases/{dispute}/submit", json=a.body(dispute), headers=a.seller_headers(seller))

    assert refused.status_code == 503 and refused.json()["code"] == "blob_store_unavailable", refused.text
    assert refused.headers["retry-after"] == "1"
    assert a.portal_packages(dispute) == [] and await a.events_of(dispute, "case.submitted") == []
    assert _files(tmp_path / "down") == []  # the built ZIP is gone too
    again = await a.submit(dispute, seller)  # the store is back (replica A's): a retry goes through
    assert again.status_code == 201, again.text
