"""The evidence service as seen from submit: each checked file's bytes, its provenance, the legal basis.

Over HTTP with an operator token submit mints itself with the shared auth secret (a short one, per
call): `GET {evidence_url}/v1/cases/{id}/evidence` (provenance: uploader, times, source, type),
`GET .../evidence/{eid}/content` (the bytes, streamed to a staged file and hashed on the way) and
`GET .../report?lang=ko|zh` (the legal basis the cover letter cites). A file whose bytes are not
the sha256 the report checked is `EvidenceNotReady` (the set changed: the report is stale); the
evidence service away is `EvidenceUnavailable` (503, nothing stored: retry).

The checked set's `message_log` items (with a file or not) are read from the same listing: their
meta's `messages[]` (`{sent_at, sender, text}`, SPEC section 5) become `MessageLog`s, which the
package renders to their own PDF. Every other checked item without a file (a tracking record or a
proof of delivery typed in as meta, which the checker accepts) is packed as its meta, a JSON record
(`records`), so the package carries every item the report checked. Meta is never edited after
upload, so the listing's is the one the report checked; an item of the set missing from the listing
or deleted is `EvidenceNotReady`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import httpx

from services.submit.errors import EvidenceNotReady, EvidenceUnavailable
from services.submit.letters import LegalBasis, Message
from services.submit.package import PackageFile, Provenance
from shared.contracts import EvidenceRef
from shared.web.auth import mint_token


@dataclass(frozen=True)
class MessageLog:
    """A checked `message_log` item's messages, for its PDF."""

    evidence_id: uuid.UUID
    source: str | None
    messages: list[Message]


@dataclass(frozen=True)
class Fetched:
    files: list[PackageFile]
    staged: list[Path]  # delete once packed
    legal_basis: list[LegalBasis]
    message_logs: list[MessageLog] = field(default_factory=list)  # in evidence id order
    records: list[PackageFile] = field(default_factory=list)  # structured items' meta, as JSON files


def _headers(secret: str, now: datetime) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(secret, 'operator', ttl=timedelta(minutes=5), now=now)}"}


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _sent_at(value: Any) -> datetime | None:
    """An ISO 8601 send time with a zone; None for anything else (no zone, another format, missing)."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return at if at.utcoffset() is not None else None


def _checked_item(ref: EvidenceRef, item: dict[str, Any] | None) -> dict[str, Any]:
    if item is None or item.get("deleted_at") is not None:
        raise EvidenceNotReady(
            "An item the report checked is gone: check the evidence again.", evidence_id=str(ref.evidence_id)
        )
    return item


def _record(ref: EvidenceRef, item: dict[str, Any] | None) -> PackageFile:
    """A checked item without a file, packed as its meta (UTF-8 JSON, keys sorted: the same bytes each time)."""
    item = _checked_item(ref, item)
    meta = item.get("meta") or {}
    content = json.dumps(meta, ensure_ascii=False, sort_keys=True, indent=2).encode()
    return PackageFile(
        kind=ref.kind.value,
        media_type="application/json",
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        provenance=Provenance(
            evidence_id=ref.evidence_id,
            uploader=item.get("uploader"),
            uploaded_at=_when(item.get("uploaded_at")),
            source=item.get("source") or "meta",
            captured_at=_when(item.get("captured_at")),
        ),
    )


def _message_log(ref: EvidenceRef, item: dict[str, Any] | None) -> MessageLog | None:
    """The item's messages (None when it has none: its own file, if any, is packed as it is)."""
    item = _checked_item(ref, item)
    meta = item.get("meta") or {}
    raw = meta.get("messages") if isinstance(meta, dict) else None
    if not isinstance(raw, list) or not raw:
        return None
    messages = [
        Message(
            at=_sent_at(m.get("sent_at")),
            sender=str(m.get("sender") or ""),
            text=str(m.get("text") or ""),
            written=str(m.get("sent_at") or ""),
        )
        for m in raw
        if isinstance(m, dict)
    ]
    source = meta.get("source") or item.get("source")
    return MessageLog(ref.evidence_id, None if source is None else str(source), messages)


async def fetch(
    client: httpx.AsyncClient,
    dispute_id: str,
    refs: tuple[EvidenceRef, ...],
    staging: Path,
    *,
    secret: str,
    now: datetime,
    message_logs: tuple[EvidenceRef, ...] = (),
    records: tuple[EvidenceRef, ...] = (),
) -> Fetched:
    """Every file of `refs` staged under `staging`, checked against its sha256; their provenance;
    the messages of the `message_logs` items (the checked set's, with a file or not)."""
    headers = _headers(secret, now)
    case = quote(dispute_id, safe="")
    items = await _json(client, f"/v1/cases/{case}/evidence", headers, params={"include_deleted": "true"})
    by_id = {str(item["evidence_id"]): item for item in items.get("items", [])}
    logs = [
        log
        for ref in sorted(message_logs, key=lambda r: str(r.evidence_id))
        if (log := _message_log(ref, by_id.get(str(ref.evidence_id)))) is not None
    ]
    staged: list[Path] = []
    files: list[PackageFile] = []
    try:
        for ref in refs:
            assert ref.sha256 is not None
            item = by_id.get(str(ref.evidence_id), {})
            path, media_type = await _download(client, case, ref, staging, headers)
            staged.append(path)
            files.append(
                PackageFile(
                    kind=ref.kind.value,
                    media_type=media_type or item.get("media_type") or "application/octet-stream",
                    sha256=ref.sha256,
                    content=path,
                    provenance=Provenance(
                        evidence_id=ref.evidence_id,
                        uploader=item.get("uploader"),
                        uploaded_at=_when(item.get("uploaded_at")),
                        source=item.get("source"),
                        captured_at=_when(item.get("captured_at")),
                    ),
                )
            )
    except BaseException:
        for path in staged:
            path.unlink(missing_ok=True)
        raise
    packed_records = [_record(ref, by_id.get(str(ref.evidence_id))) for ref in records]
    return Fetched(files, staged, await _legal_basis(client, case, headers), logs, packed_records)


async def _json(client: httpx.AsyncClient, url: str, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    try:
        response = await client.get(url, headers=headers, **kw)
    except httpx.TransportError as error:
        raise EvidenceUnavailable(f"The evidence service did not answer ({type(error).__name__}).") from None
    if response.status_code == 404:
        raise EvidenceNotReady("The evidence service does not know this case's evidence.")
    if response.status_code != 200:
        raise EvidenceUnavailable(f"The evidence service answered {response.status_code}.")
    body: dict[str, Any] = response.json()
    return body


async def _download(
    client: httpx.AsyncClient, case: str, ref: EvidenceRef, staging: Path, headers: dict[str, str]
) -> tuple[Path, str | None]:
    url = f"/v1/cases/{case}/evidence/{ref.evidence_id}/content"
    await anyio.to_thread.run_sync(lambda: staging.mkdir(parents=True, exist_ok=True))
    path = staging / f"evidence-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code in (404, 409, 410):
                raise EvidenceNotReady(
                    "An evidence file the report checked is gone: check the evidence again.",
                    evidence_id=str(ref.evidence_id),
                )
            if response.status_code != 200:
                raise EvidenceUnavailable(f"The evidence service answered {response.status_code}.")
            handle = await anyio.to_thread.run_sync(path.open, "wb")
            try:
                async for chunk in response.aiter_bytes(1 << 20):
                    digest.update(chunk)
                    await anyio.to_thread.run_sync(handle.write, chunk)
            finally:
                await anyio.to_thread.run_sync(handle.close)
            media_type = response.headers.get("content-type")
    except httpx.TransportError as error:
        path.unlink(missing_ok=True)
        raise EvidenceUnavailable(f"The evidence service did not answer ({type(error).__name__}).") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != ref.sha256:
        path.unlink(missing_ok=True)
        raise EvidenceNotReady(
            "An evidence file changed since the report checked it: check the evidence again.",
            evidence_id=str(ref.evidence_id),
        )
    return path, None if media_type is None else media_type.split(";")[0].strip()


async def _legal_basis(client: httpx.AsyncClient, case: str, headers: dict[str, str]) -> list[LegalBasis]:
    """The report's articles, Korean text with the Chinese title; none when the report cannot be read."""
    try:
        ko = await _json(client, f"/v1/cases/{case}/report", headers, params={"lang": "ko"})
        zh = await _json(client, f"/v1/cases/{case}/report", headers, params={"lang": "zh"})
    except (EvidenceNotReady, EvidenceUnavailable):
        return []
    zh_titles = {basis.get("id"): basis.get("title", "") for basis in zh.get("legal_basis", [])}
    return [
        LegalBasis(
            law=str(basis.get("law", "")),
            article=str(basis.get("article", "")),
            title_ko=str(basis.get("title", "")),
            summary_ko=str(basis.get("summary", "")),
            title_zh=str(zh_titles.get(basis.get("id"), "")),
        )
        for basis in ko.get("legal_basis", [])
    ]
