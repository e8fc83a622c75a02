"""deploy/k8s: every manifest and both overlays' renders valid for Kubernetes 1.33 (kubernetes-validate,
strict), KEDA's objects against KEDA's own CRD schema, and the wiring the schemas cannot see: probes on
the services' ports, scaling bounded by the partitions `dd topics` makes, every variable one the
settings read, every Secret and ConfigMap a pod needs present in the dev overlay."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import os
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from services.evidence.settings import Settings as EvidenceSettings
from shared.kafka.consumer import topics_of
from tests.unit.deploy.manifests import (
    BLOB_FIELDS,
    KAFKA_AUTH_PARAMETERS,
    KAFKA_TRIGGER_METADATA,
    KUBERNETES_VERSION,
    KUSTOMIZE_VERSION,
    OVERLAYS,
    by_kind,
    documents,
    keda_schema,
    known_variables,
    kustomize_version,
    manifest_files,
    our_containers,
    render,
    settings_class,
    settings_of_command,
    topics_partitions,
)

CONSUMERS = ("ingest", "evidence", "deadline", "notify", "submit")
KEDA_KINDS = ("ScaledObject", "TriggerAuthentication")


def validate(doc: dict[str, Any]) -> None:
    if doc["kind"] in KEDA_KINDS:
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        assert set(doc["metadata"]) <= {"name", "namespace", "labels", "annotations"}, doc["metadata"]
        jsonschema.validate({k: v for k, v in doc.items() if k not in ("metadata",)}, keda_schema(doc["kind"]))
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomize_is_the_pinned_release():
    assert KUSTOMIZE_VERSION in kustomize_version()


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(p.parents[2])))
def test_every_manifest_file_is_valid(path):
    docs = documents(path)
    assert docs
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_document_is_valid(overlay):
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "ScaledObject", "Job", "ConfigMap"} <= kinds
    for doc in docs:
        validate(doc)
        assert doc["metadata"].get("namespace") or doc["kind"] == "Namespace", doc["metadata"]["name"]


def test_the_strict_schemas_refuse_what_kubernetes_would_prune_or_refuse():
    """The checks above can fail: a misspelt field of a ScaledObject and of a Deployment are caught."""
    scaled = dict(by_kind(render("dev"), "ScaledObject")["dd-evidence"])
    wrong = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 6}}
    with pytest.raises(jsonschema.ValidationError, match="maxReplicas"):
        validate(wrong)
    deployment = by_kind(render("dev"), "Deployment")["dd-evidence"]
    wrong = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong)


# --------------------------------------------------------------------------- the services' workloads


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", CONSUMERS)
def test_each_service_has_its_deployment_service_and_disruption_budget(overlay, service):
    docs = render(overlay)
    name = f"dd-{service}"
    deployment = by_kind(docs, "Deployment")[name]
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["args"] == ["python", "-m", f"services.{service}", "serve"]
    port = settings_class(service)().port
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"} and set(resources["limits"]) == {"cpu", "memory"}
    # The pause before SIGTERM, then time for the HTTP drain and the consumer's last commit.
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep" and 1 <= int(pause[1])
    assert spec["terminationGracePeriodSeconds"] >= int(pause[1]) + 10 + 5 + 3
    assert "replicas" not in deployment["spec"]  # KEDA's
    security = spec["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp"}

    labels = pod["metadata"]["labels"]
    service_doc = by_kind(docs, "Service")[name]
    assert service_doc["spec"]["selector"].items() <= labels.items()
    assert service_doc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
    budget = by_kind(docs, "PodDisruptionBudget")[name]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] == 1


def test_every_command_of_our_image_names_a_real_module():
    for overlay in OVERLAYS:
        for doc in render(overlay):
            for container in our_containers(doc):
                command = container["args"]
                if command[:2] == ["python", "-m"]:
                    spec = importlib.util.find_spec(command[2])
                    assert spec is not None, command
                    if spec.submodule_search_locations:  # a package: run through its __main__
                        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None, command
                else:
                    assert command[0] == "dd", command
                settings_of_command(command)  # known to the env check below


# --------------------------------------------------------------------------- scaling


def init_job_partitions(docs) -> int:
    job = by_kind(docs, "Job")["dd-init"]
    (topics,) = [c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == "topics"]
    return topics_partitions(topics["args"])


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", CONSUMERS)
def test_each_consumer_scales_on_its_groups_lag_up_to_its_topics_partitions(overlay, service):
    docs = render(overlay)
    main = importlib.import_module(f"services.{service}.main")
    assert topics_of(main.DEFINITION.handlers), f"{service} consumes nothing: it needs no ScaledObject"
    scaled = by_kind(docs, "ScaledObject")[f"dd-{service}"]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] in by_kind(docs, "Deployment")
    # Every topic the service consumes is made by the init Job with this many partitions; a replica
    # beyond them would get none of a topic's partitions.
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= init_job_partitions(docs)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert set(metadata) <= KAFKA_TRIGGER_METADATA, set(metadata) - KAFKA_TRIGGER_METADATA
    assert metadata["consumerGroup"] == settings_class(service)().consumer_group == f"dd-{service}"
    assert "topic" not in metadata  # the group's lag over all its topics
    assert int(metadata["lagThreshold"]) >= 1
    assert metadata["offsetResetPolicy"] == "earliest"  # as the consumers (auto_offset_reset)
    # The scaler reads the brokers the services use.
    assert metadata["bootstrapServers"] == by_kind(docs, "ConfigMap")["dd-common"]["data"]["DD_KAFKA_BOOTSTRAP_SERVERS"]


def test_production_reads_the_lag_over_sasl_ssl_with_a_trigger_authentication():
    docs = render("production")
    common = by_kind(docs, "ConfigMap")["dd-common"]["data"]
    assert common["DD_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert common["DD_DATABASE_SSL_MODE"] == "verify-full"
    auths = by_kind(docs, "TriggerAuthentication")
    for scaled in by_kind(docs, "ScaledObject").values():
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["metadata"]["tls"] == "enable"
        assert trigger["metadata"]["sasl"] == {"SCRAM-SHA-512": "scram_sha512"}[common["DD_KAFKA_SASL_MECHANISM"]]
        auth = auths[trigger["authenticationRef"]["name"]]
        parameters = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
        assert parameters <= KAFKA_AUTH_PARAMETERS and {"username", "password", "ca"} <= parameters
    for deployment in by_kind(docs, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"] for e in container.get("env", [])}
        assert {"DD_KAFKA_SASL_USERNAME", "DD_KAFKA_SASL_PASSWORD"} <= env
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        assert {
            common["DD_KAFKA_SSL_CAFILE"].rsplit("/", 1)[0],
            common["DD_DATABASE_SSL_ROOT_CERT"].rsplit("/", 1)[0],
        } <= mounted
    # Nothing secret is made by the production overlay: the Secrets come from outside.
    assert not by_kind(docs, "Secret")


def test_the_dev_overlay_runs_the_simulator_and_its_own_infrastructure():
    docs = render("dev")
    deployments, sets = by_kind(docs, "Deployment"), by_kind(docs, "StatefulSet")
    assert "dd-portal-sim" in deployments and {"dd-kafka", "dd-postgres"} <= set(sets) and "dd-minio" in deployments
    data = by_kind(docs, "ConfigMap")
    assert data["dd-common"]["data"]["DD_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in by_kind(docs, "Service")
    assert data["dd-submit"]["data"]["DD_SUBMIT_PORTAL_URL"] == "http://dd-portal-sim:8099"
    # One broker: topics with one replica.
    job = by_kind(docs, "Job")["dd-init"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["--replication-factor", "1"]


# --------------------------------------------------------------------------- environment


def variables_of(container: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every variable a container gets, with where from; envFrom reads ConfigMaps only (a Secret's
    keys are not in the manifests, so they could not be checked)."""
    variables: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"envFrom a Secret hides its variables: {source}"
        name = source["configMapRef"]["name"]
        for key in config_maps[name].get("data") or {}:
            variables[key] = f"ConfigMap {name}"
    for item in container.get("env", []):
        variables[item["name"]] = "env"
    return variables


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_a_pod_gets_is_one_its_settings_read(overlay):
    docs = render(overlay)
    config_maps = by_kind(docs, "ConfigMap")
    seen = 0
    for doc in docs:
        for container in our_containers(doc):
            known = set().union(*map(known_variables, settings_of_command(container["args"])))
            for variable, source in variables_of(container, config_maps).items():
                seen += 1
                assert variable in known, f"{doc['metadata']['name']}/{container['name']}: {variable} ({source})"
    assert seen > 50


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", ("evidence", "submit"))
def test_evidence_and_submit_keep_their_blobs_in_s3(overlay, service):
    docs = render(overlay)
    (container,) = by_kind(docs, "Deployment")[f"dd-{service}"]["spec"]["template"]["spec"]["containers"]
    variables = variables_of(container, by_kind(docs, "ConfigMap"))
    assert {f"DD_{field.upper()}" for field in BLOB_FIELDS} - {"DD_BLOB_S3_PREFIX"} <= set(variables) | {
        "DD_BLOB_S3_ENDPOINT_URL",  # production: AWS S3 itself
        "DD_BLOB_S3_ALLOW_HTTP",
    }
    assert by_kind(docs, "ConfigMap")["dd-blobs"]["data"]["DD_BLOB_STORE"] == "s3"


def pod_environment(docs, container: dict[str, Any]) -> dict[str, str]:
    """The variables a container of the dev overlay gets, with the values of its ConfigMaps and Secrets."""
    config_maps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data") or {})
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            env[item["name"]] = item["value"]
        elif ref["key"] in secrets[ref["name"]].get("data", {}):
            env[item["name"]] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
    return env


def test_each_service_would_start_with_what_the_dev_overlay_gives_it(monkeypatch):
    """Its settings parse (types, bounds) and pass the checks a production start makes (DD_ENV is
    production there): no development secret, the S3 store's settings complete."""
    docs = render("dev")
    for name, deployment in by_kind(docs, "Deployment").items():
        for container in our_containers(deployment):
            service = container["args"][2].removeprefix("services.")
            env = pod_environment(docs, container)
            assert env["DD_ENV"] == "production"
            with monkeypatch.context() as patch:
                for variable in [v for v in os.environ if v.startswith("DD_")]:
                    patch.delenv(variable)
                for variable, value in env.items():
                    patch.setenv(variable, value)
                settings = settings_class(service)()
                settings.ensure_safe_to_start()
                assert settings.kafka_bootstrap_servers == "dd-kafka:9092", name
                if service in ("evidence", "submit"):
                    assert settings.blob_store == "s3" and settings.blob_s3_endpoint_url == "http://dd-minio:9000"


def test_the_settings_check_would_catch_a_misspelt_variable():
    known = known_variables(EvidenceSettings)
    assert "DD_EVIDENCE_MAX_UPLOAD_BYTES" in known and "DD_KAFKA_BOOTSTRAP_SERVERS" in known
    assert "DD_EVIDENCE_MAX_UPLOAD_BYTE" not in known and "DD_INGEST_MAX_UPLOAD_BYTES" not in known


def test_every_secret_and_config_map_a_pod_needs_is_in_the_dev_overlay():
    docs = render("dev")
    secrets, config_maps = by_kind(docs, "Secret"), by_kind(docs, "ConfigMap")
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    assert ref["key"] in secrets[ref["name"]].get("data", {}), (doc["metadata"]["name"], ref)
