"""The local single-node Kafka (KRaft) of one instance: `<root>/kafka/` and `<root>/kafka.pid`.

Jars are resolved once by Maven from `deploy/local/pom.xml` into `<repo>/.local/cache`, shared
by every instance.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deploy.local._proc import (
    HERE,
    READY_TIMEOUT_S,
    REPO,
    _alive,
    _cmdline,
    _locked,
    _port_open,
    _require_free,
    _run,
    _tail,
    log,
)

POM = HERE / "pom.xml"
LOG4J2 = HERE / "log4j2.properties"
CACHE = REPO / ".local" / "cache"
KAFKA_STOP_TIMEOUT_S = 20.0


# ---------------------------------------------------------------- pure helpers (unit-tested)


def render_server_properties(*, port: int, controller_port: int, data_dir: Path) -> str:
    """Kafka config for one combined broker+controller node, tuned for fast tests."""
    return f"""\
# Written by deploy/local/kafka.py on every start: edit that file, not this one.
process.roles=broker,controller
node.id=1
# Static quorum of one voter (so `StorageTool format` needs no --standalone).
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=6
# Topics are created on purpose by the services, never by a typo.
auto.create.topics.enable=false
# One node: every internal topic has one replica. Six offset partitions instead of 50
# make the first consumer-group join much faster.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests start consumers and expect them to get partitions now, not after 3 s.
group.initial.rebalance.delay.ms=0
# After a kill -9 the restarted broker may only register once its previous session has
# expired (9 s by default). Broker and controller share one JVM, so a short session
# cannot cause spurious fencing: a GC pause stops both.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2000
# Kafka 4's group coordinator batches offset-commit writes for 5 ms by default; that linger
# is most of a consumer's per-batch latency on an idle node.
group.coordinator.append.linger.ms=0
"""


def kafka_version(pom: Path = POM) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise RuntimeError(f"{pom} has no <kafka.version> property")
    return node.text.strip()


def half_heap(heap: str) -> str:
    """'512m' -> '256m', '1g' -> '512m': the JVM starts at half its maximum heap."""
    units = {"k": 1 / 1024, "m": 1, "g": 1024}
    unit = heap[-1].lower()
    if unit not in units or not heap[:-1].isdigit():
        raise ValueError(f"heap must look like 512m or 1g, got {heap!r}")
    return f"{max(16, int(int(heap[:-1]) * units[unit]) // 2)}m"


def new_cluster_id() -> str:
    """What `StorageTool random-uuid` prints (base64url UUIDv4, no padding), without a JVM start."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka rejects ids that would read like a CLI flag
            return cid


# ---------------------------------------------------------------- jars


def kafka_libs(pom: Path = POM, cache: Path = CACHE) -> Path:
    """The Kafka jar folder, resolved by Maven on first use and shared by every instance.

    Jars are copied into a temporary folder and renamed into place only when Maven succeeded,
    so an interrupted download is never taken for a complete one. A stamp holds the pom's
    hash: editing the pom re-resolves, anything else never runs Maven again.
    """
    base = cache / f"kafka-{kafka_version(pom)}"
    libs, stamp = base / "libs", base / "pom.sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()

    def ready() -> bool:
        return libs.is_dir() and stamp.exists() and stamp.read_text().strip() == digest

    if ready():
        return libs
    with _locked(base / ".lock"):  # every instance shares this cache
        if ready():
            return libs
        if not shutil.which("mvn"):
            raise RuntimeError("Maven (mvn) is needed once to download the Kafka jars")
        for leftover in base.glob("libs.*"):  # from a killed run; we hold the lock, none is live
            shutil.rmtree(leftover, ignore_errors=True)
        log.info("resolving Kafka %s jars with Maven into %s (first run only)", kafka_version(pom), libs)
        tmp = Path(tempfile.mkdtemp(prefix="libs.", dir=base))
        try:
            _run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={tmp}",
                    "-DincludeScope=runtime",
                ],
                "Maven",
            )
            stamp.unlink(missing_ok=True)
            shutil.rmtree(libs, ignore_errors=True)  # jars of an older pom
            tmp.rename(libs)
            stamp.write_text(digest + "\n")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return libs


# ---------------------------------------------------------------- the broker


@dataclass(frozen=True)
class Kafka:
    """The broker+controller of the instance folder `root` (absolute)."""

    root: Path
    port: int
    controller_port: int
    heap: str

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    def pid(self) -> int | None:
        """Pid of this instance's broker; removes a stale kafka.pid."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        cmd = _cmdline(pid)
        if _alive(pid) and "kafka.Kafka" in cmd and str(self.root / "kafka" / "server.properties") in cmd:
            return pid
        log.info("removing stale %s (pid %s is not our broker)", self.pid_file, pid)
        self.pid_file.unlink(missing_ok=True)
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        with _locked(self.root / ".kafka.lock"):
            self._start()

    def stop(self, *, kill: bool = False) -> None:
        """`kill`: SIGKILL, no controlled shutdown, as after a crash of the broker's machine."""
        if self.running():
            with _locked(self.root / ".kafka.lock"):
                self._stop(kill=kill)

    def _start(self) -> None:
        home = self.root / "kafka"
        data, logs, props = home / "data", home / "logs", home / "server.properties"
        pid = self.pid()
        if pid is None:
            for port, env_name in [
                (self.port, "DD_*_KAFKA_PORT"),
                (self.controller_port, "DD_*_KAFKA_CONTROLLER_PORT"),
            ]:
                _require_free(port, "Kafka", env_name)
            java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else "java"
            if not shutil.which(java):
                raise RuntimeError("Java 17+ is needed to run Kafka (set JAVA_HOME or put java on PATH)")
            classpath = f"{kafka_libs()}/*"
            logs.mkdir(parents=True, exist_ok=True)
            props.write_text(
                render_server_properties(port=self.port, controller_port=self.controller_port, data_dir=data)
            )
            jvm = [java, f"-Dlog4j2.configurationFile={LOG4J2}", f"-Dkafka.logs.dir={logs}", "-cp", classpath]
            if not (data / "meta.properties").exists():
                shutil.rmtree(data, ignore_errors=True)  # leftovers of an interrupted format
                log.info("formatting Kafka storage %s", data)
                _run(
                    [*jvm, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(props)],
                    "Kafka storage format",
                )
            with open(logs / "kafka.out", "ab") as out:  # JVM crashes and stray prints land here
                proc = subprocess.Popen(
                    [
                        jvm[0],
                        f"-Xmx{self.heap}",
                        f"-Xms{half_heap(self.heap)}",
                        "-XX:+ExitOnOutOfMemoryError",
                        "-Djava.awt.headless=true",
                        *jvm[1:],
                        "kafka.Kafka",
                        str(props),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=home,
                    start_new_session=True,
                )
            pid = proc.pid
            self.pid_file.write_text(f"{pid}\n")
        self._wait(pid, logs)

    def _wait(self, pid: int, logs: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not _alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise RuntimeError(f"Kafka exited during startup\n{_tail(logs / 'kafka.out', logs / 'server.log')}")
            if _port_open(self.port) and _kafka_answers(self.bootstrap_servers):
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"Kafka (pid {pid}) did not answer on {self.bootstrap_servers} within {READY_TIMEOUT_S:.0f} s\n"
            f"{_tail(logs / 'kafka.out', logs / 'server.log')}"
        )

    def _stop(self, *, kill: bool = False) -> None:
        pid = self.pid()
        if pid is None:
            return
        # SIGTERM is the controlled shutdown: it flushes logs and checkpoints.
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + KAFKA_STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            log.warning("Kafka (pid %s) ignored SIGTERM for %.0f s; killing it", pid, KAFKA_STOP_TIMEOUT_S)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)


def _kafka_answers(bootstrap: str) -> bool:
    """True once a metadata request lists a broker (an open port alone is not enough)."""

    async def probe() -> bool:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 10)
            return bool((await asyncio.wait_for(admin.describe_cluster(), 10)).get("brokers"))
        finally:
            await admin.close()

    # A thread of its own gets its own event loop, so up() also works from async fixtures.
    with ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(asyncio.run, probe()).result()
        except Exception:
            return False
