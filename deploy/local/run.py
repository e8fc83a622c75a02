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

from deploy.local.infra import REPO, LocalInfra
from deploy.local.system import SystemPorts, migrate_all, system_env, wait_ready
from shared.kafka.topics import ensure_topics

PROCFILE = Path(__file__).with_name("Procfile")
READY_TIMEOUT_S = 90


def main() -> None:
    started = time.monotonic()
    ports = SystemPorts.from_env()
    infra = LocalInfra.from_env(pg_durable=False)  # dev data: fast, not crash-safe (see README)
    pid_file = infra.root / "run.pid"
    infra.root.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    honcho: subprocess.Popen | None = None
    failure: str | None = None

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    # Both explicitly: a SIGINT inherited as ignored (a shell's background job) must still stop us.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        infra.up()
        env = system_env(
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            ports=ports,
            data_root=infra.root,  # blobs beside the dev data: `make clean` removes both
        )
        migrate_all(env, admin_url=infra.database_url)
        asyncio.run(ensure_topics(infra.kafka_bootstrap_servers, partitions=int(env.get("DD_TOPIC_PARTITIONS", "6"))))
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "-f", str(PROCFILE), "-d", str(REPO), "start"],
            env=env,
            cwd=REPO,
            start_new_session=True,  # we stop it ourselves, in order
        )
        wait_ready(ports, timeout_s=READY_TIMEOUT_S, still_running=lambda: honcho.poll() is None)
        print(f"\nDispute Desk is up in {time.monotonic() - started:.1f}s:")
        for name, _ in ports.items():
            routes = "/healthz /readyz" if name == "portal_sim" else "/healthz /readyz /metrics /v1/ops/lag"
            print(f"  {name:<11} {ports.url(name)}   ({routes})")
        print(f"  postgres    {infra.database_url}")
        print(f"  kafka       {infra.kafka_bootstrap_servers}")
        print("Ctrl-C stops everything.\n", flush=True)
        honcho.wait()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    except RuntimeError as exc:  # a migration failed, a service did not get ready: said, then stopped
        failure = str(exc)
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
    if failure:
        sys.exit(failure)


if __name__ == "__main__":
    main()
