"""The sending side of a seller's signed dispute webhook: what `dd webhook send` and `make demo` use.

Standard Webhooks (SPEC section 3), with the reference library: the signature is over the exact
bytes `{webhook-id}.{webhook-timestamp}.{body}`, so the body is posted as the bytes that were
signed (the equivalent of `curl --data-binary @file`, never `-d @file`, which strips newlines).
Notices kept as examples are made current first by `freshen_notice`: a sample dated in the past
would make an expired case at once, and a sample's dispute ids would be duplicates the second time.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import httpx
from standardwebhooks import Webhook

KST = ZoneInfo("Asia/Seoul")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SECRET_VARIABLE = "DD_WEBHOOK_SECRET"  # where `dd webhook send` reads the secret when --secret is not given
RESPOND_BY_BUSINESS_DAYS = 5  # a fresh notice's explicit `respond_by`: this many Korean business days ahead


def ingest_url(env: dict[str, str] | None = None) -> str:
    """`make run`'s ingest: DD_INGEST_URL, else 127.0.0.1 on DD_INGEST_PORT (8001)."""
    env = dict(os.environ) if env is None else env
    return env.get("DD_INGEST_URL") or f"http://127.0.0.1:{env.get('DD_INGEST_PORT') or 8001}"


def signed_headers(
    secret: str, body: bytes, *, webhook_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers (and the content type) for exactly these bytes."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode()),
        "content-type": "application/json",
    }


def send_notice(
    client: httpx.Client, base_url: str, seller_id: str, secret: str, body: bytes, *, webhook_id: str | None = None
) -> httpx.Response:
    """Sign `body` as it is and post it to `{base_url}/v1/webhooks/coupang/{seller_id}`."""
    return client.post(
        f"{base_url.rstrip('/')}/v1/webhooks/coupang/{seller_id}",
        content=body,
        headers=signed_headers(secret, body, webhook_id=webhook_id),
    )


def add_business_days(day: date, count: int) -> date:
    """`count` Korean business days after `day` (weekends and KR public holidays skipped)."""
    calendar = holidays.country_holidays("KR", years=range(day.year, day.year + 2))
    while count:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in calendar:
            count -= 1
    return day


def run_tag() -> str:
    """A short suffix that makes one run's dispute and notice ids its own."""
    return secrets.token_hex(3).upper()


@dataclass(frozen=True)
class Fresh:
    """A notice made current: its bytes, the sample's dispute ids mapped to the new ones, and the shift."""

    body: bytes
    dispute_ids: dict[str, str]
    shift: timedelta


def freshen_notice(body: bytes, *, now: datetime | None = None, tag: str | None = None) -> Fresh:
    """The notice with `notified_at` now (KST), each explicit `respond_by` some business days ahead
    and, for a `dispute.opened`, dispute and notice ids suffixed with `-{tag}` (new cases every run).

    `shift` is how far the notice moved in time: evidence about it moves as far (`shift_times`).
    An update or close keeps its dispute ids (it names cases that exist)."""
    now = (now or datetime.now(UTC)).astimezone(KST).replace(microsecond=0)
    tag = tag or run_tag()
    notice: dict[str, Any] = json.loads(body)
    shift = timedelta(0)
    if notice.get("notified_at"):
        shift = now - datetime.fromisoformat(notice["notified_at"])
    notice["notified_at"] = now.isoformat()
    opened = notice.get("event") == "dispute.opened"
    if opened and notice.get("notice_id"):
        notice["notice_id"] = f"{notice['notice_id']}-{tag}"[:64]
    ids: dict[str, str] = {}
    for dispute in notice.get("disputes", []):
        if opened:
            new = f"{dispute['dispute_id']}-{tag}"[:64]
            ids[dispute["dispute_id"]] = new
            dispute["dispute_id"] = new
        if dispute.get("respond_by"):
            dispute["respond_by"] = add_business_days(now.date(), RESPOND_BY_BUSINESS_DAYS).isoformat()
    text = json.dumps(notice, ensure_ascii=False, indent=2) + "\n"
    return Fresh(text.encode(), ids, shift)


_TIME_FIELDS = {"delivered_at", "exported_at", "captured_at", "issued_at", "refunded_at", "sent_at", "time"}


def shift_times(meta: Any, shift: timedelta) -> Any:
    """Evidence meta with every time that carries an offset moved by `shift` (a time without one,
    which the checker reports, is left as written)."""
    if isinstance(meta, list):
        return [shift_times(each, shift) for each in meta]
    if not isinstance(meta, dict):
        return meta
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if key in _TIME_FIELDS and isinstance(value, str):
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                at = None
            out[key] = (at + shift).isoformat() if at is not None and at.tzinfo is not None else value
        else:
            out[key] = shift_times(value, shift)
    return out


def looks_like_an_example(path: Path) -> bool:
    """A file under the repository's examples/: sent fresh unless asked otherwise."""
    try:
        path.resolve().relative_to(EXAMPLES)
    except ValueError:
        return False
    return True
