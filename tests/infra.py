"""Where the tests' PostgreSQL and Kafka come from, in this order:

1. `DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` when both are set (servers you run yourself);
2. testcontainers, when a Docker engine answers;
3. the project's own local servers (deploy/local), on test ports, started once per session
   and destroyed after. This is what CI and machines without Docker use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.local.infra import LocalInfra

REPO = Path(__file__).resolve().parents[1]


@dataclass
class TestInfra:
    database_url: str  # postgresql+asyncpg://...
    kafka_bootstrap_servers: str
    local: LocalInfra | None = None  # set when the tests may stop and start the servers

    @property
    def how(self) -> str:
        return "local servers" if self.local else "given servers"


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@contextmanager
def provide_infra() -> Iterator[TestInfra]:
    database_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if database_url and bootstrap:
        yield TestInfra(database_url.replace("postgresql://", "postgresql+asyncpg://", 1), bootstrap)
        return
    if os.environ.get("DD_TEST_USE_DOCKER", "auto") != "never" and _docker_answers():
        with _containers() as infra:
            yield infra
        return
    # Their own folder under .local/test, destroyed before and after the session: what a run leaves for
    # people to read beside it (the system's logs in system/, the browser tests' screenshots in artifacts/)
    # stays until the next run.
    local = LocalInfra.from_env(
        root=REPO / ".local" / "test" / "servers",
        prefix="DD_TEST_",
        pg_port=15442,
        kafka_port=19102,
        kafka_controller_port=19103,
    )  # durable PostgreSQL (the default): crash tests must not lose acknowledged commits
    local.destroy()  # a previous run killed mid-way leaves nothing behind to trip over
    local.up()
    try:
        yield TestInfra(local.database_url, local.kafka_bootstrap_servers, local)
    finally:
        local.destroy()


@contextmanager
def _containers() -> Iterator[TestInfra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        PostgresContainer("postgres:18", driver="asyncpg", dbname="dispute_desk") as pg,
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
    ):
        yield TestInfra(pg.get_connection_url(), kafka.get_bootstrap_server())
