"""The submission package: a deterministic ZIP of the checked evidence, the letters and `manifest.json`.

- Entries are `{dispute_id}_{nn}_{kind}.{ext}` in `nn` order, then `manifest.json` last (it is
  written once every file's size is known, so nothing is held in memory). The generated files
  (cover letter, message log PDF) come first, in the order given; the evidence follows, sorted by
  kind and evidence id, so the order of the inputs does not matter.
- Deterministic: every entry has the same timestamp (1980-01-01 00:00), mode and flags, media that is
  already compressed (images, PDF, video) is stored and the rest deflated, and the manifest is JSON
  with sorted keys. The same inputs give the same bytes, hence the same package sha256.
- Streaming: a file comes as a path, an async iterator of chunks, or (small generated files) bytes;
  it is copied chunk by chunk and hashed on the way. A file whose sha256 is not the one the report
  checked raises `EvidenceNotReady` (the set changed since: the report is stale) and the partial
  ZIP is removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
import zipfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from services.submit.errors import EvidenceNotReady

FORMAT = "dispute-desk.package/1"
MANIFEST = "manifest.json"
CHUNK = 1 << 20  # file I/O runs in a worker thread, one chunk per hop: the event loop never waits on disk
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/gif": "gif",
    "image/tiff": "tif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "application/zip": "zip",
    "application/json": "json",
    "text/plain": "txt",
    "text/csv": "csv",
    "text/html": "html",
}
_DEFLATE = {"application/json", "text/plain", "text/csv", "text/html"}

Content = Path | AsyncIterable[bytes] | bytes


@dataclass(frozen=True)
class Provenance:
    """Where a file came from, as the evidence service recorded it (all optional: a generated file has none)."""

    evidence_id: uuid.UUID | None = None
    uploader: str | None = None
    uploaded_at: datetime | None = None
    source: str | None = None
    captured_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        def when(at: datetime | None) -> str | None:
            return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return {
            "evidence_id": None if self.evidence_id is None else str(self.evidence_id),
            "uploader": self.uploader,
            "uploaded_at": when(self.uploaded_at),
            "source": self.source,
            "captured_at": when(self.captured_at),
        }


@dataclass(frozen=True)
class PackageFile:
    """One file to pack; `sha256` is the one the report checked (for generated files, of `content`)."""

    kind: str
    media_type: str
    sha256: str
    content: Content = field(repr=False)
    provenance: Provenance = Provenance()


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    kind: str
    media_type: str
    sha256: str
    size: int
    provenance: Provenance

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "size": self.size,
            "provenance": self.provenance.as_json(),
        }


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    sha256: str
    size: int
    entries: tuple[ManifestEntry, ...]


def generated(kind: str, media_type: str, data: bytes, provenance: Provenance = Provenance()) -> PackageFile:
    """A file we made (a letter): its sha256 is of its own bytes."""
    return PackageFile(kind, media_type, hashlib.sha256(data).hexdigest(), data, provenance)


def file_name(dispute_id: str, nn: int, kind: str, media_type: str, *, width: int = 2) -> str:
    ext = EXTENSIONS.get(media_type.split(";")[0].strip().lower(), "bin")
    safe_id = _SAFE.sub("-", dispute_id).strip("-") or "dispute"
    return f"{safe_id}_{nn:0{width}d}_{_SAFE.sub('-', kind)}.{ext}"


def name_width(count: int) -> int:
    """The digits of `nn` in a package of `count` files (two, more past 99)."""
    return max(2, len(str(count)))


def _evidence_order(item: PackageFile) -> tuple[str, str, str]:
    evidence_id = item.provenance.evidence_id
    return (item.kind, "" if evidence_id is None else str(evidence_id), item.sha256)


def evidence_names(dispute_id: str, evidence: Sequence[PackageFile], *, letters: int) -> list[tuple[str, PackageFile]]:
    """The names `build` gives the evidence (after `letters` generated files), in package order: for
    a cover letter that lists the files it comes before."""
    ordered = sorted(evidence, key=_evidence_order)
    width = name_width(letters + len(ordered))
    return [
        (file_name(dispute_id, letters + nn, item.kind, item.media_type, width=width), item)
        for nn, item in enumerate(ordered, start=1)
    ]


def _entry_info(name: str, media_type: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    deflate = media_type.split(";")[0].strip().lower() in _DEFLATE or name == MANIFEST
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    return info


async def _chunks(content: Content) -> AsyncIterator[bytes]:
    if isinstance(content, bytes):
        yield content
    elif isinstance(content, Path):
        source = await asyncio.to_thread(content.open, "rb")
        try:
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                yield chunk
        finally:
            source.close()
    else:
        async for chunk in content:
            yield chunk


async def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, content: Content) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(info, "w", force_zip64=True) as sink:
        async for chunk in _chunks(content):
            digest.update(chunk)
            size += len(chunk)
            await asyncio.to_thread(sink.write, chunk)
    return digest.hexdigest(), size


def manifest_json(dispute_id: str, report_id: uuid.UUID | None, entries: Sequence[ManifestEntry]) -> bytes:
    body = {
        "format": FORMAT,
        "dispute_id": dispute_id,
        "report_id": None if report_id is None else str(report_id),
        "files": [entry.as_json() for entry in entries],
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=2).encode() + b"\n"


async def build(
    dispute_id: str,
    evidence: Sequence[PackageFile],
    out: Path,
    *,
    letters: Sequence[PackageFile] = (),
    report_id: uuid.UUID | None = None,
) -> BuiltPackage:
    """Write the package to `out` (replaced if it exists) and return its sha256, size and entries."""
    ordered = [*letters, *sorted(evidence, key=_evidence_order)]
    width = name_width(len(ordered))
    entries: list[ManifestEntry] = []
    try:
        with zipfile.ZipFile(out, "w") as zf:
            for nn, item in enumerate(ordered, start=1):
                name = file_name(dispute_id, nn, item.kind, item.media_type, width=width)
                sha256, size = await _copy(zf, _entry_info(name, item.media_type), item.content)
                if sha256 != item.sha256:
                    evidence_id = item.provenance.evidence_id
                    raise EvidenceNotReady(
                        "An evidence file changed since the report checked it: check the evidence again.",
                        evidence_id=None if evidence_id is None else str(evidence_id),
                    )
                entries.append(ManifestEntry(name, item.kind, item.media_type, sha256, size, item.provenance))
            zf.writestr(_entry_info(MANIFEST, "application/json"), manifest_json(dispute_id, report_id, entries))
    except BaseException:
        await asyncio.to_thread(out.unlink, missing_ok=True)
        raise
    sha256, size = await asyncio.to_thread(_hash_file, out)
    return BuiltPackage(out, sha256, size, tuple(entries))


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as packed:
        while chunk := packed.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def mismatched_files(package: IO[bytes] | Path) -> list[str]:
    """The names whose bytes are not the manifest's sha256 (or that are missing, or not listed): [] when whole."""
    with zipfile.ZipFile(package) as zf:
        listed = {entry["name"]: entry["sha256"] for entry in json.loads(zf.read(MANIFEST))["files"]}
        present = set(zf.namelist()) - {MANIFEST}
        bad = sorted((present - listed.keys()) | (listed.keys() - present))
        for name in sorted(present & listed.keys()):
            digest = hashlib.sha256()
            with zf.open(name) as member:
                while chunk := member.read(CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != listed[name]:
                bad.append(name)
    return sorted(bad)
