"""`make run` as a newcomer meets it: a taken port, a killed supervisor, the run after it.

Each test runs `python -m deploy.local.run` (what `make run` runs) as a real process, with its own
instance folder (.local/test-make-run) and its own ports, next to the test servers':
DD_TEST_SERVICE_PORT_BASE + 500 + the last digits of the service ports (18501…18505, 18599 by
default) and DD_TEST_PG_PORT / DD_TEST_KAFKA_PORT / DD_TEST_KAFKA_CONTROLLER_PORT + 5.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from deploy.local.instance import RUN_PID, WATCHDOG_PID, marked_processes, read_pid
from deploy.local.system import SystemPorts
from tests.infra import REPO

RUN_DIR = REPO / ".local" / "test-make-run"
START_TIMEOUT_S = 180  # a first start (initdb, Kafka format) on a busy 2-core machine
FREED_WITHIN_S = 30


def _env_port(name: str, default: int) -> int:
    return int(os.environ.get(name, default)) + 5


SERVICE_PORTS = SystemPorts.offset(int(os.environ.get("DD_TEST_SERVICE_PORT_BASE", "18000")) + 500)
PG_PORT = _env_port("DD_TEST_PG_PORT", 15442)
KAFKA_PORT = _env_port("DD_TEST_KAFKA_PORT", 19102)
CONTROLLER_PORT = _env_port("DD_TEST_KAFKA_CONTROLLER_PORT", 19103)
ALL_PORTS = [port for _, port in SERVICE_PORTS.items()] + [PG_PORT, KAFKA_PORT, CONTROLLER_PORT]


def run_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DD_LOCAL_")}
    env.update(
        {f"DD_{name.upper()}_PORT": str(port) for name, port in SERVICE_PORTS.items()},
        DD_ENV="local",
        DD_LOCAL_DIR=str(RUN_DIR.relative_to(REPO)),
        DD_LOCAL_PG_PORT=str(PG_PORT),
        DD_LOCAL_KAFKA_PORT=str(KAFKA_PORT),
        DD_LOCAL_KAFKA_CONTROLLER_PORT=str(CONTROLLER_PORT),
        DD_LOCAL_KAFKA_HEAP="384m",
        DD_TOPIC_PARTITIONS="2",
        PYTHONUNBUFFERED="1",
    )
    return env


class MakeRun:
    """One `python -m deploy.local.run`, its output in a file (never a pipe nobody reads)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deploy.local.run"],
                cwd=REPO,
                env=run_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Dispute Desk is up" not in self.output():
            assert self.proc.poll() is None, f"make run exited ({self.proc.returncode}):\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"make run not up in {START_TIMEOUT_S} s:\n{self.output()[-4000:]}"
            time.sleep(0.5)


def make_stop() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.local.run", "stop"],
        cwd=REPO,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_free(ports: list[int], within_s: float) -> list[int]:
    """The ports still answering after `within_s` seconds (empty when all are free)."""
    deadline = time.monotonic() + within_s
    while (held := [p for p in ports if listening(p)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    return held


@pytest.fixture(scope="module", autouse=True)
def instance() -> Iterator[None]:
    busy = [port for port in ALL_PORTS if listening(port)]
    if busy:
        pytest.fail(f"ports {busy} are in use before the test: a run of another test session?")
    yield
    make_stop()
    shutil.rmtree(RUN_DIR, ignore_errors=True)


@pytest.fixture
def listen(tmp_path: Path) -> Iterator[Callable[[int], subprocess.Popen[bytes]]]:
    """Starts a process, in tmp_path/elsewhere, that listens on the port it is given."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    procs: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> subprocess.Popen[bytes]:
        code = (
            "import socket, sys, time\n"
            "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); print('ok', flush=True)\n"
            "time.sleep(120)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code, str(port)], cwd=folder, stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"ok\n"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("port", "what", "variable"),
    [
        (SERVICE_PORTS["evidence"], "evidence", "DD_EVIDENCE_PORT"),
        (PG_PORT, "PostgreSQL", "DD_LOCAL_PG_PORT"),
        (CONTROLLER_PORT, "Kafka controller", "DD_LOCAL_KAFKA_CONTROLLER_PORT"),
    ],
)
def test_a_taken_port_is_one_line_naming_its_holder_and_the_variable_and_nothing_starts(
    listen, tmp_path, port, what, variable
):
    held = listen(port)
    run = MakeRun(tmp_path / "run.log")
    assert run.proc.wait(timeout=60) != 0
    out = run.output()
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert lines[0].startswith(f"make run: port {port} ({what}) is taken by pid {held.pid} (")
    assert f"in {tmp_path / 'elsewhere'}" in lines[0] and f"set {variable} to a free port" in lines[0]
    # Nothing started: no server, no pid file, no other port listening.
    assert not (RUN_DIR / RUN_PID).exists() and not (RUN_DIR / "kafka.pid").exists()
    assert not (RUN_DIR / "postgres" / "data" / "postmaster.pid").exists()
    assert [p for p in ALL_PORTS if p != port and listening(p)] == []


def test_a_run_after_a_killed_one_stops_what_it_left_and_a_killed_supervisor_takes_its_servers_with_it(tmp_path):
    # Two starts, not three (each is 20-60 s here): the first run is killed with its watchdog, so
    # only the second run can clean up after it; the second is killed alone, so its watchdog does.
    first = MakeRun(tmp_path / "first.log")
    first.wait_up()
    out = first.output()
    for name, _ in SERVICE_PORTS.items():
        assert f"{SERVICE_PORTS.url(name)}/docs" in out
    assert f"{SERVICE_PORTS.url('ingest')}/dashboard" in out and "make demo" in out
    watchdog = read_pid(RUN_DIR / WATCHDOG_PID)
    assert watchdog is not None
    os.kill(watchdog, signal.SIGKILL)  # both gone at once: nothing cleans up after them
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    time.sleep(1)
    assert all(listening(port) for port in ALL_PORTS), "the servers of the killed run should still be up"

    second = MakeRun(tmp_path / "second.log")
    second.wait_up()
    assert "make run: stopped what an earlier run left: " in second.output()

    # A third, while the second is live, is refused in one line; the live run is not touched.
    third = MakeRun(tmp_path / "third.log")
    assert third.proc.wait(timeout=60) != 0
    assert third.output().strip() == (
        f"make run: already running for {RUN_DIR} (pid {second.proc.pid}): use that one, or `make stop` it first."
    )
    assert second.proc.poll() is None and all(listening(port) for port in ALL_PORTS)

    # The second supervisor killed alone: its watchdog stops PostgreSQL, Kafka and the services.
    second.proc.send_signal(signal.SIGKILL)
    second.proc.wait()
    assert wait_free(ALL_PORTS, FREED_WITHIN_S) == [], (RUN_DIR / "watchdog.log").read_text()
    assert wait_marked_gone() == []
    assert "stopping what it started" in (RUN_DIR / "watchdog.log").read_text()
    assert not (RUN_DIR / RUN_PID).exists()

    stopped = make_stop()
    assert (stopped.returncode, stopped.stdout) == (0, f"stopped nothing (nothing was running) (instance {RUN_DIR})\n")


def wait_marked_gone(within_s: float = 10) -> list[str]:
    deadline = time.monotonic() + within_s
    while (left := marked_processes(RUN_DIR)) and time.monotonic() < deadline:
        time.sleep(0.5)
    described = []
    for process in left:
        try:
            described.append(f"{process.pid} {' '.join(process.cmdline())}")
        except psutil.Error:
            continue
    return described


def test_a_closed_terminal_stops_everything(tmp_path):
    """The terminal `make run` runs in is closed: SIGHUP, and every write to it fails from then on."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: `make run` in a terminal of its own
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "deploy.local.run"], run_env())
    seen = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    while b"Ctrl-C stops everything" not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")[-4000:]
        if select.select([terminal], [], [], 1)[0]:
            try:
                seen += os.read(terminal, 65536)
            except OSError:  # the child exited: its output so far says why
                pytest.fail(seen.decode(errors="replace")[-4000:])
    os.close(terminal)
    assert wait_free(ALL_PORTS, FREED_WITHIN_S) == []
    assert wait_marked_gone() == []
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
