"""`make run`: the whole system on this machine, in the foreground, until Ctrl-C.

    python -m deploy.local.run          start (what `make run` runs)
    python -m deploy.local.run stop     stop a run of this instance, or what a killed one left (`make stop`)

Before anything starts: whatever an earlier run of this instance folder (DD_LOCAL_DIR, default
.local/dev) left running is stopped, and every port is checked (deploy/local/ports.py); a taken
port is one line naming its holder and the variable that moves it. Then a watchdog is started
(deploy/local/watchdog.py) that stops everything should this supervisor die without cleaning up,
PostgreSQL and Kafka are started (deploy/local/infra.py), every schema migrated, the topics
created, the five services and the portal simulator started under honcho, and once each answers
/readyz the banner says where they listen and what to do next. Ctrl-C, SIGTERM, SIGHUP (a closed
terminal) or `make stop` stop all of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.local._proc import REPO
from deploy.local.infra import LocalInfra
from deploy.local.instance import (
    RUN_PID,
    WATCHDOG_PID,
    stop_leftovers,
    stop_supervisor,
    supervisor,
    try_lock,
    wait_lock,
)
from deploy.local.ports import RUN_MARKER, planned_ports, port_problems
from deploy.local.system import SystemPorts, migrate_all, system_env, wait_ready
from shared.kafka.topics import ensure_topics

PROCFILE = Path(__file__).with_name("Procfile")
READY_TIMEOUT_S = 90
LEFTOVER_WAIT_S = 60  # a watchdog still stopping a killed run's servers


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="make run: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per /readyz poll
    try:
        ports = SystemPorts.from_env()
        infra = LocalInfra.from_env(pg_durable=False)  # dev data: fast, not crash-safe (see README)
    except ValueError as exc:  # a setting that is not a port number: one line
        sys.exit(f"make run: {exc}")
    if args == ["stop"]:
        sys.exit(stop(infra))
    if args:
        sys.exit(f"usage: python -m deploy.local.run [stop], not {' '.join(args)!r}")
    sys.exit(run(ports, infra))


def stop(infra: LocalInfra) -> int:
    """`make stop`: a live run of this instance stops itself; then whatever is left is stopped here."""
    pid = stop_supervisor(infra.root)
    lock = wait_lock(infra.root, timeout_s=LEFTOVER_WAIT_S)
    if lock is None:
        print(f"make stop: {infra.root / 'run.lock'} is still held; try again in a minute", file=sys.stderr)
        return 1
    stopped = stop_leftovers(infra.root, infra)
    what = [f"make run pid {pid}"] if pid else []
    print(f"stopped {', '.join(what + stopped) or 'nothing (nothing was running)'} (instance {infra.root})")
    return 0


def _take_instance(infra: LocalInfra) -> int | None:
    """The run lock of the instance, once no live run holds it; None (said why) when one does."""
    lock = try_lock(infra.root)
    if lock is not None:
        return lock
    live = supervisor(infra.root)
    if live is not None:
        print(
            f"make run: already running for {infra.root} (pid {live.pid}): use that one, or `make stop` it first.",
            file=sys.stderr,
        )
        return None
    print(
        "make run: waiting while what an earlier run left is stopped (its watchdog, or make stop)…",
        file=sys.stderr,
        flush=True,
    )
    lock = wait_lock(infra.root, timeout_s=LEFTOVER_WAIT_S)
    if lock is None:
        print(f"make run: {infra.root / 'run.lock'} is still held; `make stop`, then try again.", file=sys.stderr)
    return lock


def run(ports: SystemPorts, infra: LocalInfra) -> int:
    started = time.monotonic()
    lock = _take_instance(infra)
    if lock is None:
        return 1
    # One live run per instance: whatever of it still runs was left by a run that is gone (SIGKILL, its
    # watchdog killed too) or started by hand (`python -m deploy.local.infra up`). It is stopped, not
    # reused, so what starts now has the ports and settings of this run.
    stopped = stop_leftovers(infra.root, infra)
    if stopped:
        print(f"make run: stopped what an earlier run left: {', '.join(stopped)}", file=sys.stderr, flush=True)
    problems = port_problems(planned_ports(ports, infra))
    if problems:
        for line in problems:
            print(f"make run: {line}", file=sys.stderr)
        return 1

    root = infra.root
    (root / RUN_PID).write_text(f"{os.getpid()}\n")
    os.environ[RUN_MARKER] = str(root)  # inherited by everything started below, the watchdog first
    with open(root / "watchdog.log", "ab") as watchdog_log:
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "deploy.local.watchdog", "--pid", str(os.getpid()), "--root", str(root)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=watchdog_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the terminal's signals never reach it
        )
    (root / WATCHDOG_PID).write_text(f"{watchdog.pid}\n")
    honcho: subprocess.Popen[bytes] | None = None
    failure: str | None = None

    hung_up = False

    def on_signal(sig: int, _frame: object) -> None:
        nonlocal hung_up
        if sig == signal.SIGHUP:  # the terminal is gone: a print would fail, and so would honcho's
            hung_up = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.dup2(devnull, sys.stderr.fileno())
        raise KeyboardInterrupt

    # Explicitly: a SIGINT inherited as ignored (a shell's background job) must still stop us, and
    # SIGHUP (the terminal closed) stops us as cleanly as Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        infra.up()
        env = system_env(
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            ports=ports,
            data_root=root,  # blobs beside the dev data: `make clean` removes both
        )
        migrate_all(env, admin_url=infra.database_url)
        asyncio.run(ensure_topics(infra.kafka_bootstrap_servers, partitions=int(env.get("DD_TOPIC_PARTITIONS", "6"))))
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "-f", str(PROCFILE), "-d", str(REPO), "start"],
            env=env,
            cwd=REPO,
            start_new_session=True,  # we stop it ourselves, in order
        )
        wait_ready(ports, timeout_s=READY_TIMEOUT_S, still_running=lambda: honcho is not None and honcho.poll() is None)
        print(banner(ports, infra, seconds=time.monotonic() - started), flush=True)
        honcho.wait()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    except (RuntimeError, TimeoutError) as exc:  # a port, a migration, a service not ready: said, then stopped
        failure = f"make run: {exc}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a second Ctrl-C does not cut the stop short
            signal.signal(sig, signal.SIG_IGN)
        # honcho stops the services in order and says so; after a hang-up it cannot say anything (it
        # stalls writing to the closed terminal), so the services are stopped below, directly.
        if honcho is not None and honcho.poll() is None and not hung_up:
            os.killpg(honcho.pid, signal.SIGTERM)
            try:
                honcho.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait()
        # PostgreSQL, Kafka, the watchdog and any service honcho did not stop; the pid files.
        stop_leftovers(root, infra)
        try:
            watchdog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()
        os.close(lock)
        print("stopped.", flush=True)
    if failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


def banner(ports: SystemPorts, infra: LocalInfra, *, seconds: float) -> str:
    lines = [f"\nDispute Desk is up in {seconds:.1f}s:"]
    for name, _ in ports.items():
        routes = "/healthz /readyz" if name == "portal_sim" else "/healthz /readyz /metrics /v1/ops/lag /asyncapi.yaml"
        lines.append(f"  {name:<11} {ports.url(name)}   ({routes})")
    lines += [
        f"  postgres    {infra.database_url}",
        f"  kafka       {infra.kafka_bootstrap_servers}",
        "",
        "API docs (try each call in the browser):",
        *(f"  {name:<11} {ports.url(name)}/docs" for name, _ in ports.items()),
        "",
        f"Dashboard:    {ports.url('ingest')}/dashboard",
        "Next step:    in another terminal, `make demo` (a seller, two disputes, evidence, a verdict)",
        "Ctrl-C stops everything.\n",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
