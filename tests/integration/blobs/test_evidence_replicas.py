"""Two evidence replicas on one database: what one stores, the other serves, with the S3 store only.

Each replica is its own app, built from its own settings exactly as a process builds it (its own
context, blob store and local root; only the database and the bucket are shared), called over HTTP
(ASGI). With `DD_BLOB_STORE=local` replica B cannot serve what A stored: the reason for the S3 store.
A store that is down, or refuses our key, answers 503 `blob_store_unavailable`, never a 500.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import services.evidence.main
from shared.web.problems import PROBLEM_MEDIA_TYPE
from tests.harness import service_harness
from tests.integration.blobs.conftest import MotoS3, free_port
from tests.integration.evidence.conftest import ORDER, Evidence
from tests.unit.evidence.test_extract import make_pdf

if TYPE_CHECKING:
    from tests.infra import TestInfra

META = {"kind": "tracking_record", "carrier": "CJ", "tracking_number": "651234567890", "order_id": ORDER}


@asynccontextmanager
async def replica(primary: Evidence, **changes: Any) -> AsyncIterator[Evidence]:
    """Another evidence app on `primary`'s database, with `primary`'s settings but `changes`."""
    settings = primary.settings.model_copy(update=changes)
    app = services.evidence.main.create_app(settings)
    runtime = app.state.runtime
    # A 500 is answered as problem+json and then re-raised by Starlette: take the answer, as a client would.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
        try:
            yield Evidence(primary.definition, settings, app, client, runtime.sessions)
        finally:
            await runtime.engine.dispose()


@pytest.fixture(scope="module")
async def on_s3(
    infra: TestInfra, moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Evidence, str]]:
    """Replica A on S3 (its bucket), and the bucket."""
    bucket = moto_s3.new_bucket()
    root = tmp_path_factory.mktemp("replica-a")
    async with service_harness(
        infra,
        services.evidence.main,
        harness=Evidence,
        blob_root=root,
        check_debounce_ms=0,
        **moto_s3.settings(bucket),
    ) as harness:
        harness.blob_root = root
        yield harness, bucket


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def _upload_pdf(a: Evidence, text: str) -> tuple[str, dict[str, Any], bytes]:
    seller, dispute = await a.new_case()
    pdf = make_pdf([f"CJ Logistics tracking 651234567890 {text}", "2026-10-28 14:22 KST delivered"])
    answer = await a.upload(dispute, seller, META, ("waybill.pdf", pdf, "application/pdf"))
    assert answer.status_code == 201, answer.text
    return seller, answer.json(), pdf


def _is_problem(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.json()["code"] == code and "Traceback" not in answer.text


async def test_an_upload_through_replica_a_is_read_through_replica_b(
    on_s3: tuple[Evidence, str], moto_s3: MotoS3, tmp_path: Path
) -> None:
    a, bucket = on_s3
    seller, item, pdf = await _upload_pdf(a, "a to b")
    sha = hashlib.sha256(pdf).hexdigest()

    async with replica(a, blob_root=tmp_path / "replica-b") as b:
        answer = await b.client.get(item["content_url"], headers=b.seller_headers(seller))

        assert answer.status_code == 200, answer.text
        assert answer.content == pdf and answer.headers["etag"] == f'"{sha}"'
        assert answer.headers["content-type"] == "application/pdf"
        listed = await b.client.get(f"/v1/cases/{item['dispute_id']}/evidence", headers=b.seller_headers(seller))
        assert [i["sha256"] for i in listed.json()["items"]] == [sha]

    assert f"evidence/{sha[:2]}/{sha[2:4]}/{sha}" in moto_s3.keys(bucket)
    assert _blob_files(a.blob_root) == [] and _blob_files(tmp_path / "replica-b") == []  # staged, stored, gone


async def test_with_the_local_store_replica_b_cannot_read_what_a_stored(
    infra: TestInfra, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("local-a")
    async with service_harness(
        infra, services.evidence.main, harness=Evidence, blob_root=root, check_debounce_ms=0
    ) as a:
        seller, item, pdf = await _upload_pdf(a, "local")
        assert (await a.client.get(item["content_url"], headers=a.seller_headers(seller))).content == pdf

        async with replica(a, blob_root=tmp_path_factory.mktemp("local-b")) as b:
            answer = await b.client.get(item["content_url"], headers=b.seller_headers(seller))

    # The row is in the shared database, its bytes on A's disk only.
    _is_problem(answer, 500, "internal_error")


async def test_a_store_that_is_down_answers_503_and_keeps_nothing(on_s3: tuple[Evidence, str], tmp_path: Path) -> None:
    a, _ = on_s3
    seller, stored, _ = await _upload_pdf(a, "before the outage")
    down = {"blob_root": tmp_path / "down", "blob_s3_endpoint_url": f"http://127.0.0.1:{free_port()}"}

    async with replica(a, **down) as d:
        _, dispute = await d.new_case(seller)
        pdf = make_pdf(["CJ Logistics tracking 651234567890 during the outage"])
        upload = await d.upload(dispute, seller, META, ("waybill.pdf", pdf, "application/pdf"))
        read = await d.client.get(stored["content_url"], headers=d.seller_headers(seller))

        _is_problem(upload, 503, "blob_store_unavailable")
        assert upload.headers["retry-after"] == "1"
        assert "127.0.0.1" not in upload.text  # the endpoint is the log's, not the caller's
        assert await d.item_count(dispute) == 0 and await d.outbox_types(dispute) == []  # no row without its blob
        assert _blob_files(tmp_path / "down") == []  # the staged upload is gone too
        _is_problem(read, 503, "blob_store_unavailable")


async def test_a_replica_with_a_wrong_key_answers_503(on_s3: tuple[Evidence, str], tmp_path: Path) -> None:
    a, _ = on_s3
    seller, stored, _ = await _upload_pdf(a, "wrong key")

    async with replica(a, blob_root=tmp_path / "w", blob_s3_access_key_id="AKIAWRONGWRONGWRONG0") as w:
        read = await w.client.get(stored["content_url"], headers=w.seller_headers(seller))

    _is_problem(read, 503, "blob_store_unavailable")
