"""`make run`'s port check messages (deploy/local/ports.py): one line, the holder, the variable, `make stop`."""

from __future__ import annotations

import socket
from pathlib import Path

from deploy.local.infra import LocalInfra
from deploy.local.ports import Holder, PlannedPort, checkout_of, planned_ports, port_problems, taken_message
from deploy.local.system import SystemPorts

REPO = Path("/home/me/dispute-desk")
INGEST = PlannedPort(8001, "ingest", "DD_INGEST_PORT")


def test_a_stranger_holding_a_port_is_named_with_its_folder_and_the_variable(tmp_path):
    (tmp_path / ".git").mkdir()
    holder = Holder(pid=4242, command="nginx: master\nprocess", cwd=str(tmp_path / "sub"), run_instance=None)
    line = taken_message(INGEST, holder, repo=REPO, ephemeral=(32768, 60999))
    assert line == (
        f"port 8001 (ingest) is taken by pid 4242 (nginx: master process) in {tmp_path}:"
        " stop it, or set DD_INGEST_PORT to a free port."
    )


def test_a_leftover_make_run_of_this_checkout_says_make_stop_with_its_folder():
    holder = Holder(pid=7, command="python -m services.ingest serve", cwd=None, run_instance=str(REPO / ".local/dev"))
    line = taken_message(INGEST, holder, repo=REPO, ephemeral=None)
    assert "left by `make run` of this checkout: `make stop` stops it, or set DD_INGEST_PORT" in line
    other = Holder(pid=7, command="x", cwd=None, run_instance=str(REPO / ".local/qs"))
    assert "`DD_LOCAL_DIR=.local/qs make stop` stops it" in taken_message(INGEST, other, repo=REPO, ephemeral=None)


def test_an_unseen_holder_and_a_port_in_the_ephemeral_range_are_still_one_line():
    use = PlannedPort(40000, "PostgreSQL", "DD_LOCAL_PG_PORT")
    line = taken_message(use, None, repo=REPO, ephemeral=(32768, 60999))
    assert "\n" not in line
    assert line.startswith("port 40000 (PostgreSQL) is taken by a process this user cannot see; stop it, or set ")
    assert "ephemeral range 32768-60999" in line and "below 32768" in line


def test_every_port_is_planned_with_its_own_variable():
    infra = LocalInfra(root=Path("/tmp/x"), pg_port=1, kafka_port=2, kafka_controller_port=3)
    variables = [use.variable for use in planned_ports(SystemPorts(), infra)]
    assert variables == [
        "DD_INGEST_PORT",
        "DD_EVIDENCE_PORT",
        "DD_DEADLINE_PORT",
        "DD_NOTIFY_PORT",
        "DD_SUBMIT_PORT",
        "DD_PORTAL_SIM_PORT",
        "DD_LOCAL_PG_PORT",
        "DD_LOCAL_KAFKA_PORT",
        "DD_LOCAL_KAFKA_CONTROLLER_PORT",
    ]


def test_a_port_named_twice_and_a_taken_port_are_each_a_problem():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        problems = port_problems(
            [
                PlannedPort(port, "ingest", "DD_INGEST_PORT"),
                PlannedPort(port, "PostgreSQL", "DD_LOCAL_PG_PORT"),
            ]
        )
    assert len(problems) == 2
    assert problems[0].startswith(f"port {port} (ingest) is taken by pid ")
    assert problems[1] == (
        f"port {port} is named twice, for ingest (DD_INGEST_PORT) and for PostgreSQL (DD_LOCAL_PG_PORT);"
        " set one of them to another port."
    )


def test_the_checkout_of_a_folder_is_the_nearest_with_git(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / ".local" / "dev").mkdir(parents=True)
    assert checkout_of(str(tmp_path / "repo" / ".local" / "dev")) == tmp_path / "repo"
    assert checkout_of("/") is None or (Path("/") / ".git").exists()
