"""Kafka TLS/SASL and PostgreSQL TLS from the settings (shared/kafka/security.py, shared/db/tls.py).

The kwargs are handed to real aiokafka clients (built, not started: their constructors check the
combination) and the SSL contexts load real certificates made here."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from services.evidence.settings import Settings as EvidenceSettings
from shared.db.tls import database_ssl, database_ssl_context, ssl_connect_args
from shared.kafka.producer import create_producer
from shared.kafka.security import PLAINTEXT, KafkaSecurity, KafkaSecurityError


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate signed by it, as PEM files."""
    root = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey, ca: bool):
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files = {"ca": root / "ca.pem", "cert": root / "client.pem", "key": root / "client.key"}
    files["ca"].write_bytes(
        cert("dd-test-ca", ca_key, "dd-test-ca", ca_key, True).public_bytes(serialization.Encoding.PEM)
    )
    files["cert"].write_bytes(
        cert("dd-client", client_key, "dd-test-ca", ca_key, False).public_bytes(serialization.Encoding.PEM)
    )
    files["key"].write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


def ca_names(context: ssl.SSLContext) -> list[str]:
    return [dict(x[0] for x in c["subject"])["commonName"] for c in context.get_ca_certs()]


def test_plaintext_adds_no_argument_at_all():
    assert PLAINTEXT.client_kwargs() == {}
    assert KafkaSecurity.from_settings(EvidenceSettings()) == PLAINTEXT


def test_sasl_ssl_with_scram_from_the_environment(monkeypatch, pki):
    monkeypatch.setenv("DD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("DD_KAFKA_SASL_USERNAME", "dd-common")
    monkeypatch.setenv("DD_EVIDENCE_KAFKA_SASL_USERNAME", "dd-evidence")  # the service's prefix wins
    monkeypatch.setenv("DD_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("DD_KAFKA_SSL_CAFILE", str(pki["ca"]))
    kwargs = KafkaSecurity.from_settings(EvidenceSettings()).client_kwargs()
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "dd-evidence",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert ca_names(context) == ["dd-test-ca"]  # our CA, not the system's bundle


def test_mutual_tls_loads_the_client_certificate(pki):
    security = KafkaSecurity(protocol="SSL", ssl_cafile=str(pki["ca"]), ssl_certfile=str(pki["cert"]))
    with pytest.raises(ssl.SSLError):  # the key is not in the certificate's file: it must be named
        security.client_kwargs()
    security = KafkaSecurity(
        protocol="SSL", ssl_cafile=str(pki["ca"]), ssl_certfile=str(pki["cert"]), ssl_keyfile=str(pki["key"])
    )
    kwargs = security.client_kwargs()
    assert set(kwargs) == {"security_protocol", "ssl_context"}  # no SASL arguments over plain TLS


def test_settings_that_cannot_work_are_refused(monkeypatch):
    with pytest.raises(KafkaSecurityError, match="SASL_USERNAME"):
        KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_username="dd").client_kwargs()
    with pytest.raises(KafkaSecurityError, match="CERTFILE"):
        KafkaSecurity(protocol="SSL", ssl_keyfile="/k.pem").client_kwargs()
    monkeypatch.setenv("DD_KAFKA_SECURITY_PROTOCOL", "SASL_SCRAM")
    with pytest.raises(ValidationError):
        EvidenceSettings()
    monkeypatch.delenv("DD_KAFKA_SECURITY_PROTOCOL")
    monkeypatch.setenv("DD_DATABASE_SSL_MODE", "prefer")  # libpq's, but it falls back to plaintext silently
    with pytest.raises(ValidationError):
        EvidenceSettings()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
async def test_every_kind_of_client_accepts_the_arguments(protocol, pki):
    security = KafkaSecurity(protocol=protocol, sasl_username="u", sasl_password="p", ssl_cafile=str(pki["ca"]))
    clients = [
        AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", **security.client_kwargs()),
        AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", **security.client_kwargs()),
        AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9", **security.client_kwargs()),
    ]
    for client in clients:
        inner = client.client if isinstance(client, AIOKafkaProducer) else client._client
        assert inner._security_protocol == protocol
        assert (inner._ssl_context is not None) == protocol.endswith("SSL")
        assert inner._sasl_plain_username == ("u" if protocol.startswith("SASL") else None)
    producer = create_producer("127.0.0.1:9", client_id="t", security=security)
    assert producer.client._security_protocol == protocol


def test_database_ssl_modes_as_libpq_means_them(pki):
    assert database_ssl_context("disable") is None
    assert ssl_connect_args(None) == {}  # the engine's connect arguments stay as they were
    require = database_ssl_context("require")
    assert require is not None and require.verify_mode == ssl.CERT_NONE and not require.check_hostname
    verify_ca = database_ssl_context("verify-ca", str(pki["ca"]))
    assert verify_ca is not None and verify_ca.verify_mode == ssl.CERT_REQUIRED and not verify_ca.check_hostname
    assert ca_names(verify_ca) == ["dd-test-ca"]
    full = database_ssl_context("verify-full", str(pki["ca"]))
    assert full is not None and full.verify_mode == ssl.CERT_REQUIRED and full.check_hostname
    assert ssl_connect_args(full) == {"ssl": full}


def test_database_ssl_from_the_environment(monkeypatch, pki):
    assert database_ssl(EvidenceSettings()) is None
    monkeypatch.setenv("DD_DATABASE_SSL_MODE", "verify-full")
    monkeypatch.setenv("DD_DATABASE_SSL_ROOT_CERT", str(pki["ca"]))
    context = database_ssl(EvidenceSettings())
    assert context is not None and context.check_hostname and ca_names(context) == ["dd-test-ca"]
