"""Settings every service shares, read once from the environment (pydantic-settings).

A service's own prefix wins over the common one: `DD_INGEST_DATABASE_URL` beats
`DD_DATABASE_URL`, so one shell can run all five services against one database while any
of them can still be pointed elsewhere.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

COMMON_PREFIX = "DD_"


class ServiceSettings(BaseSettings):
    """Base of each service's Settings; subclasses set `service`, `env_prefix` and `port`."""

    model_config = SettingsConfigDict(env_prefix=COMMON_PREFIX, extra="ignore", frozen=True)

    service: ClassVar[str] = "service"

    # Where it listens.
    host: str = "127.0.0.1"
    port: int = 8000

    # Storage and broker.
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/dispute_desk"
    db_pool_size: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:59092"

    # Auth: HS256 secret shared by every service (SPEC section 3).
    auth_secret: str = Field(default="dev-only-secret-change-me-32bytes!", min_length=32)

    log_level: str = "INFO"
    # OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318); unset: spans are not exported.
    otel_exporter_otlp_endpoint: str | None = None

    # Consumer latency/throughput knobs. aiokafka's defaults wait up to 500 ms per fetch.
    kafka_fetch_max_wait_ms: int = 50
    kafka_max_poll_records: int = 500
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 1_000
    kafka_max_poll_interval_ms: int = 300_000
    kafka_rebalance_timeout_ms: int = 10_000
    kafka_linger_ms: int = 2
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_retry_backoff_ms: int = 200

    # Outbox relay.
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_poll_interval_ms: int = 1_000

    # Lag metrics are refreshed at most this often (they cost Kafka round trips).
    lag_refresh_interval_s: float = 5.0

    @property
    def consumer_group(self) -> str:
        return f"dd-{self.service}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        service_prefix = f"{COMMON_PREFIX}{cls.service.upper()}_"
        service_env = EnvSettingsSource(settings_cls, env_prefix=service_prefix)
        common_env = EnvSettingsSource(settings_cls, env_prefix=COMMON_PREFIX)
        return (init_settings, service_env, common_env, file_secret_settings)
