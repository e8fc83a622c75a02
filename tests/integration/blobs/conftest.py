"""A local S3-compatible server for the blob store tests: moto in server mode, one process per session.

S3 itself cannot run here, so moto stands in (the only stand-in these tests use). It runs as its own
process (`moto_server`) on a free loopback port and checks signatures like S3: after the first three
requests, which create an IAM user, its access key and a policy allowing it every S3 action
(`INITIAL_NO_AUTH_ACTION_COUNT`), every request must be signed with a key moto issued, so a wrong key
is refused as AWS would refuse it. Each test module gets buckets of its own (`new_bucket`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.blobs import S3BlobStore

REGION = "us-east-1"
START_TIMEOUT_S = 30
# IAM CreateUser, CreateAccessKey, PutUserPolicy: moto serves these unsigned; everything after must be signed.
UNSIGNED_BOOTSTRAP_REQUESTS = 3


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice), for a server or for a store that must fail."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoS3:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    log: Path

    def client(self, **credentials: str) -> Any:
        """A boto3 S3 client (moto's own key unless other `credentials` are given), to look into buckets."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=credentials.get("access_key_id", self.access_key_id),
            aws_secret_access_key=credentials.get("secret_access_key", self.secret_access_key),
        )

    def new_bucket(self, *, versioned: bool = False) -> str:
        """A bucket of the caller's own; `versioned` keeps every put as a version (counting uploads)."""
        bucket = f"dd-{uuid.uuid4().hex[:12]}"
        s3 = self.client()
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        return bucket

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(entry["Key"] for entry in listed.get("Contents", []))

    def settings(self, bucket: str) -> dict[str, Any]:
        """The `DD_BLOB_*` settings (as keyword arguments) of a service storing in `bucket`."""
        return {
            "blob_store": "s3",
            "blob_s3_bucket": bucket,
            "blob_s3_endpoint_url": self.endpoint_url,
            "blob_s3_region": REGION,
            "blob_s3_access_key_id": self.access_key_id,
            "blob_s3_secret_access_key": self.secret_access_key,
            "blob_s3_allow_http": True,
        }

    def store(self, bucket: str, staging_dir: Path, *, prefix: str = "", **over: Any) -> S3BlobStore:
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region": REGION,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "allow_http": True,
        }
        return S3BlobStore(bucket=bucket, staging_dir=staging_dir, prefix=prefix, **(options | over))


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on {port} within {START_TIMEOUT_S} s")


def _issue_key(endpoint_url: str) -> tuple[str, str]:
    """The three unsigned requests: a user allowed every S3 action, and its access key."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="dispute-desk")
    key = iam.create_access_key(UserName="dispute-desk")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="dispute-desk", PolicyName="s3", PolicyDocument=json.dumps(policy))
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    server = Path(sys.executable).with_name("moto_server")
    env = os.environ | {"INITIAL_NO_AUTH_ACTION_COUNT": str(UNSIGNED_BOOTSTRAP_REQUESTS)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        _wait_listening(port, proc, log)
        endpoint_url = f"http://127.0.0.1:{port}"
        access_key_id, secret_access_key = _issue_key(endpoint_url)
        yield MotoS3(endpoint_url, access_key_id, secret_access_key, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
