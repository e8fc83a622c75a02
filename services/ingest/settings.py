"""Settings of the ingest service: `DD_INGEST_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings, UnsafeSettingsError

# Known to everyone who reads this file: encrypts webhook secrets on a laptop, nowhere else.
DEVELOPMENT_SECRET_KEY = "dev-only-ingest-secret-key-change-me"


class Settings(ServiceSettings):
    service: ClassVar[str] = "ingest"

    port: int = 8001

    # Key(s) that encrypt sellers' webhook secrets at rest (DD_INGEST_SECRET_KEY), comma-separated:
    # the first encrypts, all decrypt, so the key itself can be rotated.
    secret_key: str = Field(default=DEVELOPMENT_SECRET_KEY, min_length=32)
    # After a rotation the previous webhook secret still verifies for this long.
    webhook_secret_grace_s: int = Field(default=24 * 3600, ge=0)
    # Signed webhook bodies larger than this are refused (413) before anything is verified.
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A CSV import (the raw body, or the multipart upload's file) larger than this is refused (413);
    # it is streamed, never held whole in memory. 20 MiB, like an evidence file: some 250,000 rows.
    import_max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Buyer risk: this many disputes or more within this many days is abnormal.
    risk_window_days: int = Field(default=90, ge=1)
    risk_min_disputes: int = Field(default=3, ge=2)
    # Lifetime of the seller token returned at onboarding.
    seller_token_ttl_days: int = Field(default=365, ge=1)

    # The dashboard (services/ingest/dashboard/) reads the other services over their HTTP APIs with the
    # signed-in token (DD_INGEST_EVIDENCE_URL, ...): the browser talks to ingest alone.
    evidence_url: str = "http://127.0.0.1:8002"
    deadline_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    submit_url: str = "http://127.0.0.1:8005"
    # One panel's call; past it the panel says its service is unavailable and the rest of the page renders.
    dashboard_timeout_s: float = Field(default=5.0, gt=0)
    # An upload passed through to evidence: its file limit (DD_EVIDENCE_MAX_UPLOAD_BYTES, 20 MiB) plus its
    # meta limit (2 MiB) and the multipart framing; the evidence service refuses a file over its own limit.
    dashboard_max_upload_bytes: int = Field(default=22 * 1024 * 1024 + 64 * 1024, ge=1024)

    def ensure_safe_to_start(self) -> None:
        super().ensure_safe_to_start()
        if not self.is_local and DEVELOPMENT_SECRET_KEY in self.secret_key.split(","):
            raise UnsafeSettingsError(
                "ingest: DD_INGEST_SECRET_KEY is the built-in development key, so a database dump would be enough "
                f"to forge webhooks. Set it to a secret of at least 32 bytes (or DD_ENV=local); DD_ENV is {self.env!r}."
            )
