"""`make run`'s port check: every port it will listen on, checked before anything starts.

A taken port is one line: the port and what it is for, the process that holds it (pid, command
line, the checkout or folder it runs in), the settings variable that moves it, and `make stop`
when the holder is a `make run` of this checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from deploy.local._proc import REPO, _port_free, ephemeral_port_range
from deploy.local.infra import LocalInfra
from deploy.local.system import SystemPorts, port_variable

# Every process a `make run` starts (its services, honcho, PostgreSQL, Kafka, the watchdog) carries
# this variable, set to its instance folder: that is how a later run, `make stop` and this check know them.
RUN_MARKER = "DD_LOCAL_RUN"


@dataclass(frozen=True)
class PlannedPort:
    port: int
    what: str  # "ingest", "PostgreSQL", "Kafka controller", ...
    variable: str  # the setting that moves it: DD_INGEST_PORT, DD_LOCAL_PG_PORT, ...


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    cwd: str | None  # None: not readable (another user's process)
    run_instance: str | None  # the DD_LOCAL_RUN of a `make run` process


def planned_ports(ports: SystemPorts, infra: LocalInfra) -> list[PlannedPort]:
    planned = [PlannedPort(port, name, port_variable(name)) for name, port in ports.items()]
    return planned + [
        PlannedPort(infra.pg_port, "PostgreSQL", "DD_LOCAL_PG_PORT"),
        PlannedPort(infra.kafka_port, "Kafka", "DD_LOCAL_KAFKA_PORT"),
        PlannedPort(infra.kafka_controller_port, "Kafka controller", "DD_LOCAL_KAFKA_CONTROLLER_PORT"),
    ]


def port_problems(planned: list[PlannedPort]) -> list[str]:
    """One line per port that cannot be used: named twice, or taken. Empty when all are free."""
    problems = []
    seen: dict[int, PlannedPort] = {}
    for use in planned:
        if use.port in seen:
            first = seen[use.port]
            problems.append(
                f"port {use.port} is named twice, for {first.what} ({first.variable}) and for {use.what}"
                f" ({use.variable}); set one of them to another port."
            )
            continue
        seen[use.port] = use
        if not _port_free(use.port):
            problems.append(taken_message(use, port_holder(use.port)))
    return problems


def port_holder(port: int) -> Holder | None:
    """The process listening on 127.0.0.1/any address at `port` (else one connected from it), if visible."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    mine = [c for c in connections if c.laddr and c.laddr.port == port and c.pid]
    mine.sort(key=lambda c: c.status != psutil.CONN_LISTEN)  # the listener first
    for connection in mine:
        assert connection.pid is not None
        try:
            return _describe(psutil.Process(connection.pid))
        except psutil.NoSuchProcess:
            continue
    return None


def _describe(process: psutil.Process) -> Holder:
    with process.oneshot():
        try:
            command = " ".join(process.cmdline()) or process.name()
        except psutil.AccessDenied:
            command = process.name()
        cwd: str | None
        try:
            cwd = process.cwd()
        except psutil.AccessDenied:
            cwd = None
        try:
            run_instance = process.environ().get(RUN_MARKER)
        except psutil.AccessDenied:
            run_instance = None
    return Holder(pid=process.pid, command=command, cwd=cwd, run_instance=run_instance)


def checkout_of(folder: str) -> Path | None:
    """The git checkout (a folder with `.git`, a worktree's file or a clone's folder) holding `folder`."""
    path = Path(folder)
    for candidate in [path, *path.parents]:
        if (candidate / ".git").exists():
            return candidate
    return None


def taken_message(
    use: PlannedPort,
    holder: Holder | None,
    *,
    repo: Path = REPO,
    ephemeral: tuple[int, int] | None = None,
) -> str:
    """One line: what holds `use.port`, where it runs, and what to do."""
    head = f"port {use.port} ({use.what}) is taken"
    move = f"set {use.variable} to a free port"
    if holder is None:
        line = f"{head} by a process this user cannot see; stop it, or {move}."
    else:
        command = " ".join(holder.command.split())  # one line, whatever the command line holds
        short = command if len(command) <= 100 else command[:97] + "..."
        checkout = checkout_of(holder.cwd) if holder.cwd else None
        where = f"in {checkout}" if checkout else (f"in {holder.cwd}" if holder.cwd else "in an unknown folder")
        line = f"{head} by pid {holder.pid} ({short}) {where}"
        if holder.run_instance and Path(holder.run_instance).is_relative_to(repo):
            # A `make run` of this very checkout, left running (another instance folder or a live run elsewhere).
            folder = Path(holder.run_instance).relative_to(repo)
            prefix = "" if folder == Path(".local/dev") else f"DD_LOCAL_DIR={folder} "
            line += f", left by `make run` of this checkout: `{prefix}make stop` stops it, or {move}."
        elif checkout == repo:
            line += f", this checkout (not a `make run`): stop pid {holder.pid}, or {move}."
        else:
            line += f": stop it, or {move}."
    low_high = ephemeral if ephemeral is not None else ephemeral_port_range()
    if low_high and low_high[0] <= use.port <= low_high[1]:
        line += (
            f" (Port {use.port} is in the ephemeral range {low_high[0]}-{low_high[1]}, where a reconnecting"
            f" client may hold it by connecting to itself: use a port below {low_high[0]}.)"
        )
    return line
