"""Where bytes live (evidence files, submission packages): a small content-addressed store behind one interface.

Blobs are named by their sha256 (hex), so the same file uploaded twice is stored once and a
report can pin the exact bytes it checked. `LocalBlobStore` keeps them on the local
filesystem, which only its own machine reads; `S3BlobStore` keeps them in an S3-compatible
bucket (AWS S3, MinIO; moto in the tests) that every replica reads. `blob_store_from(settings,
local_root=...)` is the one way a service gets its store (`DD_BLOB_STORE`, docs/blob-store.md).
Uploads are staged on local disk under the local root either way: the body is sniffed, hashed
and checked there before any byte is stored.

A blob id never comes from a path a caller wrote: every method refuses anything but 64
lowercase hex digits, so `../` cannot reach outside the root. Blocking file I/O runs in a
worker thread (`anyio.to_thread`), never on the event loop.

A store that cannot be reached, or refuses our credentials, raises `BlobStoreUnavailable`
(`shared.errors.Unavailable`): every service answers it 503 `blob_store_unavailable`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import anyio.to_thread
import obstore
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.store import S3Store

from shared.errors import DomainError, Unavailable
from shared.settings import BlobStoreSettings, UnsafeSettingsError

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "BlobStoreUnavailable",
    "InvalidBlobId",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_store_from",
    "check_sha256",
    "open_chunks",
]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class InvalidBlobId(DomainError):
    """A blob id that is not 64 lowercase hex digits: a bug of ours, never looked up."""

    code = "invalid_blob_id"


class BlobNotFound(DomainError):
    code = "blob_not_found"


class BlobStoreUnavailable(Unavailable):
    """The store did not answer, failed, or refused our credentials: 503, nothing was stored."""

    code = "blob_store_unavailable"
    title = "Blob store unavailable"


def check_sha256(sha256: str) -> str:
    """`sha256` if it is 64 lowercase hex digits; raises `InvalidBlobId` otherwise."""
    if not isinstance(sha256, str) or _SHA256_HEX.fullmatch(sha256) is None:
        raise InvalidBlobId("A blob id is 64 lowercase hex digits.")
    return sha256


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed bytes; the id of a blob is the sha256 hex of its content."""

    async def put(self, staged: Path, sha256: str) -> None:
        """Move a staged file in (durably); if the blob exists, delete the staged file instead."""
        ...

    async def read(self, sha256: str) -> bytes: ...

    def chunks(self, sha256: str, chunk_size: int = 65536) -> AsyncIterator[bytes]: ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None: ...

    @property
    def staging_dir(self) -> Path:
        """Where uploads are staged before `put`: local disk (for the local store the same filesystem,
        so `put` is a rename)."""
        ...


def blob_store_from(settings: BlobStoreSettings, *, local_root: Path) -> BlobStore:
    """The store `settings` choose (`DD_BLOB_STORE`); `local_root` holds the local store's blobs, and the
    staging directory of either store."""
    refusal = settings.blob_store_refusal()
    if refusal is not None:
        raise UnsafeSettingsError(refusal)
    if settings.blob_store == "local":
        return LocalBlobStore(local_root)
    assert settings.blob_s3_bucket is not None  # blob_store_refusal said so
    secret = settings.blob_s3_secret_access_key
    return S3BlobStore(
        bucket=settings.blob_s3_bucket,
        prefix=settings.blob_s3_prefix,
        staging_dir=Path(local_root) / "staging",
        endpoint_url=settings.blob_s3_endpoint_url,
        region=settings.blob_s3_region,
        access_key_id=settings.blob_s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        allow_http=settings.blob_s3_allow_http,
    )


async def open_chunks(store: BlobStore, sha256: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
    """`store.chunks(...)` with its first piece already read, for a streamed response.

    A missing blob (`BlobNotFound`) or a store that is away (`BlobStoreUnavailable`) raises here,
    while the route can still answer a problem; raised by the first piece of a `StreamingResponse`,
    it would come after the 200 and its headers were sent, and the client would see a cut download.
    """
    pieces = aiter(store.chunks(sha256, chunk_size))
    try:
        first = await anext(pieces)
    except StopAsyncIteration:  # an empty blob
        first = b""
    return _starting_with(first, pieces)


async def _starting_with(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for piece in rest:
        yield piece


class LocalBlobStore:
    """Blobs as files `root/ab/cd/<sha256>` (two fan-out levels keep directories small)."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._staging = self._root / "staging"

    @property
    def root(self) -> Path:
        return self._root

    @property
    def staging_dir(self) -> Path:
        return self._staging

    def path_of(self, sha256: str) -> Path:
        """The file of a blob (whether or not it exists); the id is validated first."""
        sha = check_sha256(sha256)
        return self._root / sha[:2] / sha[2:4] / sha

    async def put(self, staged: Path, sha256: str) -> None:
        target = self.path_of(sha256)
        await anyio.to_thread.run_sync(_move_in, Path(staged), target)

    async def read(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError:
            raise BlobNotFound("No blob with this id.", sha256=sha256) from None

    async def chunks(self, sha256: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """The blob in pieces of at most `chunk_size` bytes, for streaming responses."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        path = self.path_of(sha256)
        try:
            handle: BinaryIO = await anyio.to_thread.run_sync(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound("No blob with this id.", sha256=sha256) from None
        try:
            while True:
                piece = await anyio.to_thread.run_sync(handle.read, chunk_size)
                if not piece:
                    return
                yield piece
        finally:
            await anyio.to_thread.run_sync(handle.close)

    async def exists(self, sha256: str) -> bool:
        path = self.path_of(sha256)
        return await anyio.to_thread.run_sync(path.is_file)

    async def delete(self, sha256: str) -> None:
        """Remove a blob; deleting one that is not there is not an error (retries are safe)."""
        path = self.path_of(sha256)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


def _move_in(staged: Path, target: Path) -> None:
    """fsync the staged file, rename it into place, fsync the directory (survives a crash)."""
    if target.is_file():
        staged.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("rb") as handle:
        os.fsync(handle.fileno())
    # os.replace is atomic: a reader sees no blob or the whole blob; two puts of the same
    # content race harmlessly (same bytes under the same name).
    os.replace(staged, target)
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Multipart parts: S3's least part size (but the last). A put holds at most MULTIPART_CONCURRENCY + 1
# parts in memory, whatever the file's size: the file is read from disk part by part.
PART_BYTES = 5 * 1024 * 1024
MULTIPART_CONCURRENCY = 2


class S3BlobStore:
    """Blobs as objects `<prefix>/ab/cd/<sha256>` in an S3-compatible bucket (obstore's `S3Store`).

    Every replica of a service reads what any of them stored. `put` uploads the staged file from
    local disk (a multipart upload above `PART_BYTES`, streamed from the file, never read whole),
    then deletes it; content-addressed, so a blob that is there already is not uploaded again.
    Errors: not found is `BlobNotFound`; anything else the store or the network does
    (unreachable, timeouts after obstore's retries, wrong credentials, no permission) is
    `BlobStoreUnavailable`.
    """

    def __init__(
        self,
        *,
        bucket: str,
        staging_dir: Path,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        allow_http: bool = False,
        connect_timeout: timedelta = timedelta(seconds=5),
        request_timeout: timedelta = timedelta(minutes=5),
        retry_timeout: timedelta = timedelta(seconds=15),
        max_retries: int = 3,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._staging = Path(staging_dir)
        # Unset values are left to obstore, which reads the AWS_* environment and the standard chain.
        config: dict[str, str] = {"region": region}
        if endpoint_url:
            config["endpoint"] = endpoint_url
        if access_key_id is not None and secret_access_key is not None:
            config |= {"access_key_id": access_key_id, "secret_access_key": secret_access_key}
        self._store = S3Store(
            bucket,
            config=config,  # type: ignore[arg-type]  # a plain dict of S3Config keys
            client_options={
                "allow_http": allow_http,
                "connect_timeout": connect_timeout,
                # The whole request, body included: a large blob streamed to a slow client takes a while.
                "timeout": request_timeout,
            },
            # obstore's default retries for 3 minutes: a request must answer 503 long before that.
            retry_config={"max_retries": max_retries, "retry_timeout": retry_timeout},
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def staging_dir(self) -> Path:
        return self._staging

    def key_of(self, sha256: str) -> str:
        """The object key of a blob (whether or not it exists); the id is validated first."""
        sha = check_sha256(sha256)
        name = f"{sha[:2]}/{sha[2:4]}/{sha}"
        return f"{self._prefix}/{name}" if self._prefix else name

    async def put(self, staged: Path, sha256: str) -> None:
        key = self.key_of(sha256)
        staged = Path(staged)
        if not await self._exists(key, "put"):
            with self._failures("put"):
                await obstore.put_async(
                    self._store, key, staged, chunk_size=PART_BYTES, max_concurrency=MULTIPART_CONCURRENCY
                )
        # Stored (now or before, the same bytes): the staged copy has done its job.
        staged.unlink(missing_ok=True)  # noqa: ASYNC240  # one syscall, as LocalBlobStore's rename

    async def read(self, sha256: str) -> bytes:
        key = self.key_of(sha256)
        with self._failures("read", sha256):
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())

    async def chunks(self, sha256: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """The blob in pieces of exactly `chunk_size` bytes (the last may be shorter), as it downloads."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        key = self.key_of(sha256)
        with self._failures("read", sha256):
            result = await obstore.get_async(self._store, key)
            pending = bytearray()
            # obstore's pieces are at least `min_chunk_size`, and may be larger: cut them to size.
            async for data in result.stream(min_chunk_size=chunk_size):
                pending += data
                while len(pending) >= chunk_size:
                    yield bytes(pending[:chunk_size])
                    del pending[:chunk_size]
            if pending:
                yield bytes(pending)

    async def exists(self, sha256: str) -> bool:
        return await self._exists(self.key_of(sha256))

    async def delete(self, sha256: str) -> None:
        """Remove a blob; deleting one that is not there is not an error (S3 answers it alike)."""
        key = self.key_of(sha256)
        with self._failures("delete"):
            await obstore.delete_async(self._store, key)

    async def _exists(self, key: str, operation: str = "head") -> bool:
        with self._failures(operation):
            try:
                await obstore.head_async(self._store, key)
            except FileNotFoundError:
                return False
        return True

    @contextmanager
    def _failures(self, operation: str, sha256: str | None = None) -> Iterator[None]:
        """Not found (for a read) as `BlobNotFound`; every other error of the store as `BlobStoreUnavailable`."""
        try:
            yield
        except FileNotFoundError:
            if sha256 is None:
                raise  # not a missing blob (a staged file gone): a bug, not an outage
            raise BlobNotFound("No blob with this id.", sha256=sha256) from None
        except (ObjectStoreError, OSError) as error:
            first_line = str(error).split("\n", 1)[0]
            outcome = "; nothing was stored" if operation == "put" else ""
            raise BlobStoreUnavailable(
                f"The blob store could not be reached or refused the request{outcome}. Retry in a moment.",
                reason=f"{operation} {self._bucket}: {type(error).__name__}: {first_line}",
            ) from error
