"""deploy/compose.yaml, read as Docker Compose reads it (YAML with merge keys, `${VAR:-default}`):
start order by conditions, a health check on everything that stays up, our image's commands real
modules, every variable one the settings read and the services' ports theirs."""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Any

import pytest
import yaml

from shared.settings import UnsafeSettingsError
from tests.unit.deploy.manifests import (
    COMPOSE,
    REPO,
    known_variables,
    settings_class,
    settings_of_command,
    topics_partitions,
)

# Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}; $$ is a literal $.
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}")


def interpolate(value: Any, given: dict[str, str]) -> Any:
    """What compose substitutes with `given` set in its environment: their values, else each default."""
    if isinstance(value, str):
        return INTERPOLATION.sub(lambda m: given.get(m.group(1), m.group(2) or ""), value).replace("$$", "$")
    if isinstance(value, dict):
        return {k: interpolate(v, given) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, given) for v in value]
    return value


def yaml_compose(**given: str | None) -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), {k: v for k, v in given.items() if v is not None})


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml_compose()


def ours(service: dict[str, Any]) -> bool:
    return "build" in service


def one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def test_our_image_is_built_from_the_repository_dockerfile(compose):
    mine = {name: s for name, s in compose["services"].items() if ours(s)}
    assert {"migrate", "topics", "ingest", "evidence", "deadline", "notify", "submit", "portal-sim"} <= set(mine)
    for service in mine.values():
        context = (COMPOSE.parent / service["build"]["context"]).resolve()
        assert context == REPO and (context / service["build"]["dockerfile"]).is_file()
        assert service["image"] == "dispute-desk:local"


def test_the_infrastructure_is_kafka_in_kraft_postgres_and_an_s3_server(compose):
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["minio"]["image"].startswith("minio/minio:")
    assert "mc mb --ignore-existing dd/dispute-desk" in services["buckets"]["command"][0]


def test_everything_that_stays_up_has_a_health_check_and_start_order_waits_on_conditions(compose):
    services = compose["services"]
    for name, service in services.items():
        if one_shot(service):
            assert "healthcheck" not in service, name
        else:
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            wanted = "service_completed_successfully" if one_shot(services[dependency]) else "service_healthy"
            assert how == {"condition": wanted}, (name, dependency, how)
    # Nothing of ours starts before the schemas and topics exist.
    for name, service in services.items():
        if ours(service) and not one_shot(service) and name != "portal-sim":
            assert {"migrate", "topics"} <= set(service["depends_on"]), name


def test_each_service_serves_on_its_port_and_is_checked_at_readyz(compose):
    for name, service in compose["services"].items():
        if not ours(service) or one_shot(service):
            continue
        command = service["command"]
        module = name.replace("-", "_")
        assert command == ["python", "-m", f"services.{module}", "serve"]
        port = settings_class(module)().port
        assert service["ports"] == [f"{port}:{port}"]
        assert service["healthcheck"]["test"] == [
            "CMD",
            "python",
            "-m",
            "deploy.healthcheck",
            f"http://127.0.0.1:{port}/readyz",
        ]


def test_every_command_of_our_image_is_a_real_module(compose):
    for name, service in compose["services"].items():
        if not ours(service):
            continue
        command = service["command"]
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, (name, command)
        for healthcheck in [service.get("healthcheck", {}).get("test", [])]:
            if healthcheck[1:3] == ["python", "-m"]:
                assert importlib.util.find_spec(healthcheck[3]) is not None, (name, healthcheck)


def test_every_variable_is_one_the_settings_read(compose):
    for name, service in compose["services"].items():
        if ours(service):
            known = set().union(*map(known_variables, settings_of_command(service["command"])))
            for variable in service.get("environment", {}):
                assert variable in known, f"{name}: {variable}"


def services_environment(service: dict[str, Any], monkeypatch, **overrides: str) -> None:
    for variable in [v for v in os.environ if v.startswith("DD_")]:
        monkeypatch.delenv(variable)
    for variable, value in {**service["environment"], **overrides}.items():
        monkeypatch.setenv(variable, str(value))


def test_each_service_starts_with_the_defaults_and_refuses_them_in_production(monkeypatch):
    """`docker compose up` as it is: a local run. With DD_ENV=production and no secrets given, every
    service refuses to start (the development secrets) rather than run with them."""
    for name, service in yaml_compose(DD_ENV=None)["services"].items():
        if not ours(service) or one_shot(service):
            continue
        settings_cls = settings_class(name.replace("-", "_"))
        with monkeypatch.context() as patch:
            services_environment(service, patch)
            settings = settings_cls()
            settings.ensure_safe_to_start()
            if name in ("evidence", "submit"):
                assert settings.blob_store == "s3" and settings.blob_s3_endpoint_url == "http://minio:9000"
        with monkeypatch.context() as patch:
            services_environment(yaml_compose(DD_ENV="production")["services"][name], patch)
            with pytest.raises(UnsafeSettingsError, match="DD_AUTH_SECRET"):
                settings_cls().ensure_safe_to_start()


def test_the_services_log_in_as_their_roles_and_migrate_as_the_owner(compose):
    services = compose["services"]
    migrate = services["migrate"]["environment"]
    assert "@postgres:5432/dispute_desk" in migrate["DD_BOOTSTRAP_ADMIN_DATABASE_URL"]
    assert migrate["DD_MIGRATION_DATABASE_URL"].startswith("postgresql+asyncpg://dd_owner:")
    for name in ("ingest", "evidence", "deadline", "notify", "submit"):
        url = services[name]["environment"][f"DD_{name.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql+asyncpg://dd_{name}:")
        assert url == migrate[f"DD_{name.upper()}_DATABASE_URL"]  # the password bootstrap sets is the one used


def test_peers_are_reached_by_their_compose_names(compose):
    services = compose["services"]
    for name, service in services.items():
        for value in (service.get("environment") or {}).values():
            for host, port in re.findall(r"https?://([a-z0-9-]+):(\d+)", str(value)):
                if host == "localhost":
                    continue  # a link the user's browser opens
                assert host in services, (name, value)
                if ours(services[host]):
                    assert int(port) == settings_class(host.replace("-", "_"))().port, (name, value)


def test_the_topics_job_makes_the_partitions(compose):
    assert topics_partitions(compose["services"]["topics"]["command"]) == 6
