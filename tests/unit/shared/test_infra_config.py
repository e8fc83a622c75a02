"""deploy/local/infra.py, kafka.py and postgres.py without starting anything: configuration and rendered files."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from deploy.local import infra, kafka
from deploy.local._proc import ephemeral_port_range, port_taken_message
from deploy.local.infra import LocalInfra
from deploy.local.postgres import render_postgres_conf
from shared.settings import ServiceSettings

ENV_NAMES = ["DIR", "PG_PORT", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "KAFKA_HEAP", "PG_DURABLE"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in ("DD_LOCAL_", "DD_X_"):
        for name in ENV_NAMES:
            monkeypatch.delenv(prefix + name, raising=False)


def test_defaults() -> None:
    local = LocalInfra.from_env()
    assert local.root == infra.REPO / ".local" / "dev"
    assert (local.pg_port, local.kafka_port, local.kafka_controller_port) == (15432, 19092, 19093)
    assert local.kafka_heap == "512m"
    assert local.pg_durable is True


def test_default_ports_of_every_instance_lie_below_the_ephemeral_range() -> None:
    # Test and bench instances pass their defaults to from_env in these two files.
    sources = [(infra.REPO / "tests" / "infra.py").read_text(), (infra.REPO / "bench" / "backbone.py").read_text()]
    ports = [int(p) for text in sources for p in re.findall(r"port=(\d+)", text)]
    dev = LocalInfra(root=Path("/x"))
    ports += [dev.pg_port, dev.kafka_port, dev.kafka_controller_port]
    fields = ServiceSettings.model_fields  # the defaults, whatever this shell exports
    ports += [urlsplit(fields["database_url"].default).port, int(fields["kafka_bootstrap_servers"].default[-5:])]
    assert len(ports) == 11 and all(p < 32768 for p in ports), ports


def test_dev_instance_may_be_fast_and_the_environment_can_choose(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LocalInfra.from_env(pg_durable=False).pg_durable is False
    monkeypatch.setenv("DD_LOCAL_PG_DURABLE", "true")
    assert LocalInfra.from_env(pg_durable=False).pg_durable is True
    monkeypatch.setenv("DD_LOCAL_PG_DURABLE", "maybe")
    with pytest.raises(ValueError, match="PG_DURABLE"):
        LocalInfra.from_env()


def test_from_env_reads_ports_dir_and_heap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DD_LOCAL_DIR", str(tmp_path / "inst"))
    monkeypatch.setenv("DD_LOCAL_PG_PORT", "55999")
    monkeypatch.setenv("DD_LOCAL_KAFKA_PORT", "59992")
    monkeypatch.setenv("DD_LOCAL_KAFKA_CONTROLLER_PORT", "59993")
    monkeypatch.setenv("DD_LOCAL_KAFKA_HEAP", "1g")
    local = LocalInfra.from_env()
    assert local == LocalInfra(root=tmp_path / "inst", pg_port=55999, kafka_port=59992,
                               kafka_controller_port=59993, kafka_heap="1g")  # fmt: skip


def test_from_env_prefix_and_relative_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_X_DIR", ".local/x")
    monkeypatch.setenv("DD_X_PG_PORT", "1234")
    monkeypatch.setenv("DD_LOCAL_PG_PORT", "9999")  # another prefix: ignored
    local = LocalInfra.from_env(prefix="DD_X_")
    assert local.root == infra.REPO / ".local" / "x"  # relative to the repo, not the cwd
    assert local.pg_port == 1234


def test_instance_defaults_fill_only_what_the_environment_leaves_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_T_KAFKA_PORT", "40001")
    local = LocalInfra.from_env(prefix="DD_T_", pg_port=40100, kafka_port=40101, kafka_controller_port=40102)
    # A partly set environment must not drop the instance back onto the dev ports.
    assert (local.pg_port, local.kafka_port, local.kafka_controller_port) == (40100, 40001, 40102)


def test_explicit_root_wins_over_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DD_LOCAL_DIR", str(tmp_path / "from-env"))
    assert LocalInfra.from_env(root=tmp_path / "given").root == tmp_path / "given"


@pytest.mark.parametrize(("name", "value"), [("PG_PORT", "abc"), ("KAFKA_HEAP", "lots")])
def test_from_env_rejects_garbage(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"DD_LOCAL_{name}", value)
    with pytest.raises(ValueError, match=f"DD_LOCAL_{name}|heap"):
        LocalInfra.from_env()


def test_root_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert LocalInfra(root=Path("rel")).root == tmp_path.resolve() / "rel"


def test_connection_strings() -> None:
    local = LocalInfra(root=Path("/x"), pg_port=55999, kafka_port=59992)
    assert local.database_url == "postgresql+asyncpg://postgres@127.0.0.1:55999/dispute_desk"
    assert local.kafka_bootstrap_servers == "127.0.0.1:59992"


def _properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_server_properties() -> None:
    props = _properties(kafka.render_server_properties(port=59992, controller_port=59993, data_dir=Path("/d/k")))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:59993"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:59992,CONTROLLER://127.0.0.1:59993"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:59992"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert set(props["listener.security.protocol.map"].split(",")) == {"CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"}
    assert props["log.dirs"] == "/d/k"
    assert props["auto.create.topics.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.partitions"] == props["offsets.topic.num.partitions"] == "6"
    assert props["group.coordinator.append.linger.ms"] == "0"  # offset commits answer without a 5 ms linger


def test_postgres_conf_is_durable_unless_asked_otherwise() -> None:
    conf = render_postgres_conf(port=15999)
    assert "port = 15999" in conf
    assert "listen_addresses = '127.0.0.1'" in conf
    for setting in ("fsync = on", "synchronous_commit = on", "full_page_writes = on", "max_connections = 200"):
        assert setting in conf
    fast = render_postgres_conf(port=15999, durable=False)
    for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
        assert setting in fast


def test_ephemeral_port_range_is_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "range").write_text("32768\t60999\n")
    assert ephemeral_port_range(tmp_path / "range") == (32768, 60999)
    assert ephemeral_port_range(tmp_path / "missing") is None


def test_taken_port_inside_the_ephemeral_range_is_explained_as_a_possible_self_connection() -> None:
    message = port_taken_message(59092, "Kafka", "DD_LOCAL_KAFKA_PORT", ephemeral=(32768, 60999), owner="ESTAB ...")
    assert "port 59092 (Kafka) is taken" in message and "DD_LOCAL_KAFKA_PORT" in message
    assert "ephemeral port range 32768-60999" in message
    assert "connected to itself" in message and "below 32768" in message
    assert message.endswith("\n  ESTAB ...")


def test_taken_port_outside_the_ephemeral_range_says_nothing_of_self_connections() -> None:
    message = port_taken_message(19092, "Kafka", "DD_LOCAL_KAFKA_PORT", ephemeral=(32768, 60999))
    assert "port 19092 (Kafka) is taken" in message
    assert "itself" not in message


def test_kafka_version_is_read_from_the_pom() -> None:
    version = kafka.kafka_version()
    assert version.count(".") == 2 and version.startswith("4.")


def test_pom_pins_slf4j_2() -> None:
    # Without the pin Maven picks slf4j-api 1.7.x and Kafka's logs silently go nowhere.
    assert "<artifactId>slf4j-api</artifactId>" in kafka.POM.read_text()


@pytest.mark.parametrize(("heap", "half"), [("512m", "256m"), ("1g", "512m"), ("2G", "1024m"), ("65536k", "32m")])
def test_half_heap(heap: str, half: str) -> None:
    assert kafka.half_heap(heap) == half


def test_cluster_id_shape() -> None:
    for _ in range(200):
        cid = kafka.new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_destroy_refuses_shared_folders() -> None:
    for folder in (infra.REPO, infra.REPO / ".local"):
        with pytest.raises(RuntimeError, match="refusing"):
            LocalInfra(root=folder).destroy()
