"""The blob store's settings (shared.settings.BlobStoreSettings): local by default, S3 when asked, and
settings that cannot work refused at start in one sentence that names the variable to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import services.evidence.settings
import services.submit.settings
from shared.blobs import LocalBlobStore, blob_store_from
from shared.settings import UnsafeSettingsError
from tests.infra import REPO

Evidence = services.evidence.settings.Settings
Submit = services.submit.settings.Settings


def test_the_default_is_the_local_store(tmp_path: Path) -> None:
    settings = Evidence(env="local")
    assert settings.blob_store == "local" and settings.blob_store_refusal() is None
    settings.ensure_safe_to_start()
    assert isinstance(blob_store_from(settings, local_root=tmp_path), LocalBlobStore)


def test_each_service_has_its_own_default_prefix() -> None:
    assert Evidence(env="local").blob_s3_prefix == "evidence"
    assert Submit(env="local").blob_s3_prefix == "packages"


def test_s3_settings_come_from_the_environment_service_prefix_first(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DD_BLOB_STORE": "s3",
        "DD_BLOB_S3_BUCKET": "dd-common",
        "DD_EVIDENCE_BLOB_S3_BUCKET": "dd-evidence",
        "DD_BLOB_S3_ENDPOINT_URL": "https://minio.internal:9000",
        "DD_BLOB_S3_REGION": "ap-northeast-2",
        "DD_BLOB_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "DD_BLOB_S3_SECRET_ACCESS_KEY": "do-not-print-me",
        "DD_SUBMIT_BLOB_S3_PREFIX": "prod/packages",
    }.items():
        monkeypatch.setenv(name, value)
    evidence, submit = Evidence(env="local"), Submit(env="local")
    assert (evidence.blob_store, evidence.blob_s3_bucket, submit.blob_s3_bucket) == ("s3", "dd-evidence", "dd-common")
    assert (evidence.blob_s3_region, evidence.blob_s3_endpoint_url) == ("ap-northeast-2", "https://minio.internal:9000")
    assert (evidence.blob_s3_prefix, submit.blob_s3_prefix) == ("evidence", "prod/packages")
    assert evidence.blob_s3_secret_access_key is not None
    assert evidence.blob_s3_secret_access_key.get_secret_value() == "do-not-print-me"
    assert "do-not-print-me" not in repr(evidence)
    assert evidence.blob_store_refusal() is None


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"blob_store": "s3"}, ["DD_BLOB_S3_BUCKET", "DD_EVIDENCE_BLOB_S3_BUCKET"]),
        (
            {"blob_store": "s3", "blob_s3_bucket": "b", "blob_s3_access_key_id": "AKIA"},
            ["DD_BLOB_S3_SECRET_ACCESS_KEY"],
        ),
        (
            {"blob_store": "s3", "blob_s3_bucket": "b", "blob_s3_endpoint_url": "http://m:9000"},
            ["DD_BLOB_S3_ALLOW_HTTP"],
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_in_one_sentence(
    settings: dict[str, str], names: list[str], tmp_path: Path
) -> None:
    evidence = Evidence(env="local", **settings)  # type: ignore[arg-type]
    with pytest.raises(UnsafeSettingsError) as refused:
        evidence.ensure_safe_to_start()
    message = str(refused.value)
    assert "\n" not in message and message.startswith("evidence: ") and message.endswith(".")
    assert all(name in message for name in names)
    with pytest.raises(UnsafeSettingsError):
        blob_store_from(evidence, local_root=tmp_path)


def test_http_is_accepted_when_allowed() -> None:
    allowed = Evidence(
        env="local", blob_store="s3", blob_s3_bucket="b", blob_s3_endpoint_url="http://m:9000", blob_s3_allow_http=True
    )
    assert allowed.blob_store_refusal() is None


def test_serve_refuses_to_start_on_s3_without_a_bucket() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DD_")} | {"DD_ENV": "local", "DD_BLOB_STORE": "s3"}
    done = subprocess.run(
        [sys.executable, "-m", "services.submit", "serve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "refusing to start: submit: DD_BLOB_STORE is s3 but no bucket is set; set DD_BLOB_S3_BUCKET "
        "(or DD_SUBMIT_BLOB_S3_BUCKET), or DD_BLOB_STORE=local."
    )
