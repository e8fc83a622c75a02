"""LocalBlobStore: content-addressed files on disk, ids validated, puts idempotent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.blobs import BlobNotFound, BlobStore, InvalidBlobId, LocalBlobStore


def _stage(store: LocalBlobStore, content: bytes, name: str = "a.upload") -> tuple[Path, str]:
    store.staging_dir.mkdir(parents=True, exist_ok=True)
    path = store.staging_dir / name
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_is_a_blob_store(store: LocalBlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_staging_dir_is_under_the_root_so_put_is_a_rename(store: LocalBlobStore) -> None:
    assert store.staging_dir.is_relative_to(store.root)


async def test_put_read_exists_and_layout(store: LocalBlobStore) -> None:
    content = b"%PDF-1.7 hello"
    staged, sha = _stage(store, content)
    assert not await store.exists(sha)

    await store.put(staged, sha)

    assert not staged.exists()  # moved, not copied
    assert (store.root / sha[:2] / sha[2:4] / sha).read_bytes() == content
    assert await store.exists(sha)
    assert await store.read(sha) == content


async def test_chunks_streams_the_blob_in_pieces(store: LocalBlobStore) -> None:
    content = bytes(range(256)) * 1000  # 256,000 bytes
    staged, sha = _stage(store, content)
    await store.put(staged, sha)

    pieces = [piece async for piece in store.chunks(sha, chunk_size=65536)]

    assert b"".join(pieces) == content
    assert [len(p) for p in pieces] == [65536, 65536, 65536, 256000 - 3 * 65536]


async def test_put_of_existing_content_is_a_no_op_that_drops_the_staged_file(store: LocalBlobStore) -> None:
    first, sha = _stage(store, b"same bytes", "1.upload")
    await store.put(first, sha)
    blob = store.path_of(sha)
    stat_before = blob.stat()

    second, sha_again = _stage(store, b"same bytes", "2.upload")
    await store.put(second, sha_again)

    assert sha_again == sha
    assert not second.exists()
    assert blob.stat().st_ino == stat_before.st_ino  # the stored file was not replaced
    assert await store.read(sha) == b"same bytes"
    assert list(store.staging_dir.iterdir()) == []


async def test_delete_removes_and_is_idempotent(store: LocalBlobStore) -> None:
    staged, sha = _stage(store, b"to delete")
    await store.put(staged, sha)

    await store.delete(sha)
    await store.delete(sha)  # again: no error

    assert not await store.exists(sha)
    with pytest.raises(BlobNotFound):
        await store.read(sha)
    with pytest.raises(BlobNotFound):
        [piece async for piece in store.chunks(sha)]


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
async def test_bad_ids_are_refused_by_every_method(store: LocalBlobStore, tmp_path: Path, bad: str) -> None:
    staged, _ = _stage(store, b"x")
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
    assert sorted(p.name for p in store.root.iterdir()) == ["staging"]
