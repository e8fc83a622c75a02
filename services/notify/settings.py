"""Settings of the notify service: `DD_NOTIFY_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from services.notify.retry import STANDARD_WEBHOOKS_DELAYS_S
from shared.settings import ServiceSettings, UnsafeSettingsError

# Known to everyone who reads this file: seals channel secrets on a laptop, nowhere else.
DEVELOPMENT_SECRET_KEY = "dev-only-notify-secret-key-change-me"


class Settings(ServiceSettings):
    service: ClassVar[str] = "notify"

    port: int = 8004

    # Channel targets on loopback/private/link-local addresses (DD_ALLOW_PRIVATE_TARGETS, set by
    # `make run`); cloud metadata addresses stay refused even then.
    allow_private_targets: bool = False
    # Base of the case links in every message (`{base}/dashboard/cases/{dispute_id}`, SPEC section 11).
    dashboard_base_url: str = Field(default="http://127.0.0.1:8001", min_length=8, max_length=512)
    # Key(s) sealing channel secrets at rest (DD_NOTIFY_SECRET_KEY), comma-separated: the first seals,
    # all open, so the key itself can be rotated.
    secret_key: str = Field(default=DEVELOPMENT_SECRET_KEY, min_length=32)

    # Outbound SMTP (the operator's server, not the seller's).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "Dispute Desk <notify@dispute-desk.local>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = False

    # Outbound HTTP: one deadline per exchange, and the most of an answer that is read.
    http_total_timeout_s: float = Field(default=10.0, gt=0, le=120)
    http_max_response_bytes: int = Field(default=64 * 1024, ge=1024)

    # After a failed attempt, wait these (jittered) before the next; nothing past the horizon.
    retry_delays_s: tuple[float, ...] = Field(default=STANDARD_WEBHOOKS_DELAYS_S, min_length=1)
    retry_horizon_h: float = Field(default=36.0, gt=0)

    # The dispatcher: rows claimed per pass, how long a claim is held (a killed dispatcher's rows are
    # due again after it), concurrent sends per pass, its longest sleep and its backoff cap.
    dispatch_batch: int = Field(default=200, ge=1, le=5000)
    dispatch_lease_s: float = Field(default=60.0, gt=0)
    dispatch_concurrency: int = Field(default=16, ge=1, le=500)
    dispatch_max_sleep_s: float = Field(default=30.0, gt=0)
    dispatch_backoff_max_s: float = Field(default=5.0, gt=0)

    # A new dispute's message waits this long for its deadline.scheduled, then goes without the deadline.
    deadline_wait_s: float = Field(default=60.0, ge=0)
    # The daily digest of small disputes goes at this hour (seller's zone) of the next day.
    digest_hour: int = Field(default=9, ge=0, le=23)

    def ensure_safe_to_start(self) -> None:
        super().ensure_safe_to_start()
        if not self.is_local and DEVELOPMENT_SECRET_KEY in self.secret_key.split(","):
            raise UnsafeSettingsError(
                "notify: DD_NOTIFY_SECRET_KEY is the built-in development key, so a database dump would be enough "
                "to read channel secrets. Set it to a secret of at least 32 bytes (or DD_ENV=local); "
                f"DD_ENV is {self.env!r}."
            )
