"""Settings every service shares, read once from the environment (pydantic-settings).

A service's own prefix wins over the common one: `DD_INGEST_DATABASE_URL` beats
`DD_DATABASE_URL`, so one shell can run all five services against one database while any
of them can still be pointed elsewhere.

`DD_ENV` says where a process runs: ``local`` (a laptop, `make run`, the tests, the bench)
or ``production`` (anything else, and the default, so forgetting it is the safe mistake).
Outside local runs a service refuses to start with the built-in development secret.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

COMMON_PREFIX = "DD_"

# Known to everyone who reads this file: fine on a laptop, a forgery kit anywhere else.
DEVELOPMENT_AUTH_SECRET = "dev-only-secret-change-me-32bytes!"


class UnsafeSettingsError(RuntimeError):
    """Settings a service must not start with where it runs."""


class ServiceSettings(BaseSettings):
    """Base of each service's Settings; subclasses set `service`, `env_prefix` and `port`."""

    model_config = SettingsConfigDict(env_prefix=COMMON_PREFIX, extra="ignore", frozen=True)

    service: ClassVar[str] = "service"

    # Where it runs: `local` or `production` (DD_ENV, see the module docstring).
    env: Literal["local", "production"] = "production"

    # Where it listens.
    host: str = "127.0.0.1"
    port: int = 8000

    # Storage and broker. The SQLAlchemy URL of PostgreSQL (asyncpg); every service uses its own schema in it.
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:15432/dispute_desk"
    # Who runs `migrate` (the schemas' owner, shared/db/roles.py); unset: `database_url`'s user.
    # When its user differs from `database_url`'s, the migration grants that user its schema.
    migration_database_url: str | None = None
    # Connections in the pool of each service process.
    db_pool_size: int = 10
    # Kafka brokers, comma-separated host:port.
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # A managed cluster's TLS and SASL (shared/kafka/security.py maps them for every client); PLAINTEXT locally.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    # The CA bundle of the brokers' certificates (unset: the system's); a client certificate for mutual TLS.
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_check_hostname: bool = True
    # PostgreSQL over TLS (shared/db/tls.py), as libpq's sslmode: `require` encrypts, `verify-ca` also checks
    # the server's certificate against `database_ssl_root_cert` (unset: the system's CAs), `verify-full` its name too.
    database_ssl_mode: Literal["disable", "require", "verify-ca", "verify-full"] = "disable"
    database_ssl_root_cert: str | None = None

    # Auth: HS256 secret shared by every service (SPEC section 3).
    auth_secret: str = Field(default=DEVELOPMENT_AUTH_SECRET, min_length=32)

    # Log level of the JSON logs (DEBUG, INFO, WARNING, ...).
    log_level: str = "INFO"
    # Local runs only: the process's clock is the system's moved by the seconds written in this file
    # (shared/clock.py ShiftedClock), so tests of the services as processes can move time for all of them.
    clock_shift_file: str | None = None
    # OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318); unset: spans are not exported.
    otel_exporter_otlp_endpoint: str | None = None

    # Consumer latency/throughput knobs. aiokafka's defaults wait up to 500 ms per fetch.
    kafka_fetch_max_wait_ms: int = 50
    kafka_max_poll_records: int = 500
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 1_000
    kafka_max_poll_interval_ms: int = 300_000
    kafka_rebalance_timeout_ms: int = 10_000
    # Least time between two offset commits of a consumer (offsets recorded meanwhile coalesce).
    kafka_commit_interval_ms: int = Field(default=100, ge=0)
    # The relay appends a whole batch before the producer's sender runs: lingering only adds latency.
    kafka_linger_ms: int = 0
    # How long a produce request (and a queued batch without a partition leader) may take.
    kafka_request_timeout_ms: int = Field(default=15_000, ge=1_000)
    # Pause between failed metadata refreshes while the broker is away (aiokafka has none).
    kafka_reconnect_backoff_ms: int = Field(default=500, ge=10)
    # At most one "kafka_unavailable" log line per this many seconds (aiokafka's own are folded in).
    kafka_unavailable_log_interval_s: float = 10.0
    # Concurrent transactions a fetched batch is applied in, split by Kafka key (the dispute):
    # they overlap one's database round trips with another's Python work. Only for services
    # whose handlers write rows of their event's dispute alone; shared rows would make the
    # shards wait on (or deadlock over) each other's locks, which falls back to one by one.
    consumer_concurrency: int = Field(default=1, ge=1, le=8)
    # Attempts per consumed message before it goes to its topic's DLQ.
    consumer_max_attempts: int = Field(default=5, ge=1)
    # Base of the exponential backoff between those attempts (full jitter, capped at 10 s).
    consumer_retry_backoff_ms: int = 200

    # Outbox relay: the most rows one relay transaction publishes.
    outbox_batch_size: int = Field(default=500, ge=1)
    # The relay's poll when no NOTIFY wakes it.
    outbox_poll_interval_ms: int = 1_000
    # After a failed publish the relay waits up to base * 2^(failures-1) (capped, full jitter: shared/backoff.py)
    # and halves its batch.
    outbox_retry_backoff_ms: int = Field(default=200, ge=1)
    # Capped low: the relay must notice a returning broker within seconds (recovery goal ≤ 5 s).
    outbox_retry_backoff_max_ms: int = Field(default=2_000, ge=1)
    # Readiness says "stalled" when rows wait and nothing was published for this long.
    outbox_stall_after_s: float = 30.0

    # Lag metrics are refreshed at most this often (they cost Kafka round trips).
    lag_refresh_interval_s: float = 5.0

    # The consumer group; unset: `dd-<service>`. Another deployment of the same service on the same
    # cluster (a staging beside production) needs a group of its own, or the two split one group's partitions.
    kafka_consumer_group: str | None = None

    @property
    def consumer_group(self) -> str:
        return self.kafka_consumer_group or f"dd-{self.service}"

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    def ensure_safe_to_start(self) -> None:
        """Raise `UnsafeSettingsError` if a service must not start with these settings."""
        if self.clock_shift_file and not self.is_local:
            raise UnsafeSettingsError(
                f"{self.service}: DD_CLOCK_SHIFT_FILE moves the service's clock, a test's tool; DD_ENV is {self.env!r}."
            )
        if self.auth_secret == DEVELOPMENT_AUTH_SECRET and not self.is_local:
            raise UnsafeSettingsError(
                f"{self.service}: DD_AUTH_SECRET is the built-in development secret, which anyone can use "
                f"to mint tokens. Set DD_AUTH_SECRET to a secret of at least 32 bytes (or DD_ENV=local "
                f"for a local run); DD_ENV is {self.env!r}."
            )

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


class BlobStoreSettings(ServiceSettings):
    """Where a service keeps its blobs (evidence files, packages): the base of the Settings of a service
    that has a blob store (evidence, submit), read by `shared.blobs.blob_store_from`.

    ``local`` (the default: `make run`, the tests) keeps them under the service's local root, which only
    its own machine can read. ``s3`` keeps them in an S3-compatible bucket (AWS S3, MinIO, ...) that
    every replica reads; uploads are still staged on local disk first (docs/blob-store.md).
    """

    # Where the blobs live: `local` (the service's local root, one machine) or `s3` (a bucket every replica reads).
    blob_store: Literal["local", "s3"] = "local"
    # With `s3`: the bucket (required then).
    blob_s3_bucket: str | None = None
    # Keys are `<prefix>/ab/cd/<sha256>`; each service's Settings sets its own default (evidence, packages).
    blob_s3_prefix: str = ""
    # Unset: AWS S3 itself (https://s3.<region>.amazonaws.com). MinIO, moto, ...: their URL.
    blob_s3_endpoint_url: str | None = None
    blob_s3_region: str = "us-east-1"
    # Both unset: the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, web identity, instance role).
    blob_s3_access_key_id: str | None = None
    blob_s3_secret_access_key: SecretStr | None = None
    # An http:// endpoint (a local MinIO or moto) is refused unless this is true.
    blob_s3_allow_http: bool = False

    def blob_store_refusal(self) -> str | None:
        """Why these blob store settings cannot work (one sentence naming the variables), or None."""
        name = self.service.upper()
        if self.blob_store != "s3":
            return None
        if not self.blob_s3_bucket:
            return (
                f"{self.service}: DD_BLOB_STORE is s3 but no bucket is set; set DD_BLOB_S3_BUCKET "
                f"(or DD_{name}_BLOB_S3_BUCKET), or DD_BLOB_STORE=local."
            )
        if (self.blob_s3_access_key_id is None) != (self.blob_s3_secret_access_key is None):
            return (
                f"{self.service}: set both DD_BLOB_S3_ACCESS_KEY_ID and DD_BLOB_S3_SECRET_ACCESS_KEY, or neither "
                "(then the standard AWS credential chain is used)."
            )
        endpoint = (self.blob_s3_endpoint_url or "").lower()
        if endpoint.startswith("http://") and not self.blob_s3_allow_http:
            return (
                f"{self.service}: DD_BLOB_S3_ENDPOINT_URL is plain http, which would send the blobs unencrypted; "
                "use https, or set DD_BLOB_S3_ALLOW_HTTP=true for a local MinIO or moto."
            )
        return None

    def ensure_safe_to_start(self) -> None:
        super().ensure_safe_to_start()
        refusal = self.blob_store_refusal()
        if refusal is not None:
            raise UnsafeSettingsError(refusal)
