"""Settings of the portal simulator: `DD_PORTAL_SIM_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import ServiceSettings

# Development credentials, known to everyone: the simulator never runs anywhere that matters.
DEV_ACCESS_KEY = "dev-portal-access-key"
DEV_SECRET_KEY = "dev-portal-secret-key"
DEV_WEBHOOK_SECRET = "whsec_ZGV2LXBvcnRhbC13ZWJob29rLXNlY3JldC0zMmJ5dGVzIQ=="


class VerdictRule(BaseModel):
    """How the portal decides: the first rule naming the dispute, else the seller (vendor), else the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dispute_id: str | None = None
    seller_id: str | None = None
    outcome: Literal["won", "lost", "partial"] = "won"
    delay_s: float = Field(default=3.0, ge=0)
    policy_clause: str | None = "쿠팡 판매자 이용약관 제21조 (분쟁 처리)"
    amount_value: str | None = None  # None: the verdict names no amount


class Settings(ServiceSettings):
    service: ClassVar[str] = "portal_sim"

    port: int = 8099
    # The CEA credentials the simulated portal accepts: access key -> secret key (JSON object).
    access_keys: dict[str, str] = {DEV_ACCESS_KEY: DEV_SECRET_KEY}
    # A signed request whose timestamp is further than this from the simulator's clock is refused.
    max_clock_skew_s: float = 300.0
    # Where verdicts are posted, signed with Standard Webhooks; None: no callback (poll the status).
    callback_url: str | None = "http://127.0.0.1:8005/v1/portal/verdicts"
    # The Standard Webhooks secret the callbacks are signed with (submit's DD_SUBMIT_PORTAL_WEBHOOK_SECRET).
    webhook_secret: str = DEV_WEBHOOK_SECRET
    # How the simulated portal decides: the first of `verdict_rules` naming the dispute or seller, else the default.
    default_verdict: VerdictRule = VerdictRule()
    verdict_rules: list[VerdictRule] = []
    # Attempts of one verdict callback before the simulator gives up (submit's poller then asks).
    callback_attempts: int = Field(default=3, ge=1)
