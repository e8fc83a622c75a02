"""`make run`: the whole system on this machine, in the foreground, until Ctrl-C.

Starts PostgreSQL and Kafka (deploy/local/infra.py), migrates every service's schema, creates
the topics, starts the five services and the portal simulator under honcho, waits until each
answers /readyz, and prints where they listen. Ctrl-C (or `make stop`) stops all of it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from deploy.local.infra import REPO, LocalInfra
from shared.kafka.topics import ensure_topics

PROCFILE = Path(__file__).with_name("Procfile")
SERVICES = {"ingest": 8001, "evidence": 8002, "deadline": 8003, "notify": 8004, "submit": 8005, "portal_sim": 8099}
MIGRATED = ("ingest", "evidence", "deadline", "notify", "submit")
# The portal's webhook secret, shared by the simulator (signs) and submit (verifies); a development value.
PORTAL_WEBHOOK_SECRET = os.environ.get(
    "DD_PORTAL_WEBHOOK_SECRET", "whsec_ZGV2LXBvcnRhbC13ZWJob29rLXNlY3JldC0zMmJ5dGVzIQ=="
)
READY_TIMEOUT_S = 90


def _port(name: str) -> int:
    return int(os.environ.get(f"DD_{name.upper()}_PORT", SERVICES[name]))


def _migrate(env: dict[str, str]) -> None:
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"services.{name}", "migrate"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in MIGRATED
    }
    for name, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode:
            sys.exit(f"migrating {name} failed:\n{out}")


def _wait_ready(honcho: subprocess.Popen) -> None:
    pending = dict(SERVICES)
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2) as client:
        while pending and time.monotonic() < deadline:
            if honcho.poll() is not None:
                sys.exit("a service exited during start-up; see its log lines above")
            for name in list(pending):
                try:
                    if client.get(f"http://127.0.0.1:{_port(name)}/readyz").status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
    if pending:
        sys.exit(f"not ready after {READY_TIMEOUT_S}s: {', '.join(pending)}")


def main() -> None:
    started = time.monotonic()
    infra = LocalInfra.from_env(pg_durable=False)  # dev data: fast, not crash-safe (see README)
    pid_file = infra.root / "run.pid"
    infra.root.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    honcho: subprocess.Popen | None = None

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    # Both explicitly: a SIGINT inherited as ignored (a shell's background job) must still stop us.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        infra.up()
        env = os.environ | {
            "DD_DATABASE_URL": infra.database_url,
            "DD_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "DD_ALLOW_PRIVATE_TARGETS": "true",
            "DD_EVIDENCE_BLOB_ROOT": str(infra.root / "blobs" / "evidence"),  # beside the dev data: make clean
            "DD_SUBMIT_PACKAGE_ROOT": str(infra.root / "blobs" / "submit"),
            "DD_SUBMIT_EVIDENCE_URL": f"http://127.0.0.1:{SERVICES['evidence']}",
            "DD_SUBMIT_PORTAL_URL": f"http://127.0.0.1:{SERVICES['portal_sim']}",
            # The simulator calls submit back with its verdict, signed with the secret both read.
            "DD_PORTAL_SIM_CALLBACK_URL": f"http://127.0.0.1:{SERVICES['submit']}/v1/portal/verdicts",
            "DD_PORTAL_SIM_WEBHOOK_SECRET": PORTAL_WEBHOOK_SECRET,
            "DD_SUBMIT_PORTAL_WEBHOOK_SECRET": PORTAL_WEBHOOK_SECRET,
            "DD_SUBMIT_VERDICT_POLL_AFTER_S": "15",  # a lost callback is polled for within seconds, too
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        _migrate(env)
        asyncio.run(ensure_topics(infra.kafka_bootstrap_servers, partitions=int(env.get("DD_TOPIC_PARTITIONS", "6"))))
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "-f", str(PROCFILE), "-d", str(REPO), "start"],
            env=env,
            cwd=REPO,
            start_new_session=True,  # we stop it ourselves, in order
        )
        _wait_ready(honcho)
        print(f"\nDispute Desk is up in {time.monotonic() - started:.1f}s:")
        for name in SERVICES:
            routes = "/healthz /readyz" if name == "portal_sim" else "/healthz /readyz /metrics /v1/ops/lag"
            print(f"  {name:<11} http://127.0.0.1:{_port(name)}   ({routes})")
        print(f"  postgres    {infra.database_url}")
        print(f"  kafka       {infra.kafka_bootstrap_servers}")
        print("Ctrl-C stops everything.\n", flush=True)
        honcho.wait()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        if honcho is not None and honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGTERM)
            try:
                honcho.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait()
        infra.down()
        pid_file.unlink(missing_ok=True)
        print("stopped.", flush=True)


if __name__ == "__main__":
    main()
