"""What postgres.py, kafka.py and infra.py share: paths, the start timeout, and pid, port and lock helpers."""

from __future__ import annotations

import fcntl
import logging
import os
import shlex
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Every module of the local infra logs under this one name (as when it was a single module).
log = logging.getLogger("deploy.local.infra")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
READY_TIMEOUT_S = 60.0


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


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_port_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int] | None:
    """Linux's range of ports handed to outgoing connections (32768-60999 by default), if known."""
    try:
        low, high = path.read_text().split()[:2]
        return int(low), int(high)
    except (OSError, ValueError):
        return None


def port_taken_message(
    port: int, what: str, env_name: str, *, ephemeral: tuple[int, int] | None, owner: str = ""
) -> str:
    """Why `port` cannot be used, and what to do about it."""
    message = (
        f"port {port} ({what}) is taken by a process that is not this instance's server;"
        f" stop it or choose another port with {env_name}."
    )
    if ephemeral and ephemeral[0] <= port <= ephemeral[1]:
        # A client retrying connect() to a stopped server's port can be given that very port as
        # its own source port and connect to itself (TCP simultaneous open), holding it for good.
        message += (
            f" Port {port} lies in this machine's ephemeral port range {ephemeral[0]}-{ephemeral[1]}"
            f" (/proc/sys/net/ipv4/ip_local_port_range): a client reconnecting to it may have connected"
            f" to itself (look for 127.0.0.1:{port} <-> 127.0.0.1:{port} below). Stop that client,"
            f" or use a port below {ephemeral[0]}."
        )
    return message + (f"\n  {owner}" if owner else "")


def _require_free(port: int, what: str, env_name: str) -> None:
    if _port_free(port):
        return
    owner = ""
    if shutil.which("ss"):  # listeners and connections using the port, with their processes
        cmd = ["ss", "-Htanp", f"( sport = :{port} or dport = :{port} )"]
        owner = "\n  ".join(subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[:5])
    raise RuntimeError(port_taken_message(port, what, env_name, ephemeral=ephemeral_port_range(), owner=owner))


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
    proc: subprocess.CompletedProcess[str] = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({shlex.join(cmd)}):\n{proc.stdout}{proc.stderr}")
    return proc
