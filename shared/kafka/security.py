"""How every Kafka client of ours connects: plaintext on a laptop, TLS and/or SASL against a managed cluster.

One mapping from the settings (`DD_KAFKA_SECURITY_PROTOCOL`, `DD_KAFKA_SASL_*`, `DD_KAFKA_SSL_*`) to
aiokafka's keyword arguments, spread into every producer, consumer and admin client we build
(shared/kafka/producer.py, consumer.py, lag.py, topics.py, dlq.py). Plaintext adds no argument at
all, so those clients are built exactly as before this existed.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal

from shared.settings import ServiceSettings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurityError(ValueError):
    """Security settings that cannot work together (SASL without credentials, a key without its certificate)."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = None
    # CA bundle that signed the brokers' certificates; None: the system's trust store.
    ssl_cafile: str | None = None
    # Client certificate and key, for clusters that authenticate clients by mutual TLS.
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KafkaSecurity:
        return cls(
            protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
            ssl_cafile=settings.kafka_ssl_cafile,
            ssl_certfile=settings.kafka_ssl_certfile,
            ssl_keyfile=settings.kafka_ssl_keyfile,
            ssl_check_hostname=settings.kafka_ssl_check_hostname,
        )

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def client_kwargs(self) -> dict[str, Any]:
        """aiokafka's arguments for this protocol; empty for PLAINTEXT (the clients' defaults)."""
        if self.protocol == "PLAINTEXT":
            return {}
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            if not self.sasl_username or not self.sasl_password:
                raise KafkaSecurityError(
                    f"kafka_security_protocol {self.protocol} needs DD_KAFKA_SASL_USERNAME and DD_KAFKA_SASL_PASSWORD"
                )
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs

    def ssl_context(self) -> ssl.SSLContext:
        """Verifying the brokers (against `ssl_cafile`, else the system's CAs), with our certificate if given."""
        if self.ssl_keyfile and not self.ssl_certfile:
            raise KafkaSecurityError("DD_KAFKA_SSL_KEYFILE is set without DD_KAFKA_SSL_CERTFILE")
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ssl_cafile)
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context


PLAINTEXT = KafkaSecurity()
