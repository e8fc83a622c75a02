"""The blob store contract, held by both stores: LocalBlobStore (files on disk) and S3BlobStore (moto's S3).

Content-addressed puts that are idempotent, reads whole and in pieces, exists, idempotent deletes,
BlobNotFound for what is not there, hostile ids refused before anything is touched, a 12 MiB blob
through S3's multipart upload, and the staged file gone after a put. Then what only S3 does: a store
that is down or refuses our key raises `BlobStoreUnavailable`, and prefixes keep two services apart.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

import services.evidence.settings
import services.submit.settings
from shared.blobs import (
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    InvalidBlobId,
    LocalBlobStore,
    S3BlobStore,
    blob_store_from,
    open_chunks,
)
from tests.integration.blobs.conftest import MotoS3, free_port

LARGE = 12 * 1024 * 1024  # above S3BlobStore.PART_BYTES twice: three parts


@dataclass
class StoreUnderTest:
    """A store and how to see, from outside it, what it holds (a file on disk, an object in the bucket)."""

    store: BlobStore
    local_root: Path
    stored_names: Callable[[], list[str]]  # where every blob is, relative to the store's root or bucket
    uploads_of: Callable[[str], int]  # how many times a blob's bytes were written

    def stage(self, content: bytes, name: str = "a.upload") -> tuple[Path, str]:
        self.store.staging_dir.mkdir(parents=True, exist_ok=True)
        path = self.store.staging_dir / name
        path.write_bytes(content)
        return path, hashlib.sha256(content).hexdigest()


def _local(root: Path) -> StoreUnderTest:
    store = LocalBlobStore(root)

    def names() -> list[str]:
        return sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_relative_to(store.staging_dir)
        )

    def uploads_of(sha: str) -> int:
        # One inode per write: a second put that replaced the file would be another one (seen by the test).
        return 1 if store.path_of(sha).is_file() else 0

    return StoreUnderTest(store, root, names, uploads_of)


def _s3(moto: MotoS3, root: Path, prefix: str = "evidence") -> StoreUnderTest:
    bucket = moto.new_bucket(versioned=True)  # a second upload of the same key would be a second version
    store = moto.store(bucket, root / "staging", prefix=prefix)

    def uploads_of(sha: str) -> int:
        versions = moto.client().list_object_versions(Bucket=bucket, Prefix=store.key_of(sha))
        return len(versions.get("Versions", []))

    return StoreUnderTest(store, root, lambda: moto.keys(bucket), uploads_of)


@pytest.fixture(params=["local", "s3"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    root = tmp_path / "blobs"
    if request.param == "local":
        return _local(root)
    return _s3(request.getfixturevalue("moto_s3"), root)


def _layout(subject: StoreUnderTest, sha: str) -> str:
    prefix = "evidence/" if isinstance(subject.store, S3BlobStore) else ""
    return f"{prefix}{sha[:2]}/{sha[2:4]}/{sha}"


# ---------------------------------------------------------------- the contract, both stores


def test_is_a_blob_store_staging_on_local_disk(subject: StoreUnderTest) -> None:
    assert isinstance(subject.store, BlobStore)
    assert subject.store.staging_dir.is_relative_to(subject.local_root)


async def test_put_read_exists_and_layout(subject: StoreUnderTest) -> None:
    store = subject.store
    content = b"%PDF-1.7 hello"
    staged, sha = subject.stage(content)
    assert not await store.exists(sha)

    await store.put(staged, sha)

    assert not staged.exists()  # the staged file is gone once stored
    assert subject.stored_names() == [_layout(subject, sha)]
    assert await store.exists(sha)
    assert await store.read(sha) == content


async def test_chunks_streams_the_blob_in_pieces_in_order(subject: StoreUnderTest) -> None:
    content = bytes(range(256)) * 1000  # 256,000 bytes
    staged, sha = subject.stage(content)
    await subject.store.put(staged, sha)

    pieces = [piece async for piece in subject.store.chunks(sha, chunk_size=65536)]

    assert b"".join(pieces) == content
    assert [len(p) for p in pieces] == [65536, 65536, 65536, 256000 - 3 * 65536]


async def test_put_of_existing_content_is_a_no_op_that_drops_the_staged_file(subject: StoreUnderTest) -> None:
    store = subject.store
    first, sha = subject.stage(b"same bytes", "1.upload")
    await store.put(first, sha)
    local_inode = store.path_of(sha).stat().st_ino if isinstance(store, LocalBlobStore) else None

    second, sha_again = subject.stage(b"same bytes", "2.upload")
    await store.put(second, sha_again)

    assert sha_again == sha
    assert not second.exists()
    assert subject.uploads_of(sha) == 1  # written once
    if isinstance(store, LocalBlobStore):
        assert store.path_of(sha).stat().st_ino == local_inode  # the stored file was not replaced
    assert await store.read(sha) == b"same bytes"
    assert list(store.staging_dir.iterdir()) == []


async def test_delete_removes_and_is_idempotent(subject: StoreUnderTest) -> None:
    store = subject.store
    staged, sha = subject.stage(b"to delete")
    await store.put(staged, sha)

    await store.delete(sha)
    await store.delete(sha)  # again: no error

    assert not await store.exists(sha)
    assert subject.stored_names() == []


async def test_a_missing_blob_is_blob_not_found(subject: StoreUnderTest) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not await subject.store.exists(sha)
    with pytest.raises(BlobNotFound):
        await subject.store.read(sha)
    with pytest.raises(BlobNotFound):
        [piece async for piece in subject.store.chunks(sha)]
    with pytest.raises(BlobNotFound):  # before a response would start (the download routes)
        await open_chunks(subject.store, sha)


async def test_open_chunks_gives_every_piece_with_the_first_read_ahead(subject: StoreUnderTest) -> None:
    content = os.urandom(200_000)
    staged, sha = subject.stage(content)
    await subject.store.put(staged, sha)

    pieces = await open_chunks(subject.store, sha, chunk_size=65536)

    assert b"".join([piece async for piece in pieces]) == content


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "A" * 64,  # uppercase hex
        "0" * 63,
        "0" * 65,
        "g" * 64,
        "../" + "0" * 61,
        "0" * 62 + "/x",
        "",
    ],
)
async def test_bad_ids_are_refused_by_every_method(subject: StoreUnderTest, bad: str) -> None:
    store = subject.store
    staged, _ = subject.stage(b"x")
    with pytest.raises(InvalidBlobId):
        await store.put(staged, bad)
    with pytest.raises(InvalidBlobId):
        await store.read(bad)
    with pytest.raises(InvalidBlobId):
        await store.exists(bad)
    with pytest.raises(InvalidBlobId):
        await store.delete(bad)
    with pytest.raises(InvalidBlobId):
        [piece async for piece in store.chunks(bad)]
    assert staged.exists()  # nothing moved
    assert subject.stored_names() == []


async def test_a_large_blob_round_trips(subject: StoreUnderTest, moto_s3: MotoS3) -> None:
    content = os.urandom(LARGE)
    staged, sha = subject.stage(content, "large.upload")

    await subject.store.put(staged, sha)

    assert not staged.exists()
    assert await subject.store.read(sha) == content
    digest = hashlib.sha256()
    async for piece in subject.store.chunks(sha, chunk_size=1 << 20):
        assert len(piece) <= 1 << 20
        digest.update(piece)
    assert digest.hexdigest() == sha
    if isinstance(subject.store, S3BlobStore):
        head = moto_s3.client().head_object(Bucket=subject.store.bucket, Key=subject.store.key_of(sha))
        # A multipart upload's ETag is "<md5 of the parts' md5s>-<number of parts>": 12 MiB in 5 MiB parts.
        assert head["ETag"].strip('"').endswith("-3") and head["ContentLength"] == LARGE


# ---------------------------------------------------------------- S3 only


def _dead_store(moto: MotoS3, root: Path) -> S3BlobStore:
    # Nothing listens there: connection refused, retried briefly by obstore, then our error.
    return S3BlobStore(
        bucket="dd-nowhere",
        staging_dir=root / "staging",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id=moto.access_key_id,
        secret_access_key=moto.secret_access_key,
        allow_http=True,
        retry_timeout=timedelta(seconds=2),
    )


async def test_a_store_that_is_down_raises_blob_store_unavailable_quickly(moto_s3: MotoS3, tmp_path: Path) -> None:
    store = _dead_store(moto_s3, tmp_path)
    store.staging_dir.mkdir(parents=True)
    staged = store.staging_dir / "a.upload"
    staged.write_bytes(b"kept")
    sha = hashlib.sha256(b"kept").hexdigest()
    started = time.monotonic()

    for call in (
        lambda: store.put(staged, sha),
        lambda: store.read(sha),
        lambda: store.exists(sha),
        lambda: store.delete(sha),
        lambda: open_chunks(store, sha),
    ):
        with pytest.raises(BlobStoreUnavailable) as raised:
            await call()
        assert raised.value.code == "blob_store_unavailable"
        assert "127.0.0.1" not in raised.value.detail  # what the caller sees names no endpoint
        assert "dd-nowhere" in raised.value.reason  # what the log sees does

    assert time.monotonic() - started < 20  # retried, not for obstore's default 3 minutes
    assert staged.read_bytes() == b"kept"  # a failed put leaves the staged file to its caller


async def test_wrong_credentials_raise_blob_store_unavailable(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.new_bucket()
    right = moto_s3.store(bucket, tmp_path / "staging")
    right.staging_dir.mkdir(parents=True)
    staged = right.staging_dir / "a.upload"
    staged.write_bytes(b"secret bytes")
    sha = hashlib.sha256(b"secret bytes").hexdigest()
    await right.put(staged, sha)

    for wrong in (
        moto_s3.store(bucket, tmp_path / "staging", access_key_id="AKIAWRONGWRONGWRONG0"),  # unknown key
        moto_s3.store(bucket, tmp_path / "staging", secret_access_key="not-the-secret"),  # bad signature
    ):
        with pytest.raises(BlobStoreUnavailable) as raised:
            await wrong.read(sha)
        assert "PermissionDenied" in raised.value.reason or "Unauthenticated" in raised.value.reason
        with pytest.raises(BlobStoreUnavailable):
            await wrong.exists(sha)
    assert await right.read(sha) == b"secret bytes"


async def test_prefixes_keep_two_services_blobs_apart_in_one_bucket(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.new_bucket()
    evidence = moto_s3.store(bucket, tmp_path / "e" / "staging", prefix="evidence/")
    packages = moto_s3.store(bucket, tmp_path / "p" / "staging", prefix="packages")
    evidence.staging_dir.mkdir(parents=True)
    staged = evidence.staging_dir / "a.upload"
    staged.write_bytes(b"an evidence file")
    sha = hashlib.sha256(b"an evidence file").hexdigest()

    await evidence.put(staged, sha)

    assert moto_s3.keys(bucket) == [f"evidence/{sha[:2]}/{sha[2:4]}/{sha}"]
    assert await evidence.exists(sha) and not await packages.exists(sha)


def test_the_factory_gives_each_service_its_store_and_prefix(moto_s3: MotoS3, tmp_path: Path) -> None:
    evidence_local = services.evidence.settings.Settings(env="local", blob_root=tmp_path / "e")
    assert isinstance(blob_store_from(evidence_local, local_root=tmp_path / "e"), LocalBlobStore)  # the default

    s3 = moto_s3.settings("dd-any")
    for settings_cls, root, prefix in (
        (services.evidence.settings.Settings, tmp_path / "e", "evidence"),
        (services.submit.settings.Settings, tmp_path / "p", "packages"),
    ):
        store = blob_store_from(settings_cls(env="local", **s3), local_root=root)
        assert isinstance(store, S3BlobStore)
        assert store.staging_dir == root / "staging"  # staging stays on local disk
        assert store.key_of("ab" * 32) == f"{prefix}/ab/ab/{'ab' * 32}"
