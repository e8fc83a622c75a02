"""`make run`'s watchdog: when the supervisor dies without cleaning up, stop what it started.

    python -m deploy.local.watchdog --pid <supervisor pid> --root <instance folder>

Started by deploy/local/run.py in a session of its own, so the terminal's SIGHUP or SIGINT never
reaches it. It polls the supervisor; once that is gone (SIGKILL, OOM, a closed terminal it did not
survive) it takes the instance's run lock and stops the services, honcho, PostgreSQL and Kafka
(deploy/local/instance.py). A supervisor that stops cleanly ends its watchdog itself (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import psutil

from deploy.local.infra import LocalInfra
from deploy.local.instance import RUN_PID, read_pid, stop_leftovers, wait_lock

POLL_S = 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.watchdog")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s watchdog: %(message)s", stream=sys.stderr)
    log = logging.getLogger("deploy.local.watchdog")
    root = args.root.resolve()
    try:
        supervisor: psutil.Process | None = psutil.Process(args.pid)
    except psutil.NoSuchProcess:
        supervisor = None
    log.info("watching make run pid %s (instance %s)", args.pid, root)
    while supervisor is not None and supervisor.is_running() and supervisor.status() != psutil.STATUS_ZOMBIE:
        time.sleep(POLL_S)
    # A new `make run` of this instance may hold the lock already: it stops us (and what was left) itself.
    lock = wait_lock(root, timeout_s=None)
    try:
        current = read_pid(root / RUN_PID)
        if current not in (None, args.pid):
            log.info("run.pid names pid %s now, not ours: nothing to do", current)
            return 0
        log.info("make run pid %s is gone; stopping what it started", args.pid)
        stopped = stop_leftovers(root, LocalInfra.from_env(root=root, pg_durable=False))
        log.info("stopped: %s", ", ".join(stopped) or "nothing was left")
        return 0
    finally:
        if lock is not None:
            os.close(lock)


if __name__ == "__main__":
    sys.exit(main())
