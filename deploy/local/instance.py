"""What one `make run` owns in its instance folder, and how to stop it when its supervisor is gone.

    <root>/run.lock       held (flock) by the live supervisor, then by whoever stops what it left
    <root>/run.pid        the supervisor (python -m deploy.local.run)
    <root>/watchdog.pid   its watchdog (deploy/local/watchdog.py)
    <root>/watchdog.log   what the watchdog did

Every process the run starts (honcho, the services, PostgreSQL, Kafka, the watchdog) inherits
DD_LOCAL_RUN=<root>, so the ones a killed supervisor left are found by that mark, whoever their
parent is now (honcho starts each service in a session of its own, so a process group is not enough).
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

import psutil

from deploy.local._proc import log
from deploy.local.infra import LocalInfra
from deploy.local.ports import RUN_MARKER

RUN_PID = "run.pid"
WATCHDOG_PID = "watchdog.pid"
LOCK = "run.lock"
SERVICE_STOP_TIMEOUT_S = 20.0


def try_lock(root: Path) -> int | None:
    """The instance's run lock (a file descriptor to keep open), or None when another process holds it."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children (PEP 446)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def wait_lock(root: Path, timeout_s: float | None) -> int | None:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while (fd := try_lock(root)) is None:
        if deadline is not None and time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    return fd


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def live_process(path: Path, needle: str) -> psutil.Process | None:
    """The process named in pid file `path`, if it is alive and its command line has `needle`."""
    pid = read_pid(path)
    if pid is None or pid == os.getpid():
        return None
    try:
        process = psutil.Process(pid)
        if process.status() != psutil.STATUS_ZOMBIE and needle in " ".join(process.cmdline()):
            return process
    except psutil.Error:
        pass
    return None


def supervisor(root: Path) -> psutil.Process | None:
    return live_process(root / RUN_PID, "deploy.local.run")


def marked_processes(root: Path) -> list[psutil.Process]:
    """Every live process started by a `make run` of instance `root` (this one excluded)."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(RUN_MARKER) == str(root) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:  # gone, or another user's
            continue
    return found


def _is_infra(process: psutil.Process) -> bool:
    try:
        return process.name() in ("postgres", "pg_ctl") or "kafka.Kafka" in process.cmdline()
    except psutil.Error:
        return False


def _label(process: psutil.Process) -> str:
    """A short name for what `process` is: the service it serves, honcho, the watchdog, or its program."""
    try:
        words = process.cmdline()
    except psutil.Error:
        return f"pid {process.pid}"
    for word in words:
        if word.startswith("services.") and "serve" in words:
            return word.removeprefix("services.")
        if word in ("honcho", "deploy.local.watchdog", "kafka.Kafka"):
            return {"deploy.local.watchdog": "watchdog", "kafka.Kafka": "Kafka"}.get(word, word)
    return Path(words[0]).name if words else f"pid {process.pid}"


def _labels(processes: list[psutil.Process]) -> list[str]:
    """Each kind once ('honcho', 'ingest', ...), with its pids: a service is a shell and its python."""
    pids: dict[str, list[int]] = {}
    for process in processes:
        pids.setdefault(_label(process), []).append(process.pid)
    return [f"{label} (pid {', '.join(map(str, sorted(p)))})" for label, p in pids.items()]


def _terminate(processes: list[psutil.Process], timeout_s: float) -> None:
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for process in alive:
        log.warning("pid %s ignored SIGTERM for %.0f s; killing it", process.pid, timeout_s)
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


def stop_leftovers(root: Path, infra: LocalInfra) -> list[str]:
    """Stop whatever a `make run` of `root` left running (the caller holds the run lock); what was stopped.

    The services (and honcho, the old watchdog) first, with SIGTERM as Ctrl-C would; then PostgreSQL
    and Kafka through their pid files, as `infra.down()` always does; then anything still marked
    (a broker whose pid file was never written, say).
    """
    stopped = []
    services = [p for p in marked_processes(root) if not _is_infra(p)]
    stopped += _labels(services)
    _terminate(services, SERVICE_STOP_TIMEOUT_S)
    if infra.postgres_running():
        stopped.append("PostgreSQL")
    if infra.kafka_running():
        stopped.append("Kafka")
    infra.down()
    rest = marked_processes(root)
    stopped += _labels(rest)
    _terminate(rest, SERVICE_STOP_TIMEOUT_S)
    for name in (RUN_PID, WATCHDOG_PID):
        (root / name).unlink(missing_ok=True)
    return stopped


def stop_supervisor(root: Path, timeout_s: float = 60.0) -> int | None:
    """SIGTERM a live supervisor of `root` and wait until it has stopped what it started; its pid."""
    process = supervisor(root)
    if process is None:
        return None
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        log.warning("make run (pid %s) did not stop within %.0f s; killing it", process.pid, timeout_s)
        process.kill()
    return int(process.pid)
