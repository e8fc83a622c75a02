"""The whole system as processes: which ports, how the services find each other, migrate, wait.

One place that wires the five services and the portal simulator together, used by `make run`
(deploy/local/run.py, under honcho), by the tests that run the system as real processes
(tests/system.py: the end-to-end, browser and demo tests) and by `make demo`'s defaults.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.local._proc import REPO
from shared.db.roles import OWNER_ROLE, ensure_roles, service_role, with_user

# `make run`'s ports; each one is overridden by DD_<SERVICE>_PORT (DD_PORTAL_SIM_PORT for the simulator).
DEFAULT_PORTS: dict[str, int] = {
    "ingest": 8001,
    "evidence": 8002,
    "deadline": 8003,
    "notify": 8004,
    "submit": 8005,
    "portal_sim": 8099,
}
MIGRATED = ("ingest", "evidence", "deadline", "notify", "submit")  # the simulator keeps nothing
# The portal's webhook secret, shared by the simulator (signs) and submit (verifies); a development value.
DEV_PORTAL_WEBHOOK_SECRET = "whsec_ZGV2LXBvcnRhbC13ZWJob29rLXNlY3JldC0zMmJ5dGVzIQ=="


@dataclass(frozen=True)
class SystemPorts:
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    @classmethod
    def from_env(cls, defaults: Mapping[str, int] = DEFAULT_PORTS, env: Mapping[str, str] = os.environ) -> SystemPorts:
        ports: dict[str, int] = {}
        for name, default in defaults.items():
            variable = port_variable(name)
            value = env.get(variable, "")
            if value and not value.isdigit():
                raise ValueError(f"{variable} must be a port number, got {value!r}")
            ports[name] = int(value) if value else default
        return cls(ports)

    @classmethod
    def offset(cls, base: int) -> SystemPorts:
        """`base` + the last digits of the default ports: 18000 gives 18001…18005 and 18099."""
        return cls({name: base + port % 1000 for name, port in DEFAULT_PORTS.items()})

    def __getitem__(self, name: str) -> int:
        return self.ports[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def items(self) -> list[tuple[str, int]]:
        return list(self.ports.items())


def port_variable(name: str) -> str:
    """The settings variable that moves a service's port: DD_INGEST_PORT, DD_PORTAL_SIM_PORT, …"""
    return f"DD_{name.upper()}_PORT"


def system_env(
    *,
    database_url: str,
    kafka_bootstrap_servers: str,
    ports: SystemPorts,
    data_root: Path,
    base: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """The environment every service process gets: the infrastructure, its own port and its peers' URLs.

    `database_url` is the server's superuser (it creates the roles, `migrate_all`); each service
    connects as its own role and the migrations run as the owner (shared/db/roles.py)."""
    portal_secret = base.get("DD_PORTAL_WEBHOOK_SECRET", DEV_PORTAL_WEBHOOK_SECRET)
    return {
        **{key: value for key, value in base.items() if key != "DD_DATABASE_URL"},  # no shared login
        "DD_MIGRATION_DATABASE_URL": with_user(database_url, OWNER_ROLE),
        **{f"DD_{name.upper()}_DATABASE_URL": with_user(database_url, service_role(name)) for name in MIGRATED},
        "DD_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        **{port_variable(name): str(port) for name, port in ports.items()},
        # Local sinks (the demo's, the tests') listen on loopback: allowed here, refused in production.
        "DD_ALLOW_PRIVATE_TARGETS": "true",
        "DD_EVIDENCE_BLOB_ROOT": str(data_root / "blobs" / "evidence"),
        "DD_SUBMIT_PACKAGE_ROOT": str(data_root / "blobs" / "submit"),
        # The dashboard (ingest) reads the other services over HTTP with the signed-in token.
        "DD_INGEST_EVIDENCE_URL": ports.url("evidence"),
        "DD_INGEST_DEADLINE_URL": ports.url("deadline"),
        "DD_INGEST_NOTIFY_URL": ports.url("notify"),
        "DD_INGEST_SUBMIT_URL": ports.url("submit"),
        "DD_NOTIFY_DASHBOARD_BASE_URL": ports.url("ingest"),
        "DD_SUBMIT_EVIDENCE_URL": ports.url("evidence"),
        "DD_SUBMIT_PORTAL_URL": ports.url("portal_sim"),
        # The simulator calls submit back with its verdict, signed with the secret both read.
        "DD_PORTAL_SIM_CALLBACK_URL": f"{ports.url('submit')}/v1/portal/verdicts",
        "DD_PORTAL_SIM_WEBHOOK_SECRET": portal_secret,
        "DD_SUBMIT_PORTAL_WEBHOOK_SECRET": portal_secret,
        "DD_SUBMIT_VERDICT_POLL_AFTER_S": base.get("DD_SUBMIT_VERDICT_POLL_AFTER_S", "15"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }


def migrate_all(env: Mapping[str, str], *, admin_url: str) -> None:
    """The roles (as `admin_url`, a superuser), then every service's migrations side by side (as the
    owner, each granting its service's role its schema); raises with the failing service's output."""
    asyncio.run(ensure_roles(admin_url, MIGRATED))
    migrate_services(env)


def migrate_services(env: Mapping[str, str], cwd: Path = REPO) -> None:
    """Every service's `migrate` side by side, in `env` (as the owner, `DD_MIGRATION_DATABASE_URL`, each
    granting its service's role its schema); raises with the failing service's output. `migrate_all`'s
    second half, and the deployments' init job's (deploy/bootstrap.py)."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"services.{name}", "migrate"],
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in MIGRATED
    }
    failed = {}
    for name, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode:
            failed[name] = out
    if failed:
        raise RuntimeError("\n".join(f"migrating {name} failed:\n{out}" for name, out in failed.items()))


def wait_ready(ports: SystemPorts, *, timeout_s: float, still_running: Callable[[], bool] = lambda: True) -> None:
    """Return once every service answers /readyz 200; raise naming those that do not."""
    pending = dict(ports.items())
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2) as client:
        while pending and time.monotonic() < deadline:
            if not still_running():
                raise RuntimeError("a service exited during start-up; see its log lines above")
            for name, port in list(pending.items()):
                try:
                    if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
    if pending:
        raise RuntimeError(f"not ready after {timeout_s:.0f}s: {', '.join(pending)}")
