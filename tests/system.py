"""The whole system as real processes on the tests' PostgreSQL and Kafka (end-to-end, browser, demo tests).

The five services and the portal simulator are started exactly as `make run` starts them (the same
environment, deploy/local/system.py), each its own process, on ports `DD_TEST_SERVICE_PORT_BASE` + the
last digits of `make run`'s (18001…18005 and 18099 by default). Each process logs to a file under
.local/test/system/, never to a pipe that nobody reads (a full pipe would stall the service).
A test may stop and start one service to see what its peers do without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local.infra import LocalInfra
from deploy.local.system import SystemPorts, migrate_all, system_env, wait_ready
from tests.infra import REPO, TestInfra

READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20


def system_ports(shift: int = 0) -> SystemPorts:
    """The session system's ports, or (`shift`) another block of them for a system of a test's own."""
    return SystemPorts.offset(int(os.environ.get("DD_TEST_SERVICE_PORT_BASE", "18000")) + shift)


@dataclass
class RunningSystem:
    ports: SystemPorts
    env: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.ports.url(name)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def start(self, *names: str) -> None:
        for name in names or [n for n, _ in self.ports.items()]:
            with open(self.log_dir / f"{name}.log", "ab") as log:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}", "serve"],
                    cwd=REPO,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        only = SystemPorts({name: self.ports[name] for name in names}) if names else self.ports
        alive = lambda: all(p.poll() is None for p in self.procs.values())  # noqa: E731
        wait_ready(only, timeout_s=READY_TIMEOUT_S, still_running=alive)

    def stop(self, *names: str, sig: signal.Signals = signal.SIGTERM) -> dict[str, int]:
        """Stop the named services (all when none is named); their exit codes."""
        chosen = {name: self.procs.pop(name) for name in (names or list(self.procs)) if name in self.procs}
        for proc in chosen.values():
            if proc.poll() is None:
                proc.send_signal(sig)
        codes = {}
        for name, proc in chosen.items():
            try:
                codes[name] = proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        return codes


def start_system(
    infra: TestInfra | LocalInfra,
    *,
    ports: SystemPorts | None = None,
    name: str = "system",
    root: Path = REPO / ".local" / "test",
    **env: str,
) -> RunningSystem:
    """Migrate every schema and start every service; the caller stops them (`stop()`).

    A second system beside the session's one needs ports and a `name` (its logs and blobs) of its own."""
    ports = ports or system_ports()
    data_root = root / name
    data_root.mkdir(parents=True, exist_ok=True)
    for old in data_root.glob("*.log"):  # a restarted service appends; a new system starts clean
        old.unlink()
    system = RunningSystem(
        ports=ports,
        env=system_env(
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            ports=ports,
            data_root=data_root,
            base=os.environ | env,
        ),
        log_dir=data_root,
    )
    migrate_all(system.env, admin_url=infra.database_url)
    try:
        system.start()
    except BaseException:
        system.stop(sig=signal.SIGKILL)
        raise
    return system


def running_system(infra: TestInfra, **env: str) -> Iterator[RunningSystem]:
    """Body of a fixture: the system up for the fixture's scope, stopped after."""
    system = start_system(infra, **env)
    try:
        yield system
    finally:
        system.stop()
