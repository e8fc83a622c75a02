"""The five services and the simulator as real processes: they start, get ready, stop cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx

from tests.infra import REPO
from tests.support import eventually

PORTS = {"ingest": 18001, "evidence": 18002, "deadline": 18003, "notify": 18004, "submit": 18005, "portal_sim": 18099}


async def test_every_service_process_becomes_ready_and_stops_on_sigterm(infra, kafka):
    env = os.environ | {
        "DD_DATABASE_URL": infra.database_url,
        "DD_KAFKA_BOOTSTRAP_SERVERS": kafka,
        **{f"DD_{name.upper()}_PORT": str(port) for name, port in PORTS.items()},
    }
    for name in PORTS:
        if name != "portal_sim":
            migrate = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                f"services.{name}",
                "migrate",
                cwd=REPO,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
            )
            assert await migrate.wait() == 0, f"{name} migrate failed"

    procs = {
        name: await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{name}",
            "serve",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for name in PORTS
    }
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def all_ready():
                codes = {}
                for name, port in PORTS.items():
                    try:
                        codes[name] = (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code
                    except httpx.HTTPError:
                        codes[name] = None
                return codes if set(codes.values()) == {200} else None

            await eventually(all_ready, timeout_s=60, interval_s=0.5)
            health = (await client.get(f"http://127.0.0.1:{PORTS['deadline']}/healthz")).json()
            assert health == {"status": "ok", "service": "deadline"}
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        logs = {name: (await asyncio.wait_for(proc.communicate(), 20))[0].decode() for name, proc in procs.items()}
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, hence -SIGTERM.
    assert {name: proc.returncode for name, proc in procs.items()} == {name: -signal.SIGTERM for name in PORTS}
    for name, log in logs.items():
        if name != "portal_sim":
            assert '"event": "service_stopped"' in log, f"{name} did not shut down cleanly:\n{log[-2000:]}"
