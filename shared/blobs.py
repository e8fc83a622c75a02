"""Where bytes live (evidence files, submission packages): a small content-addressed store behind one interface.

Blobs are named by their sha256 (hex), so the same file uploaded twice is stored once and a
report can pin the exact bytes it checked. `LocalBlobStore` keeps them on the local
filesystem; an S3-compatible store is a later implementation of the same `BlobStore`.

A blob id never comes from a path a caller wrote: every method refuses anything but 64
lowercase hex digits, so `../` cannot reach outside the root. Blocking file I/O runs in a
worker thread (`anyio.to_thread`), never on the event loop.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import anyio.to_thread

from shared.errors import DomainError

__all__ = ["BlobNotFound", "BlobStore", "InvalidBlobId", "LocalBlobStore", "check_sha256"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class InvalidBlobId(DomainError):
    """A blob id that is not 64 lowercase hex digits: a bug of ours, never looked up."""

    code = "invalid_blob_id"


class BlobNotFound(DomainError):
    code = "blob_not_found"


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
        """Where uploads are staged before `put`: same filesystem, so `put` is a rename."""
        ...


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
